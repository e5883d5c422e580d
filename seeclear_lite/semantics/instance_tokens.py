"""Clip-wise semantic tokens from the frame tokens: the instance encoder–decoder (Eq. 14).

    O_c = Dec(Enc(O_i), Ô)                                          (Eq. 14)

As in VITA (Heo et al., NeurIPS 2022), whose object encoder/decoder the paper's description matches:
- **Enc** — self-attention over *all* the clip's frame tokens together (N·k tokens), so tokens of the
  same object in different frames exchange information ("communicating semantics along the temporal
  dimension"). VITA attends within temporal windows of 6 frames; a 5-frame clip fits in one.
- **Dec** — K learnable queries Ô ("randomly initialized tokens") cross-attend to the encoded tokens,
  then self-attend, then an MLP (VITA's order). Each query gathers one clip-level instance: O_c [B, K, d].

All layers are pre-LayerNorm transformer layers with residuals. Without a frame embedding the builder is a
function of the *set* of frame tokens, so O_c does not change when the frames (or the tokens inside a
frame) are permuted; ``frame_embedding=True`` adds a learned per-frame-index vector and breaks that.

SeeClear runs it once per clip, in ``SeeClear.condition`` (Algorithm 1 line 24).
"""

from __future__ import annotations

import torch
from torch import nn

from ..blocks.attention import FeedForward, MultiHeadAttention


class InstanceEncoderLayer(nn.Module):
    """x + SA(LN x), then + MLP(LN x) over the clip's N·k frame tokens."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float = 2.0):
        super().__init__()
        self.norm1, self.attn = nn.LayerNorm(dim), MultiHeadAttention(dim, heads)
        self.norm2, self.mlp = nn.LayerNorm(dim), FeedForward(dim, mlp_ratio)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class InstanceDecoderLayer(nn.Module):
    """queries + CA(LN q, memory), + SA(LN q), + MLP(LN q) (VITA's object-decoder order)."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float = 2.0):
        super().__init__()
        self.norm_m = nn.LayerNorm(dim)
        self.norm1, self.cross = nn.LayerNorm(dim), MultiHeadAttention(dim, heads)
        self.norm2, self.self_attn = nn.LayerNorm(dim), MultiHeadAttention(dim, heads)
        self.norm3, self.mlp = nn.LayerNorm(dim), FeedForward(dim, mlp_ratio)

    def forward(self, q: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
        q = q + self.cross(self.norm1(q), self.norm_m(memory))
        q = q + self.self_attn(self.norm2(q))
        return q + self.mlp(self.norm3(q))


class ClipTokenBuilder(nn.Module):
    """O [B, N, k, in_dim] -> O_c [B, K, d] (Eq. 14).

    Args:
        d: width of the clip tokens (and of the encoder/decoder).
        K: number of clip tokens (learnable queries Ô).
        in_dim: width of the distiller's tokens (a linear map to d when it differs; None = d).
        heads, enc_layers, dec_layers, mlp_ratio: transformer sizes (VITA: 8 heads, 6 + 3 layers, 256).
        frame_embedding: add a learned embedding of the frame index (max ``max_frames``) to the tokens.
    """

    def __init__(self, d: int = 64, K: int = 8, in_dim: int | None = None, heads: int = 4,
                 enc_layers: int = 2, dec_layers: int = 2, mlp_ratio: float = 2.0,
                 frame_embedding: bool = False, max_frames: int = 16):
        super().__init__()
        in_dim = d if in_dim is None else in_dim
        self.d, self.K, self.in_dim = d, K, in_dim
        self.inp = nn.Linear(in_dim, d) if in_dim != d else nn.Identity()
        self.frame_embedding = nn.Parameter(torch.zeros(max_frames, d)) if frame_embedding else None
        if frame_embedding:
            nn.init.normal_(self.frame_embedding, std=0.02)
        self.encoder = nn.ModuleList(InstanceEncoderLayer(d, heads, mlp_ratio) for _ in range(enc_layers))
        self.queries = nn.Parameter(torch.randn(K, d))                  # Ô, "randomly initialized tokens"
        self.decoder = nn.ModuleList(InstanceDecoderLayer(d, heads, mlp_ratio) for _ in range(dec_layers))
        self.norm = nn.LayerNorm(d)

    def encode(self, tokens: torch.Tensor) -> torch.Tensor:
        """Enc(O_i): [B, N, k, in_dim] -> [B, N·k, d]."""
        if tokens.dim() != 4 or tokens.shape[-1] != self.in_dim:
            raise ValueError(f"ClipTokenBuilder takes the distiller's tokens [B, N, k, {self.in_dim}], got "
                             f"{tuple(tokens.shape)}; build it with in_dim = the distiller's d.")
        x = self.inp(tokens.to(device=self.queries.device, dtype=self.queries.dtype))
        if self.frame_embedding is not None:
            if x.shape[1] > self.frame_embedding.shape[0]:
                raise ValueError(f"clip has {x.shape[1]} frames; frame_embedding holds {self.frame_embedding.shape[0]}.")
            x = x + self.frame_embedding[: x.shape[1], None]
        x = x.flatten(1, 2)
        for layer in self.encoder:
            x = layer(x)
        return x

    def forward(self, tokens) -> torch.Tensor:
        """O_c [B, K, d] from the frame tokens [B, N, k, in_dim] (or from an object with ``.tokens``)."""
        if not isinstance(tokens, torch.Tensor):
            if getattr(tokens, "tokens", None) is None:
                raise ValueError("ClipTokenBuilder needs the semantic tokens: pass O [B, N, k, d] or a cond whose "
                                 ".tokens is set (run the Semantic Distiller first).")
            tokens = tokens.tokens
        memory = self.encode(tokens)
        q = self.queries.to(memory.dtype).expand(memory.shape[0], -1, -1)
        for layer in self.decoder:
            q = layer(q, memory)                                        # Dec(·, Ô)
        return self.norm(q)                                             # O_c [B, K, d]  (Eq. 14)
