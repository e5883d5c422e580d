"""The parallel LR pyramid (App. C; Algorithm 1 line 16): the (upsampled) LR frames are wavelet-
downsampled alongside the encoder and concatenated at encoder levels 2-4, so every level sees the
condition at its own resolution.

As WaveDiff's ``progressive_input='residual'`` path: each step is a Haar DWT of the previous pyramid map
(all four bands kept along channels, halved like the downsample's LL) followed by a 3x3 conv to
``out_ch`` channels: ``p_{l+1} = Conv3x3(DWT(p_l) / 2)``, ``p_1 = DWT(y)`` (the network's input bands).
"""

from __future__ import annotations

import torch
from torch import nn

from ..wavelet import dwt2


class LRPyramid(nn.Module):
    """``y_bands [B, in_ch, h, w] -> [p_2, ..., p_{steps+1}]``, ``p_l [B, out_ch, h / 2^(l-1), w / 2^(l-1)]``."""

    def __init__(self, in_ch: int, out_ch: int, steps: int = 3):
        super().__init__()
        self.in_ch = in_ch
        chans = [in_ch] + [out_ch] * steps
        self.convs = nn.ModuleList(nn.Conv2d(4 * chans[i], out_ch, 3, padding=1) for i in range(steps))

    def forward(self, y_bands: torch.Tensor) -> list[torch.Tensor]:
        if y_bands.shape[1] != self.in_ch:
            raise ValueError(f"LRPyramid expects {self.in_ch} channels, got {y_bands.shape[1]}.")
        out, p = [], y_bands
        for conv in self.convs:
            p = conv(dwt2(p) * 0.5)
            out.append(p)
        return out
