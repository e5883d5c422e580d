"""Channel-wise (transposed) self-attention (Sec. 3.1: "channel-wise self-attention ... inter-sub-band
correlation"; App. C; Algorithm 1 lines 15-22).

The paper does not specify the form; we use Restormer's multi-Dconv head transposed attention (MDTA,
Zamir et al. 2022): queries, keys and values come from a 1x1 conv followed by a 3x3 depthwise conv; the
attention map is ``C/h x C/h`` per head (channels attend to channels, so the cost is linear in the number
of pixels), computed from L2-normalised q, k with a learnable temperature tau:
``A = Softmax(tau * q_hat k_hat^T)``, ``out = A v``. After the DWT the channels *are* the sub-bands, so
this mixes information across sub-bands, while :mod:`.window_attention` works within them.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from .norm import LayerNorm2d


def transposed_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                         temperature: torch.Tensor) -> torch.Tensor:
    """``q, k, v [B, heads, c, P]`` (c channels per head, P pixels), ``temperature [heads, 1, 1]``
    -> ``[B, heads, c, P]``. The ``c x c`` map ``Softmax(tau * norm(q) norm(k)^T)`` sums over pixels, so it
    is invariant to any permutation of the pixels (and the output permutes with them)."""
    q = F.normalize(q, dim=-1)
    k = F.normalize(k, dim=-1)
    attn = (q @ k.transpose(-2, -1)) * temperature
    return attn.softmax(dim=-1) @ v


class ChannelAttention(nn.Module):
    """MDTA: ``[B, C, H, W] -> [B, C, H, W]`` (no residual; see :class:`ChannelAttentionBlock`)."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        if dim % heads:
            raise ValueError(f"ChannelAttention: dim {dim} is not divisible by heads {heads}.")
        self.heads = heads
        self.temperature = nn.Parameter(torch.ones(heads, 1, 1))
        self.qkv = nn.Conv2d(dim, 3 * dim, 1)
        self.qkv_dw = nn.Conv2d(3 * dim, 3 * dim, 3, padding=1, groups=3 * dim)
        self.proj = nn.Conv2d(dim, dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x.shape[-2]
        q, k, v = rearrange(self.qkv_dw(self.qkv(x)), "b (three m c) h w -> three b m c (h w)", three=3, m=self.heads)
        out = transposed_attention(q, k, v, self.temperature)            # [B, heads, C/heads, h*w]
        return self.proj(rearrange(out, "b m c (h w) -> b (m c) h w", h=h))


class ChannelAttentionBlock(nn.Module):
    """``x + MDTA(LN(x))``, then ``x + FFN(LN(x))`` with a 1x1-conv GELU FFN (Restormer's block, simplified)."""

    def __init__(self, dim: int, heads: int, ffn_ratio: float = 2.0):
        super().__init__()
        self.norm1 = LayerNorm2d(dim)
        self.attn = ChannelAttention(dim, heads)
        self.norm2 = LayerNorm2d(dim)
        hidden = int(dim * ffn_ratio)
        self.ffn = nn.Sequential(nn.Conv2d(dim, hidden, 1), nn.GELU(), nn.Conv2d(hidden, dim, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.ffn(self.norm2(x))
