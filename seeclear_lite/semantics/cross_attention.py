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
import torch.nn.functional as F
from torch import nn

from ._cond import clip_shape, require


def attention_4d(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, attn_mask=None) -> torch.Tensor:
    """``F.scaled_dot_product_attention(q, k, v, attn_mask)`` for q [..., heads, L, d] with any number of leading
    dims, computed on 4-D tensors: extra leading dims (e.g. [B, windows]) are folded into the batch, or, for a
    4-D mask [windows, heads, L, S], into the heads, so that the mask still broadcasts without being copied
    per clip. Same numbers; the reason is ``torch.compile``: its attention-fusion pass rewrote 5-D attention
    with a broadcast mask into a mis-shaped batched matmul (PyTorch 2.13, CPU: "Expected size for first two
    dimensions of batch2 tensor"), which broke the compiled InCAM windows."""
    lead = q.shape[:-3]
    if len(lead) <= 1:
        return F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)
    H, L, S = q.shape[-3], q.shape[-2], k.shape[-2]
    k, v = k.expand(*lead, *k.shape[-3:]), v.expand(*lead, *v.shape[-3:])
    if attn_mask is not None and attn_mask.dim() == 4:      # [windows (or 1), heads (or 1), L, S]
        nw = lead[-1]
        q, k, v = (t.reshape(-1, nw * H, t.shape[-2], t.shape[-1]) for t in (q, k, v))
        attn_mask = attn_mask.expand(nw, H, L, S).reshape(nw * H, L, S)
    else:
        q, k, v = (t.reshape(-1, *t.shape[-3:]) for t in (q, k, v))
        if attn_mask is not None and attn_mask.dim() > 4:
            attn_mask = attn_mask.expand(*lead, H, L, S).reshape(-1, H, L, S)
    y = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)
    return y.reshape(*lead, H, L, y.shape[-1])


class MultiHeadAttention(nn.Module):
    """Multi-head attention of x [..., L, dim] over ctx [..., S, kv_dim] with ``F.scaled_dot_product_attention``.

    Projections W^Q (dim→dim), W^K, W^V (kv_dim→dim), W^O (dim→dim); ``attn_mask`` is added to the logits
    (float) or masks them (bool, True = may attend), broadcast over [..., heads, L, S].
    """

    def __init__(self, dim: int, heads: int, kv_dim: int | None = None):
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim={dim} must be divisible by heads={heads}.")
        kv_dim = dim if kv_dim is None else kv_dim
        self.dim, self.heads = dim, heads
        self.q = nn.Linear(dim, dim)
        self.k = nn.Linear(kv_dim, dim)
        self.v = nn.Linear(kv_dim, dim)
        self.out = nn.Linear(dim, dim)

    def _split(self, x: torch.Tensor) -> torch.Tensor:          # [..., L, dim] -> [..., heads, L, dim/heads]
        return x.unflatten(-1, (self.heads, -1)).transpose(-3, -2)

    def forward(self, x: torch.Tensor, ctx: torch.Tensor | None = None, attn_mask=None) -> torch.Tensor:
        ctx = x if ctx is None else ctx
        q, k, v = self._split(self.q(x)), self._split(self.k(ctx)), self._split(self.v(ctx))
        y = attention_4d(q, k, v, attn_mask=attn_mask)
        return self.out(y.transpose(-3, -2).flatten(-2))

    def weights(self, x: torch.Tensor, ctx: torch.Tensor | None = None, attn_mask=None) -> torch.Tensor:
        """The attention probabilities [..., heads, L, S] (computed explicitly, for inspection)."""
        ctx = x if ctx is None else ctx
        q, k = self._split(self.q(x)), self._split(self.k(ctx))
        logits = q @ k.transpose(-1, -2) / q.shape[-1] ** 0.5
        if attn_mask is not None:
            logits = logits.masked_fill(~attn_mask, float("-inf")) if attn_mask.dtype == torch.bool \
                else logits + attn_mask
        return logits.softmax(-1)


class SemanticCrossAttention(nn.Module):
    """F̂ = F + W^O·MHA(Q = LN(F) W^Q, K = O W^K, V = O W^V) on f [B·N, C, h, w] (Eqs. 12–13)."""

    def __init__(self, channels: int, token_dim: int, heads: int = 4, source: str = "frame"):
        super().__init__()
        if source not in ("frame", "clip"):
            raise ValueError(f"source must be 'frame' (O_i, Eq. 12) or 'clip' (O_c, Alg. 1), got {source!r}.")
        self.source = source
        self.norm = nn.LayerNorm(channels)
        self.attn = MultiHeadAttention(channels, heads, kv_dim=token_dim)

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
