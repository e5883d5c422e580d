"""The one multi-head attention and the one feed-forward block of the package (InCAM and CaTeGory use them).

Tokens are row vectors ``[..., L, dim]``, as in Eq. 12 (``Q = F W^Q``, ``K = O W^K``, ``V = O W^V``) and
Eq. 13 (``Softmax(Q K^T / sqrt(d)) V``). The paper omits the LayerNorms, output projections and FFNs of
its attention blocks "for brevity" (Sec. 3.3); these are the standard ones.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn


def attention_4d(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, attn_mask=None) -> torch.Tensor:
    """``F.scaled_dot_product_attention`` for q ``[..., heads, L, d]`` with any number of leading dims, run on
    4-D tensors: extra leading dims are folded into the batch, or (with a 4-D mask ``[windows, heads, L, S]``)
    into the heads, so the mask still broadcasts without a copy per clip. Why: ``torch.compile`` (PyTorch
    2.13) mis-shapes 5-D attention with a broadcast mask."""
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
    """Rows of ``x [..., L, dim]`` attend to rows of ``ctx [..., S, ctx_dim]`` (self-attention without ctx).

    ``W^Q: dim -> inner``, ``W^K, W^V: ctx_dim -> inner``, ``W^O: inner -> out_dim``; ``inner`` (default
    ``dim``) is split over ``heads``. ``attn_mask`` is added to the logits (float) or masks them (bool,
    True = may attend), broadcast over ``[..., heads, L, S]``.
    """

    def __init__(self, dim: int, heads: int, ctx_dim: int | None = None, inner_dim: int | None = None,
                 out_dim: int | None = None):
        super().__init__()
        inner = dim if inner_dim is None else inner_dim
        if inner % heads:
            raise ValueError(f"attention width {inner} is not divisible by heads={heads}: choose a width that "
                             f"is a multiple of the number of heads.")
        ctx_dim = dim if ctx_dim is None else ctx_dim
        self.heads = heads
        self.q = nn.Linear(dim, inner)
        self.k = nn.Linear(ctx_dim, inner)
        self.v = nn.Linear(ctx_dim, inner)
        self.out = nn.Linear(inner, dim if out_dim is None else out_dim)

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        return rearrange(x, "... l (h d) -> ... h l d", h=self.heads)

    def forward(self, x: torch.Tensor, ctx: torch.Tensor | None = None, attn_mask=None) -> torch.Tensor:
        ctx = x if ctx is None else ctx
        q, k, v = self._split(self.q(x)), self._split(self.k(ctx)), self._split(self.v(ctx))
        y = attention_4d(q, k, v, attn_mask=attn_mask)               # Eq. 13, scale 1/sqrt(d_head)
        return self.out(rearrange(y, "... h l d -> ... l (h d)"))

    def weights(self, x: torch.Tensor, ctx: torch.Tensor | None = None, attn_mask=None) -> torch.Tensor:
        """The attention probabilities ``[..., heads, L, S]`` (explicit, for inspection and teaching)."""
        ctx = x if ctx is None else ctx
        q, k = self._split(self.q(x)), self._split(self.k(ctx))
        logits = q @ k.transpose(-1, -2) / q.shape[-1] ** 0.5
        if attn_mask is not None:
            logits = logits.masked_fill(~attn_mask, float("-inf")) if attn_mask.dtype == torch.bool \
                else logits + attn_mask
        return logits.softmax(-1)


class FeedForward(nn.Sequential):
    """``Linear(dim, ratio * dim) -> GELU -> Linear(ratio * dim, dim)``: the FFN after an attention."""

    def __init__(self, dim: int, ratio: float = 2.0):
        hidden = max(1, int(dim * ratio))
        super().__init__(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))
