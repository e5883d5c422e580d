"""The attention pieces CaTeGory is built from (Sec. 3.3): multi-head attention and a feed-forward net.

Eqs. 18 and 20 write ``SA(.)`` and ``CA(.)`` for multi-head self- and cross-attention and say that "the
layer normalization and feed-forward network are omitted for brevity". These two small modules are those
omitted pieces, written once so that the construction ``M`` and the per-level query share them.

Tokens are row vectors, ``[batch, tokens, width]``, as in Eq. 12 (``Q = F W^Q``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class MultiHeadAttention(nn.Module):
    """Multi-head (cross-)attention, Eq. 12–13 style: ``Softmax(Q K^T / sqrt(d)) V`` per head.

    ``forward(x, context)`` lets the rows of ``x`` [B, S_q, query_dim] attend to the rows of ``context``
    [B, S_kv, context_dim] (self-attention when ``context`` is None) and returns [B, S_q, out_dim].
    The attention itself runs in ``dim`` channels split over ``heads`` heads.
    """

    def __init__(self, query_dim: int, context_dim: int, dim: int, heads: int, out_dim: int | None = None):
        super().__init__()
        if dim % heads != 0:
            raise ValueError(f"attention width {dim} is not divisible by heads={heads}: "
                             f"choose a width that is a multiple of the number of heads.")
        self.heads = heads
        self.to_q = nn.Linear(query_dim, dim)
        self.to_k = nn.Linear(context_dim, dim)
        self.to_v = nn.Linear(context_dim, dim)
        self.to_out = nn.Linear(dim, query_dim if out_dim is None else out_dim)

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        b, s, c = x.shape
        return x.view(b, s, self.heads, c // self.heads).transpose(1, 2)  # [B, heads, S, d_head]

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        context = x if context is None else context
        q, k, v = self._split(self.to_q(x)), self._split(self.to_k(context)), self._split(self.to_v(context))
        out = F.scaled_dot_product_attention(q, k, v)  # Eq. 13, scale 1/sqrt(d_head)
        b, h, s, d = out.shape
        return self.to_out(out.transpose(1, 2).reshape(b, s, h * d))


class FeedForward(nn.Module):
    """Pre-norm feed-forward net ``Linear -> GELU -> Linear`` (the FFN that Eq. 18 omits)."""

    def __init__(self, dim: int, mult: int):
        super().__init__()
        self.net = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, mult * dim), nn.GELU(),
                                 nn.Linear(mult * dim, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
