"""Semantic embedding by multi-head cross-attention (Eqs. 12–13).

    Q_i = F_i W^Q,  K_i = O_i W^K,  V_i = O_i W^V                    (Eq. 12)
    F̂_i = SoftMax(Q_i K_iᵀ / √d) V_i                                 (Eq. 13)

Every pixel of frame i (a query) reads from that frame's k semantic tokens O_i. We add what every
transformer block adds and the equations leave out: a LayerNorm on the queries, an output projection and
a residual connection, F̂_i = F_i + W^O · Attn(LN(F_i)), so the block starts near the identity and keeps
the pixel information that k tokens alone cannot carry.

``source="clip"`` makes the pixels read the clip tokens O_c instead (Algorithm 1 lines 28 and 36 write
CA(f, O_c, O_c), Eq. 12 writes O_i; the default follows the equation).
"""

from __future__ import annotations

import torch
from torch import nn

from ..blocks.attention import MultiHeadAttention
from ._cond import clip_shape, require


class SemanticCrossAttention(nn.Module):
    """F̂ = F + W^O·MHA(Q = LN(F) W^Q, K = O W^K, V = O W^V) on f [B·N, C, h, w] (Eqs. 12–13)."""

    def __init__(self, channels: int, token_dim: int, heads: int = 4, source: str = "frame"):
        super().__init__()
        if source not in ("frame", "clip"):
            raise ValueError(f"source must be 'frame' (O_i, Eq. 12) or 'clip' (O_c, Alg. 1), got {source!r}.")
        self.source = source
        self.norm = nn.LayerNorm(channels)
        self.attn = MultiHeadAttention(channels, heads, ctx_dim=token_dim)

    def context(self, cond, B: int, N: int) -> torch.Tensor:
        """The keys/values' tokens for each of the B·N images: O_i [B·N, k, d] or O_c repeated [B·N, K, d]."""
        if self.source == "frame":
            return require(cond, "tokens", B, N, 4, "SemanticCrossAttention").flatten(0, 1)
        oc = require(cond, "clip_tokens", B, None, 3, "SemanticCrossAttention(source='clip')")
        return oc.repeat_interleave(N, dim=0)

    def forward(self, f: torch.Tensor, cond) -> torch.Tensor:
        B, N = clip_shape(f, cond)
        ctx = self.context(cond, B, N).to(f)
        x = f.flatten(2).transpose(1, 2)                              # [B·N, h·w, C]: one query per pixel
        x = x + self.attn(self.norm(x), ctx)                          # Eqs. 12–13 (+ residual)
        return x.transpose(1, 2).reshape(f.shape)
