"""Spatial modulation by the segmentation features: G (Eqs. 10–11).

    (γ, β) = G(P_i)                    (Eq. 10)
    F_i    = (f_i ⊙ γ + β) + f_i       (Eq. 11)

G is "two convolutional layers followed by a ReLU". We read it, as in SFT-GAN's SFT layer, as
conv → ReLU → conv: a ReLU *after* the last conv would force γ, β ≥ 0, so the bias could never subtract
and the scale could never shrink a feature. Kernel sizes are not given; the default is 3×3 for the first
conv (a little spatial context of P) and 1×1 for the second (per-pixel γ, β, as SFT's 1×1 convs), which
keeps G small at wide levels. P is resized to the feature map's size first (the
distiller's h', w' need not match any level of the condenser).
"""

from __future__ import annotations

import torch
from torch import nn

from ._cond import clip_shape, require, resize_seg


class SemanticModulation(nn.Module):
    """G: P [c] -> (γ, β) [C each]; ``forward(f, cond)`` applies Eq. 11 to f [B·N, C, h, w]."""

    def __init__(self, channels: int, seg_channels: int, hidden: int = 64, kernels: tuple = (3, 1)):
        super().__init__()
        self.channels, self.seg_channels = channels, seg_channels
        k1, k2 = kernels
        self.conv1 = nn.Conv2d(seg_channels, hidden, k1, padding=k1 // 2)
        self.act = nn.ReLU()
        self.conv2 = nn.Conv2d(hidden, 2 * channels, k2, padding=k2 // 2)

    def gamma_beta(self, seg: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Eq. 10 on P [B·N, c, h, w] (already at the feature size)."""
        if seg.shape[1] != self.seg_channels:
            raise ValueError(f"P has {seg.shape[1]} channels but G was built for seg_channels="
                             f"{self.seg_channels}; use the distiller's c.")
        gamma, beta = self.conv2(self.act(self.conv1(seg))).chunk(2, dim=1)
        return gamma, beta

    def forward(self, f: torch.Tensor, cond) -> torch.Tensor:
        B, N = clip_shape(f, cond)
        seg = require(cond, "seg", B, N, 5, "SemanticModulation")
        seg = resize_seg(seg.flatten(0, 1).to(f), f.shape[-2:])
        gamma, beta = self.gamma_beta(seg)
        return (f * gamma + beta) + f                                   # Eq. 11
