"""InCAM, the Instance-Centric Alignment Module, assembled as hooks for the Pixel Condenser (Sec. 3.2).

Algorithm 1 (lines 24–29 middle, 31–36 decoder) runs, in each middle block and decoder level::

    O_c = Dec(Enc(O), Ô)          once per forward  (Eq. 14)  -> ClipTokenBuilder
    F   = (f ⊙ γ + β) + f,  (γ, β) = G(P)           (Eqs. 10–11) -> SemanticModulation
    F̂   = CA(F, O)                                   (Eqs. 12–13) -> SemanticCrossAttention
    F̄   = MFSA(O_c · F̂)                              (Eq. 15)     -> MultiFrameSelfAttention

The condenser calls each hook as ``f = hook(f, cond)`` on f [B·N, C, h, w] (see ``_cond``) and, once per
forward, ``cond.clip_tokens = builder(cond.tokens)``. Every component has a switch in :class:`InCAMConfig`;
a switched-off component is not built and the hook returns ``f`` itself (an exact identity, no
parameters). Table 2's rows are configurations (:meth:`InCAMConfig.table2`):

====================  ==========  ==========  ====================
row                   semantic    mfsa        clip_tokens
====================  ==========  ==========  ====================
``baseline``          off         off         off
``semantic``          on          off         off    (G + cross-attention: the "semantic condition")
``mfsa``              on          on          off    (+ plain multi-frame self-attention)
``incam``             on          on          on     (+ clip tokens guiding MFSA: full InCAM)
====================  ==========  ==========  ====================
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import torch
from torch import nn

from .cross_attention import SemanticCrossAttention
from .instance_tokens import ClipTokenBuilder
from .mfsa import MultiFrameSelfAttention
from .modulation import SemanticModulation

TABLE2_ROWS = {
    "baseline": dict(semantic=False, mfsa=False, clip_tokens=False),
    "semantic": dict(semantic=True, mfsa=False, clip_tokens=False),
    "mfsa": dict(semantic=True, mfsa=True, clip_tokens=False),
    "incam": dict(semantic=True, mfsa=True, clip_tokens=True),
}


@dataclass
class InCAMConfig:
    """Switches and sizes of InCAM. ``token_dim`` and ``seg_channels`` must match the distiller (d, c)."""

    semantic: bool = True          # G modulation (Eqs. 10–11) + cross-attention to O (Eqs. 12–13)
    mfsa: bool = True              # multi-frame self-attention (Eq. 15)
    clip_tokens: bool = True       # clip tokens O_c (Eq. 14) weight MFSA's input (O_c · F̂); needs mfsa
    middle: bool = True            # insert in the middle blocks
    decoder: bool = True           # insert in the decoder levels
    token_dim: int = 64            # d of the distiller's tokens O
    seg_channels: int = 12         # c of the distiller's P
    clip_dim: int = 64             # width of O_c
    n_clip_tokens: int = 8         # K
    heads: int = 4                 # heads of the cross-attention and MFSA (must divide the channels)
    head_dim: int = 0              # if > 0: heads = channels // head_dim at each level (overrides heads)
    token_heads: int = 4           # heads of the instance encoder/decoder
    enc_layers: int = 2
    dec_layers: int = 2
    mod_hidden: int = 64           # hidden channels of G
    mod_kernels: tuple = field(default=(3, 1))  # kernel sizes of G's two convs
    window: tuple = field(default=(5, 8, 8))
    shift: bool = False
    mlp_ratio: float = 2.0         # MLP width / d in the instance encoder-decoder
    mfsa_mlp_ratio: float = 2.0    # MLP width / C after MFSA (PSRT's Swin block; 0 = none)
    ca_source: str = "frame"       # cross-attention reads O_i ("frame", Eq. 12) or O_c ("clip", Alg. 1)

    def __post_init__(self):
        if self.clip_tokens and not self.mfsa:
            raise ValueError("clip_tokens=True needs mfsa=True: the clip tokens O_c guide MFSA (Eq. 15).")
        if self.ca_source == "clip" and self.semantic and not self.clip_tokens:
            raise ValueError("ca_source='clip' needs clip_tokens=True (the cross-attention then reads O_c).")
        self.window = tuple(self.window)
        self.mod_kernels = tuple(self.mod_kernels)

    def heads_for(self, channels: int) -> int:
        """Attention heads at a level with ``channels`` channels (checked to divide them)."""
        heads = max(1, channels // self.head_dim) if self.head_dim else self.heads
        if channels % heads:
            raise ValueError(f"{channels} channels cannot be split into {heads} heads; set InCAMConfig.heads "
                             "to a divisor of every level's width, or head_dim.")
        return heads

    @classmethod
    def table2(cls, row: str, **overrides) -> "InCAMConfig":
        """The configuration of one of Table 2's rows: 'baseline', 'semantic', 'mfsa', 'incam'."""
        if row not in TABLE2_ROWS:
            raise ValueError(f"unknown Table 2 row {row!r}; choose from {sorted(TABLE2_ROWS)}.")
        return cls(**{**TABLE2_ROWS[row], **overrides})

    @property
    def enabled(self) -> bool:
        return self.semantic or self.mfsa

    def replace(self, **changes) -> "InCAMConfig":
        return replace(self, **changes)


