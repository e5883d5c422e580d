"""The Pixel Condenser's basic unit (Sec. 3.1, App. C, Algorithm 1 lines 15-28): "window-based
self-attention and channel-wise self-attention, alternating between two residual blocks":
    ResBlock(t) -> WindowAttentionBlock -> ResBlock(t) -> ChannelAttentionBlock

Used for every encoder level, middle block and decoder level.
"""

from __future__ import annotations

import torch
from torch import nn

from .channel_attention import ChannelAttentionBlock
from .resblock import ResBlock
from .window_attention import WindowAttentionBlock


class CondenserUnit(nn.Module):
    """``[B, in_ch, H, W], emb [B, emb_dim] -> [B, out_ch, H, W]``."""

    def __init__(self, in_ch: int, out_ch: int, emb_dim: int, heads: int, window: int, shift: bool = False,
                 mlp_ratio: float = 2.0, dropout: float = 0.0):
        super().__init__()
        self.res1 = ResBlock(in_ch, out_ch, emb_dim, dropout)
        self.spatial = WindowAttentionBlock(out_ch, heads, window, shift=shift, mlp_ratio=mlp_ratio)
        self.res2 = ResBlock(out_ch, out_ch, emb_dim, dropout)
        self.channel = ChannelAttentionBlock(out_ch, heads, ffn_ratio=mlp_ratio)

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        x = self.res1(x, emb)
        x = self.spatial(x)  # intra-sub-band correlation
        x = self.res2(x, emb)
        return self.channel(x)  # inter-sub-band correlation
