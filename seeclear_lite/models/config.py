"""Named configurations of the Pixel Condenser (and the switches of the semantic modules).

The paper gives the structure (App. C, Algorithm 1) but not the widths; Table 5 gives the size: 229.23 M
learnable parameters for the Pixel Condenser *with* InCAM and CaTeGory (the frozen OpenSeeD distiller is
not counted). Three sizes:

========  =====================================================================================
``tiny``  CPU smoke tests and the notebooks' smoke/cpu profiles: ~0.65 M parameters (< 1 M).
``tiny``  is the baseline (Table 2, row 1); ``base`` and ``paper`` are the full model (InCAM + CaTeGory).
``base``  the model the kit trains on one GPU: 6.44 M condenser + 1.05 M InCAM + 0.18 M CaTeGory = 7.67 M
          (<= ~8 M, so fp16 weights stay under 16 MiB).
``paper`` the paper's scale: 198.3 M condenser + 24.5 M InCAM + 10.5 M CaTeGory = 233.3 M, within 2 % of
          Table 5's 229.23 M.
========  =====================================================================================

``get_config(name, **overrides)`` returns a frozen :class:`ModelConfig`; unknown names or fields raise a
``ValueError`` that lists the valid ones.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch



@dataclass(frozen=True)
class ModelConfig:
    """Architecture numbers of the Pixel Condenser and the switches of the semantic modules."""

    name: str = "custom"
    # --- input / output -------------------------------------------------------------------------
    in_channels: int = 3          # RGB frames
    dwt_levels: int = 1           # Haar levels applied to x_t and y at the input (Eq. 7)
    # --- U-Net ------------------------------------------------------------------------------------
    channels: int = 16            # width of level 1
    channel_mult: tuple = (1, 2, 2, 4)  # one entry per encoder/decoder level (4 in the paper)
    lr_channels: int = 16         # width of the parallel LR pyramid maps (levels 2..4)
    head_dim: int = 16            # channels per attention head (heads = width // head_dim, at least 1)
    window: int = 4               # window size of the spatial self-attention
    mlp_ratio: float = 2.0        # hidden width of the attention blocks' MLP / FFN
    middle_blocks: int = 3        # Algorithm 1 lines 25-29
    emb_mult: int = 4             # diffusion-step embedding width = emb_mult * channels
    dropout: float = 0.0
    # --- diffusion (input scaling only; must match the BlurringResShift used) ----------------------
    T: int = 15
    kappa: float = 2.0
    eta_power: float = 0.3
    min_noise_level: float = 0.04
    etas_end: float = 0.99
    normalize_input: bool = True  # divide x_t by (3 kappa sqrt(eta_t) + 1), ResShift's pixel-mode scaling
    # --- semantic modules (built by seeclear_lite.semantics / seeclear_lite.memory) ------------------
    semantic_condition: bool = False
    mfsa: bool = False
    incam: bool = False
    category: bool = False
    tokens_k: int = 16            # semantic tokens per frame (Eq. 9's top-k)
    token_dim: int = 64           # token width d
    seg_channels: int = 16        # channels of the segmentation features P

    def __post_init__(self):
        if self.in_channels < 1:
            raise ValueError(f"in_channels must be >= 1, got {self.in_channels}.")
        if self.dwt_levels < 1:
            raise ValueError(f"dwt_levels must be >= 1 (the condenser works on sub-bands), got {self.dwt_levels}.")
        if not self.channel_mult or any(int(m) < 1 for m in self.channel_mult):
            raise ValueError(f"channel_mult must be a non-empty tuple of positive ints, got {self.channel_mult}.")
        object.__setattr__(self, "channel_mult", tuple(int(m) for m in self.channel_mult))
        for w in self.widths:
            if w % self.heads(w):
                raise ValueError(f"width {w} is not divisible by its head count {self.heads(w)} "
                                 f"(head_dim {self.head_dim}); pick channels/head_dim that divide.")
        if self.window < 1 or self.T < 1 or self.middle_blocks < 0:
            raise ValueError("window and T must be >= 1 and middle_blocks >= 0.")

    @property
    def widths(self) -> tuple:
        """Channel width of each level."""
        return tuple(self.channels * m for m in self.channel_mult)

    @property
    def levels(self) -> int:
        return len(self.channel_mult)

    @property
    def emb_dim(self) -> int:
        return self.emb_mult * self.channels

    def heads(self, width: int) -> int:
        return max(1, width // self.head_dim)

    @property
    def pad_multiple(self) -> int:
        """Frame sizes must be multiples of this: 2^(input DWT levels + wavelet downsamples) x window."""
        return 2 ** (self.dwt_levels + self.levels - 1) * self.window

    @property
    def band_channels(self) -> int:
        """Channels of the DWT of one input (x_t or y): 4^dwt_levels * in_channels."""
        return 4 ** self.dwt_levels * self.in_channels

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


#: The switches of the full SeeClear model (Table 2, last row); ``tiny`` is the baseline (row 1).
_FULL_MODEL = dict(semantic_condition=True, mfsa=True, incam=True, category=True)

CONFIGS = {
    # ~0.65 M: CPU smoke tests, notebooks' smoke / cpu profiles.
    "tiny": dict(channels=10, channel_mult=(1, 2, 2, 4), lr_channels=10, head_dim=10, window=4,
                 mlp_ratio=2.0, tokens_k=8, token_dim=32, seg_channels=8),
    # The full model (InCAM + CaTeGory on). seg_channels = tokens_k + 4 matches the default offline
    # distiller's P (k soft assignments + Lab colour + texture energy).
    # ~6.44 M condenser + ~1.3 M InCAM/CaTeGory: one-GPU training; fp16 weights stay under 16 MiB.
    "base": dict(channels=32, channel_mult=(1, 2, 2, 4), lr_channels=32, head_dim=32, window=8,
                 mlp_ratio=2.0, tokens_k=16, token_dim=64, seg_channels=20, **_FULL_MODEL),
    # ~198.3 M condenser + InCAM + CaTeGory ~ 229 M (Table 5).
    "paper": dict(channels=180, channel_mult=(1, 2, 2, 4), lr_channels=90, head_dim=36, window=8,
                  mlp_ratio=2.0, tokens_k=32, token_dim=256, seg_channels=36, **_FULL_MODEL),
}


def config_names() -> list[str]:
    return list(CONFIGS)


def get_config(name: str, **overrides) -> ModelConfig:
    """The named configuration (``tiny``, ``base``, ``paper``) with optional field overrides."""
    if name not in CONFIGS:
        raise ValueError(f"Unknown configuration {name!r}: choose one of {', '.join(CONFIGS)}.")
    fields = {f.name for f in dataclasses.fields(ModelConfig)}
    bad = sorted(set(overrides) - fields)
    if bad:
        raise ValueError(f"Unknown ModelConfig field(s) {bad}; valid fields: {', '.join(sorted(fields))}.")
    return ModelConfig(**{**CONFIGS[name], "name": name, **overrides})


def resshift_sqrt_eta(T: int, kappa: float, power: float, min_noise_level: float = 0.04,
                      etas_end: float = 0.99) -> torch.Tensor:
    """ResShift's exponential schedule of sqrt(eta_t), t = 1..T, float64 (``get_named_eta_schedule``).

    Only used here for the input scaling; the diffusion itself is ``seeclear_lite.diffusion`` (a test
    checks both agree)."""
    sqrt_eta_1 = min(min_noise_level / kappa, min_noise_level)
    steps = torch.linspace(0, 1, T, dtype=torch.float64) ** power * (T - 1)
    base = torch.exp(torch.log(torch.tensor(etas_end / sqrt_eta_1, dtype=torch.float64)) / max(T - 1, 1))
    return sqrt_eta_1 * base ** steps
