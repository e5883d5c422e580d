"""Residual block with diffusion-step scale-shift (Sec. 3.1 / App. C: residual blocks that "infuse the
features with the intensity of degradation"; Algorithm 1, the blocks of lines 15-22).

The SeeClear paper does not give the block; we follow ResShift's ``ResBlock`` with
``use_scale_shift_norm``: ``h = conv(SiLU(GN(x)))``; ``(s, b) = Linear(SiLU(emb))``;
``h = GN(h) * (1 + s) + b``; ``h = conv(dropout(SiLU(h)))``; output ``skip(x) + h``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .norm import group_norm


class ResBlock(nn.Module):
    """``[B, in_ch, H, W], emb [B, emb_dim] -> [B, out_ch, H, W]`` (1x1 conv skip when channels change)."""

    def __init__(self, in_ch: int, out_ch: int, emb_dim: int, dropout: float = 0.0):
        super().__init__()
        self.in_ch, self.out_ch = in_ch, out_ch
        self.norm1 = group_norm(in_ch)
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, padding=1)
        self.emb_proj = nn.Sequential(nn.SiLU(), nn.Linear(emb_dim, 2 * out_ch))
        self.norm2 = group_norm(out_ch)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, padding=1)
        self.skip = nn.Identity() if in_ch == out_ch else nn.Conv2d(in_ch, out_ch, 1)

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        if x.shape[1] != self.in_ch:
            raise ValueError(f"ResBlock expects {self.in_ch} input channels, got {x.shape[1]}.")
        h = self.conv1(F.silu(self.norm1(x)))
        scale, shift = self.emb_proj(emb)[:, :, None, None].chunk(2, dim=1)
        h = self.norm2(h) * (1 + scale) + shift  # scale-shift norm: the step sets the feature statistics
        h = self.conv2(self.dropout(F.silu(h)))
        return self.skip(x) + h
