"""Diffusion-step embedding (Sec. 3.1, App. C): the residual blocks "infuse the features with the
intensity of degradation", i.e. with the step t of the Blurring ResShift process.

As in ResShift / guided diffusion: a sinusoidal embedding of t (Transformer-style frequencies), then an
MLP ``Linear -> SiLU -> Linear``. Here t is the paper's 1-based step (1..T).
"""

from __future__ import annotations

import math

import torch
from torch import nn


def sinusoidal_embedding(t: torch.Tensor, dim: int, max_period: float = 10_000.0) -> torch.Tensor:
    """``[B] -> [B, dim]``: ``[cos(t * f_0..f_{h-1}), sin(t * f_0..f_{h-1})]`` with
    ``f_i = max_period^(-i/h)``, ``h = dim // 2`` (a zero column is appended when ``dim`` is odd)."""
    if t.dim() != 1:
        raise ValueError(f"t must be a 1-D tensor [B] of diffusion steps, got shape {tuple(t.shape)}.")
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = t.float()[:, None] * freqs[None]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    if dim % 2:
        emb = torch.cat([emb, torch.zeros_like(emb[:, :1])], dim=-1)
    return emb


class TimestepEmbedding(nn.Module):
    """t ``[B]`` (1-based LongTensor) -> ``[B, out_dim]``: sinusoid(``base_dim``) -> Linear -> SiLU -> Linear."""

    def __init__(self, base_dim: int, out_dim: int):
        super().__init__()
        self.base_dim = base_dim
        self.mlp = nn.Sequential(nn.Linear(base_dim, out_dim), nn.SiLU(), nn.Linear(out_dim, out_dim))

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        emb = sinusoidal_embedding(t, self.base_dim)
        return self.mlp(emb.to(self.mlp[0].weight.dtype))  # follow the module's dtype (float64, half, ...)
