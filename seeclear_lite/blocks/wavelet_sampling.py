"""Wavelet-based downsample and upsample inside the U-Net (App. C; Algorithm 1 lines 21-22 and 32-33).

Downsample: a Haar DWT of the feature map; the LL band goes on to the next (coarser) level, the three high
bands LH, HL, HH are pushed to a skip. Upsample: an IDWT that puts those high bands back, so the decoder
does not have to re-invent the detail the encoder saw. This is WaveDiff's design (the U-Net SeeClear's
Table 4 compares against): the LL band is halved on the way down (``LL / 2`` is the 2x2 average, keeping
the feature scale) and doubled on the way up, so ``up(down(f)) == f`` exactly at initialisation.
"""

from __future__ import annotations

import torch
from torch import nn

from ..wavelet import dwt2, idwt2, split_bands


class WaveletDownsample(nn.Module):
    """``f [B, C, H, W] -> (LL / 2 [B, C, H/2, W/2], highs [B, 3C, H/2, W/2])`` (no parameters)."""

    def forward(self, f: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        ll, highs = split_bands(dwt2(f))
        return ll * 0.5, highs


class WaveletUpsample(nn.Module):
    """``(f [B, in_ch, h, w], highs [B, 3C, h, w]) -> [B, C, 2h, 2w]`` = ``IDWT([2 proj(f), highs + fuse(highs)])``.

    ``proj`` is a 1x1 conv when ``in_ch != C`` (the coarser level is wider); ``fuse`` is a band-wise
    (groups=3) 3x3 conv, zero-initialised, that lets the network adapt the skipped high bands.
    """

    def __init__(self, in_ch: int, ch: int):
        super().__init__()
        self.in_ch, self.ch = in_ch, ch
        self.proj = nn.Identity() if in_ch == ch else nn.Conv2d(in_ch, ch, 1)
        self.fuse = nn.Conv2d(3 * ch, 3 * ch, 3, padding=1, groups=3)
        nn.init.zeros_(self.fuse.weight)
        nn.init.zeros_(self.fuse.bias)

    def forward(self, f: torch.Tensor, highs: torch.Tensor) -> torch.Tensor:
        if highs.shape[1] != 3 * self.ch:
            raise ValueError(f"WaveletUpsample expects {3 * self.ch} high-band channels, got {highs.shape[1]}.")
        ll = 2.0 * self.proj(f)
        return idwt2(torch.cat([ll, highs + self.fuse(highs)], dim=1))
