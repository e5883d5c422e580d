"""InCAM, the Instance-Centric Alignment Module (Sec. 3.2), as one module with a block per insertion point.

Algorithm 1 runs, once per clip and then in each middle block (lines 26-28) and decoder level (33-35)::
    O_c = Dec(Enc(O), Ô)                             (Eq. 14)     once per clip -> InCAM.clip_tokens
    F   = (f ⊙ γ + β) + f,  (γ, β) = G(P)            (Eqs. 10-11) -> SemanticModulation
    F̂   = CA(F, O)                                   (Eqs. 12-13) -> SemanticCrossAttention
    F̄   = MFSA(O_c · F̂)                              (Eq. 15)     -> MultiFrameSelfAttention

Table 2's switches (:class:`seeclear_lite.config.ModelConfig`) decide which parts exist: ``semantic_condition``
(G + cross-attention), ``mfsa`` (plain MFSA), ``incam`` (both, with O_c guiding MFSA). A part that is off is
not built, so a block with no parts is the exact identity.
"""

from __future__ import annotations

import torch
from torch import nn

from ..config import ModelConfig
from .cross_attention import SemanticCrossAttention
from .instance_tokens import ClipTokenBuilder
from .mfsa import MultiFrameSelfAttention
from .modulation import SemanticModulation


class InCAMBlock(nn.Module):
    """InCAM at one level with ``channels`` channels: ``f = block(f, cond)`` on f ``[B·N, C, h, w]``."""

    def __init__(self, channels: int, cfg: ModelConfig):
        super().__init__()
        s, heads = cfg.incam_sizes, cfg.heads(channels)
        self.channels = channels
        self.modulation = SemanticModulation(channels, s.seg_c, hidden=s.token_dim) if cfg.uses_semantic else None
        ctx_dim = s.token_dim
        self.cross_attention = SemanticCrossAttention(channels, ctx_dim, heads, s.ca_source) \
            if cfg.uses_semantic else None
        # MFSA has no MLP here: in Algorithm 1 its output goes straight into the condenser's unit, which has one
        self.mfsa = MultiFrameSelfAttention(channels, heads, (s.temporal_window, cfg.window, cfg.window),
                                            clip_dim=s.token_dim if cfg.incam else None, mlp_ratio=0.0) \
            if cfg.uses_mfsa else None

    def forward(self, f: torch.Tensor, cond) -> torch.Tensor:
        if self.modulation is not None:
            f = self.modulation(f, cond)            # Eqs. 10-11
        if self.cross_attention is not None:
            f = self.cross_attention(f, cond)       # Eqs. 12-13
        if self.mfsa is not None:
            f = self.mfsa(f, cond)                  # Eq. 15
        return f

    def extra_repr(self) -> str:
        return f"channels={self.channels}"


class InCAM(nn.Module):
    """InCAM for a whole Pixel Condenser: ``middle[j]`` before middle block j, ``decoder[k]`` at decoder level
    k (deepest first), and ``clip_tokens`` (Eq. 14; None when no part reads O_c)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        s = cfg.incam_sizes
        blocks = cfg.uses_semantic or cfg.uses_mfsa
        widths = cfg.widths
        self.middle = nn.ModuleList(InCAMBlock(widths[-1], cfg) for _ in range(cfg.middle_blocks if blocks else 0))
        self.decoder = nn.ModuleList(InCAMBlock(widths[lv], cfg) for lv in reversed(range(cfg.levels)) if blocks)
        self.clip_tokens = ClipTokenBuilder(d=s.token_dim, K=s.tokens_k, in_dim=s.token_dim, heads=s.token_heads,
                                            enc_layers=s.enc_layers, dec_layers=s.dec_layers,
                                            mlp_ratio=cfg.mlp_ratio) if cfg.uses_clip_tokens else None