class InCAMHook(nn.Module):
    """One insertion of InCAM at a condenser level with ``channels`` channels: ``f = hook(f, cond)``."""

    def __init__(self, channels: int, cfg: InCAMConfig, enabled: bool = True):
        super().__init__()
        self.channels, self.cfg = channels, cfg
        on = enabled and cfg.enabled
        heads = cfg.heads_for(channels) if on else 1
        self.modulation = SemanticModulation(channels, cfg.seg_channels, cfg.mod_hidden, cfg.mod_kernels) \
            if on and cfg.semantic else None
        self.cross_attention = SemanticCrossAttention(channels, cfg.clip_dim if cfg.ca_source == "clip"
                                                      else cfg.token_dim, heads, cfg.ca_source) \
            if on and cfg.semantic else None
        self.mfsa = MultiFrameSelfAttention(channels, heads, cfg.window, cfg.shift,
                                            cfg.clip_dim if cfg.clip_tokens else None, cfg.mfsa_mlp_ratio) \
            if on and cfg.mfsa else None

    @property
    def is_identity(self) -> bool:
        return self.modulation is None and self.cross_attention is None and self.mfsa is None

    def forward(self, f: torch.Tensor, cond) -> torch.Tensor:
        if self.modulation is not None:
            f = self.modulation(f, cond)            # Eqs. 10–11
        if self.cross_attention is not None:
            f = self.cross_attention(f, cond)       # Eqs. 12–13
        if self.mfsa is not None:
            f = self.mfsa(f, cond)                  # Eq. 15
        return f

    def extra_repr(self) -> str:
        return f"channels={self.channels}" + (", identity" if self.is_identity else "")


def make_middle_hook(channels: int, cfg: InCAMConfig) -> InCAMHook:
    """InCAM for a middle block (Alg. 1 lines 26–29); an identity hook when switched off."""
    return InCAMHook(channels, cfg, enabled=cfg.middle)


def make_decoder_hook(channels: int, cfg: InCAMConfig) -> InCAMHook:
    """InCAM for a decoder level (Alg. 1 lines 33–36); an identity hook when switched off."""
    return InCAMHook(channels, cfg, enabled=cfg.decoder)


def make_clip_token_builder(cfg: InCAMConfig) -> ClipTokenBuilder | None:
    """The Eq. 14 module when the configuration uses clip tokens, else None."""
    if not (cfg.clip_tokens or (cfg.semantic and cfg.ca_source == "clip")) or not (cfg.middle or cfg.decoder):
        return None
    return ClipTokenBuilder(d=cfg.clip_dim, K=cfg.n_clip_tokens, in_dim=cfg.token_dim, heads=cfg.token_heads,
                            enc_layers=cfg.enc_layers, dec_layers=cfg.dec_layers, mlp_ratio=cfg.mlp_ratio)


def incam_parameter_count(model: nn.Module) -> int:
    """Parameters of every InCAM piece (hooks and clip-token builder) inside ``model``."""
    seen, total = set(), 0
    for m in model.modules():
        if isinstance(m, (InCAMHook, ClipTokenBuilder)):
            for p in m.parameters():
                if id(p) not in seen:
                    seen.add(id(p))
                    total += p.numel()
    return total
