"""The Pixel Condenser: SeeClear's attention-based wavelet U-Net (Sec. 3.1, App. C, Fig. 8).

This module holds the U-Net's layers; :class:`seeclear_lite.models.SeeClear` runs them in Algorithm 1's order
with InCAM and CaTeGory in between. Frames of a clip ``[B, N, C, H, W]`` go through every 2-D layer as a
batch of B·N images, sub-bands of one Haar level (Eq. 7) along the channels.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..blocks import CondenserUnit, LRPyramid, TimestepEmbedding, WaveletDownsample, WaveletUpsample, group_norm
from ..config import ModelConfig


class PixelCondenser(nn.Module):
    """The U-Net's layers, named as in App. C.

    * ``time_embed``: the diffusion-step embedding;
    * ``conv_in``: ``Conv3x3(cat(DWT(x_t), DWT(y)))`` (App. C: the LR frames are concatenated with u_t);
    * ``lr_pyramid``: the wavelet-downsampled LR frames concatenated at encoder levels 2.. (line 16);
    * ``encoder[i]``, ``middle[j]``, ``decoder[k]``: :class:`~seeclear_lite.blocks.CondenserUnit` s (ResBlock(t),
      window attention, ResBlock(t), channel attention); ``down`` / ``ups[k]``: wavelet down / upsampling with
      the high bands as skips;
    * ``norm_out``, ``conv_out``: GroupNorm, SiLU, Conv3x3 to sub-bands, zero-initialised so that the untrained
      network returns the bicubic frames (x0_hat = y).
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.config = cfg
        widths, emb_dim, n_lev = cfg.widths, cfg.emb_dim, cfg.levels
        self.time_embed = TimestepEmbedding(cfg.channels, emb_dim)
        self.conv_in = nn.Conv2d(2 * cfg.band_channels, widths[0], 3, padding=1)
        self.lr_pyramid = LRPyramid(cfg.band_channels, cfg.lr_channels, steps=n_lev - 1)

        def unit(cin, cout, i):
            return CondenserUnit(cin, cout, emb_dim, cfg.heads(cout), cfg.window, shift=bool(i % 2),
                                 mlp_ratio=cfg.mlp_ratio, dropout=cfg.dropout)

        self.encoder = nn.ModuleList(unit(widths[0] if i == 0 else widths[i - 1] + cfg.lr_channels, w, i)
                                     for i, w in enumerate(widths))
        self.down = WaveletDownsample()
        self.middle = nn.ModuleList(unit(widths[-1], widths[-1], j) for j in range(cfg.middle_blocks))
        # decoder, deepest level first: level = n_lev - 1 - k
        self.ups = nn.ModuleList(WaveletUpsample(widths[lv + 1], widths[lv]) for lv in reversed(range(n_lev - 1)))
        self.decoder = nn.ModuleList(unit(2 * widths[lv], widths[lv], k) for k, lv in enumerate(reversed(range(n_lev))))
        self.norm_out = group_norm(widths[0])
        self.conv_out = nn.Conv2d(widths[0], cfg.band_channels, 3, padding=1)
        nn.init.zeros_(self.conv_out.weight)      # x0_hat == y at initialisation
        nn.init.zeros_(self.conv_out.bias)

    @property
    def decoder_widths(self) -> tuple:
        """Channels of each decoder level's output, deepest first (what CaTeGory reads)."""
        return tuple(self.config.widths[lv] for lv in reversed(range(self.config.levels)))

    def head(self, h: torch.Tensor) -> torch.Tensor:
        """The last layers: features of level 1 -> sub-bands of the x0 residual."""
        return self.conv_out(F.silu(self.norm_out(h)))
