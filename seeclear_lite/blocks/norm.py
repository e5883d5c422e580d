"""Normalisation layers for [B, C, H, W] feature maps used by the Pixel Condenser's blocks."""

from __future__ import annotations

import math

import torch
from torch import nn


def group_norm(channels: int, max_groups: int = 32) -> nn.GroupNorm:
    """GroupNorm with the largest group count <= ``max_groups`` that divides ``channels``."""
    return nn.GroupNorm(math.gcd(max_groups, channels), channels, eps=1e-6)


class LayerNorm2d(nn.Module):
    """LayerNorm over the channel dim at each pixel of a ``[B, C, H, W]`` map (as Restormer does)."""

    def __init__(self, channels: int, eps: float = 1e-6):
        super().__init__()
        self.norm = nn.LayerNorm(channels, eps=eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
