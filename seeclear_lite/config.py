"""The one configuration of the kit: every size and setting of a run, and the named presets.

A run is a :class:`TrainConfig`: the network (:class:`ModelConfig`: Pixel Condenser widths, the Table 2
switches, InCAM and CaTeGory sizes), the diffusion (:class:`DiffusionConfig`: T, kappa, eta schedule, patch
size, sigma_B^2, posterior form), data, validation, optimiser, the stages of Sec. 4.1 and runtime settings.
:data:`PRESETS` names whole runs (``tiny``, ``tiny_full``, ``small``, ``base``, ``paper``); every command that
takes a configuration name (``train``, ``info``, ``bench``, ``build_model``) takes any of them.

Overrides are ``key=value`` strings with dotted keys (``optim.lr=1e-4``, ``model.channels=8``,
``stages.0.steps=500``), a YAML / JSON file of the same keys, or a dict. They are applied and type-checked by
OmegaConf over these dataclasses, so a typo or a wrong type stops with one line naming the key.
This module imports nothing else of the package: every layer above reads it.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import yaml
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

#: What a stage trains (Sec. 4.1): everything but CaTeGory, CaTeGory alone, or all of it.
STAGE_TRAINS = ("condenser", "memory", "all")
DATA_SOURCES = ("samples", "basicsr", "corpus", "pack")
#: The names of ``seeclear_lite.degradation.DEGRADATIONS`` (config imports nothing of the package; a test keeps
#: the two lists equal).
DEGRADATION_NAMES = ("bi_x4", "bd_x4")
#: How the sampler draws its noise (``training.sampling.draw_noise``): every frame its own, one draw shared by a
#: clip's frames, or that draw repeated for every clip.
NOISE_MODES = ("fresh", "shared", "fixed")
#: Mixed precision: ``auto`` = bf16 autocast on CUDA, fp32 on the CPU.
AMP_MODES = ("auto", "bf16", "off")
#: The reverse-step forms of ``BlurringResShift.posterior`` (notebook 02 derives all three).
POSTERIOR_FORMS = ("paper", "consistent", "repaired")
#: How export picks a run's step: one metric, or "psnr_lpips" = PSNR - 20 LPIPS (1 dB is worth 0.05 LPIPS).
BEST_METRICS = ("psnr", "ssim", "lpips", "psnr_lpips")
#: How the perceptual loss is weighted over t: the same everywhere, by the signal left (1 - eta_t), at t = 1 only,
#: or only on the output of the sampler loss (``optim.sampler_loss``: the default chain's last call on its own input).
PERCEPTUAL_T = ("all", "signal", "last", "sampler")
#: Channels the default k-means distiller appends to its k soft assignments in P (Lab colour, texture).
PIXEL_DESCRIPTORS = 4


class ConfigError(ValueError):
    """A bad key or value in a configuration (the message names the key and the fix)."""


# ------------------------------------------------------------------------------------------------ the model
@dataclass
class InCAMConfig:
    """InCAM (Sec. 3.2) and the distiller's output sizes. The paper gives none of these."""

    tokens_k: int = 8             # k semantic tokens per frame (Eq. 9's top-k) = K clip tokens (Eq. 14)
    token_dim: int = 32           # d, width of O and O_c
    seg_channels: Optional[int] = None  # c of P; None = the k-means distiller's k + 4
    enc_layers: int = 2           # instance encoder layers (Eq. 14; VITA uses 6)
    dec_layers: int = 2           # instance decoder layers (VITA uses 3)
    temporal_window: int = 5      # MFSA's window in frames (the clip)
    ca_source: str = "frame"      # cross-attention reads O_i ("frame", Eq. 12) or O_c ("clip", Alg. 1 l. 28)

    @property
    def seg_c(self) -> int:
        return self.tokens_k + PIXEL_DESCRIPTORS if self.seg_channels is None else self.seg_channels

    @property
    def token_heads(self) -> int:
        return max(1, self.token_dim // 32)


@dataclass
class MemoryConfig:
    """CaTeGory (Sec. 3.3). J = ``groups``, I = ``items``, d_t = ``texture_dim``."""

    groups: int = 4
    items: int = 8
    texture_dim: int = 32
    heads: int = 2
    depth: int = 1                # [CA + FFN, SA + FFN] blocks of the construction M (Eq. 18 has one)
    ffn_mult: int = 2
    feat_pool: Optional[int] = 8  # decoder maps are average-pooled to at most this size before M reads them
    c_momentum: float = 0.1       # rate of the soft k-means update of C (0 keeps C fixed)
    init: str = "identity"        # "identity" (C = I, T small random) or "zeros" (the paper's; a saddle)
    init_std: float = 0.02
    layer_scale_init: float = 0.1


@dataclass
class ModelConfig:
    """The network: Pixel Condenser widths, Table 2's switches, InCAM and CaTeGory sizes."""

    in_channels: int = 3
    dwt_levels: int = 1           # Haar levels at the input (Eq. 7)
    channels: int = 10            # width of level 1
    channel_mult: tuple = (1, 2, 2, 4)  # one entry per encoder / decoder level (4 in the paper)
    lr_channels: int = 10         # width of the LR pyramid maps (levels 2..4)
    head_dim: int = 10            # channels per attention head
    window: int = 4               # spatial window of the Swin blocks and of MFSA
    mlp_ratio: float = 2.0
    middle_blocks: int = 3        # Algorithm 1 lines 25-29
    emb_mult: int = 4             # diffusion-step embedding width = emb_mult * channels
    dropout: float = 0.0
    # Table 2's switches (all off = the baseline, row 1)
    semantic_condition: bool = False
    mfsa: bool = False
    incam: bool = False
    category: bool = False
    incam_sizes: InCAMConfig = field(default_factory=InCAMConfig)
    memory_sizes: MemoryConfig = field(default_factory=MemoryConfig)

    @property
    def widths(self) -> tuple:
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
        """Frame sizes are padded to a multiple of this: 2^(input DWT levels + downsamples) x window."""
        return 2 ** (self.dwt_levels + self.levels - 1) * self.window

    @property
    def band_channels(self) -> int:
        return 4 ** self.dwt_levels * self.in_channels

    # which parts of InCAM the switches build (they combine by "or": Table 2's rows are cumulative)
    @property
    def uses_semantic(self) -> bool:
        return self.semantic_condition or self.incam

    @property
    def uses_mfsa(self) -> bool:
        return self.mfsa or self.incam

    @property
    def uses_clip_tokens(self) -> bool:
        return self.incam or self.category or (self.uses_semantic and self.incam_sizes.ca_source == "clip")

    @property
    def needs_semantics(self) -> bool:
        return self.uses_semantic or self.uses_mfsa or self.category


# -------------------------------------------------------------------------------------------- the diffusion
@dataclass
class DiffusionConfig:
    """Blurring ResShift (Sec. 3.1): used by the sampler, the loss and the network's input scaling."""

    T: int = 15
    kappa: float = 2.0
    eta_power: float = 0.3
    min_noise_level: float = 0.04
    etas_end: float = 0.99
    patch_size: int = 4           # p of the patch DCT blur
    sigma_b2_max: float = 2.0     # sigma_B,max^2 (Table 4; 0 = plain ResShift)
    form: str = "consistent"      # reverse step: "consistent" (the kit's) or "paper" (Eqs. 31-35)
    steps: Optional[int] = None   # network calls of the default chain, re-spaced (None = all T)
    noise: str = "fresh"          # the sampler's noise: per frame (Algorithm 1) | "shared" by a clip's frames | "fixed"


# ------------------------------------------------------------------------------------------- data and loop
@dataclass
class DataConfig:
    """Training clips: m-frame windows, HR crops aligned with x4 LR crops."""

    source: str = "samples"       # samples | basicsr | corpus | pack
    root: Optional[str] = None    # BasicSR root / pack .npz / corpus folder (default: the cache)
    degradation: str = "bi_x4"    # how LR frames are made, training and validation: bi_x4 (the paper's) | bd_x4
    clips: Optional[list] = None  # restrict to these clips
    split: str = "train"
    clip_length: int = 5          # m (Sec. 4.1)
    clips_per_sample: int = 1     # consecutive clips per sample, the memory carried across (trains M)
    gt_patch: Optional[int] = 64  # HR crop (multiple of 4); None = whole frames
    augment: bool = True
    stride: int = 1
    batch_size: int = 4           # global batch (clips per step over all processes)
    num_workers: int = 0
    pin_memory: bool = True
    prefetch_factor: int = 2


@dataclass
class ValConfig:
    """Periodic validation: Algorithm 1 with the EMA weights on held-out windows."""

    every: int = 100              # steps between validations (0 = never)
    source: str = "samples"
    root: Optional[str] = None
    clips: Optional[list] = None
    max_windows: int = 1          # non-overlapping m-frame windows per clip
    gt_patch: Optional[int] = 64  # centre crop (HR pixels); None = whole frames
    lpips: bool = True
    seed: int = 1234
    best_metric: str = "psnr"     # psnr | ssim | lpips | psnr_lpips (PSNR - 20 LPIPS: 0.05 LPIPS = 1 dB)


@dataclass
class OptimConfig:
    """Adam(0.5, 0.999), cosine LR with warm-up, clipping, EMA (Sec. 4.1)."""

    lr: float = 2e-4
    betas: tuple = (0.5, 0.999)
    weight_decay: float = 0.0
    warmup_steps: int = 0
    min_lr_factor: float = 0.0
    grad_clip: Optional[float] = 1.0
    charbonnier_eps: float = 1e-3  # on the diffusion range [-1, 1]
    perceptual_weight: float = 0.0  # LPIPS on x0_hat beside the Charbonnier (0 = the paper's loss alone)
    perceptual_net: str = "alex"    # the LPIPS backbone of the loss (alex; report with vgg, another net)
    perceptual_t: str = "all"       # "all": the same weight at every t; "signal": x (1 - eta_t); "last": t = 1 only;
                                    # "sampler": only on the sampler loss's output
    sampler_loss: float = 0.0       # weight of the loss on the default chain's last call fed its own input (0 = off)
    ema_decay: float = 0.999


@dataclass
class Stage:
    """One training stage of Sec. 4.1."""

    name: str = "condenser"
    steps: int = 200
    train: str = "condenser"      # condenser | memory | all
    lr: Optional[float] = None    # None = optim.lr


@dataclass
class RuntimeConfig:
    """How the loop runs; only ``amp`` and ``fast`` change the arithmetic (within stated tolerances)."""

    device: Optional[str] = None  # None = CUDA if available, else CPU
    amp: str = "auto"
    fast: bool = True             # the CPU fast path `bench` measured (channels-last convolutions); false = eager fp32
    compile: bool = False
    channels_last: bool = False
    log_every: int = 10
    ckpt_every: int = 100
    keep_last: int = 3
    progress: bool = True
    deterministic: bool = False
    cpu_threads: Optional[int] = None
    max_minutes: Optional[float] = None


@dataclass
class TrainConfig:
    """Everything one run needs."""

    preset: str = "tiny"
    seed: int = 0
    model: ModelConfig = field(default_factory=ModelConfig)
    diffusion: DiffusionConfig = field(default_factory=DiffusionConfig)
    data: DataConfig = field(default_factory=DataConfig)
    val: ValConfig = field(default_factory=ValConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    stages: list[Stage] = field(default_factory=lambda: [Stage()])
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)

    @property
    def total_steps(self) -> int:
        return sum(s.steps for s in self.stages)

    def stage_at(self, step: int) -> tuple[int, int]:
        """(stage index, its first step) for a global step (0-based)."""
        start = 0
        for i, s in enumerate(self.stages):
            if step < start + s.steps:
                return i, start
            start += s.steps
        return len(self.stages) - 1, start - self.stages[-1].steps

    def to_dict(self) -> dict:
        """Plain JSON types (what checkpoints store)."""
        return _jsonable(dataclasses.asdict(self))

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        """Strict inverse of :meth:`to_dict` (unknown keys and wrong types raise :class:`ConfigError`)."""
        cfg = _merge(TrainConfig(), [((), d)])
        validate(cfg)
        return cfg

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)


# ------------------------------------------------------------------------------------------------- presets
_FULL = {"model.semantic_condition": True, "model.mfsa": True, "model.incam": True, "model.category": True}


def _three_stages(n1: int, n2: int, n3: int, lr3: float) -> list[dict]:
    """Sec. 4.1: the condenser first, then CaTeGory alone, then everything jointly (lengths are the kit's)."""
    return [{"name": "condenser", "steps": n1, "train": "condenser"},
            {"name": "memory", "steps": n2, "train": "memory"},
            {"name": "joint", "steps": n3, "train": "all", "lr": lr3}]


_TINY_NET = {"model.channels": 10, "model.lr_channels": 10, "model.head_dim": 10, "model.window": 4,
             "model.incam_sizes.tokens_k": 8, "model.incam_sizes.token_dim": 32}
_BASE_NET = {"model.channels": 32, "model.lr_channels": 32, "model.head_dim": 32, "model.window": 8,
             "model.incam_sizes.tokens_k": 16, "model.incam_sizes.token_dim": 64,
             "model.memory_sizes": {"groups": 8, "items": 16, "texture_dim": 64, "heads": 4, "feat_pool": 16}}

#: Named runs. Every size of a preset lives here and nowhere else.
#:
#: ``tiny``       the baseline (Table 2, row 1) at CPU size on the sample clips: tests and notebooks.
#: ``tiny_full``  the full model (InCAM + CaTeGory) at the same size, three stages.
#: ``small``      the kit's reference model: the full model sized for two hours on a 2-core CPU, on the corpus.
#: ``small_v2``   the same network with the reverse-chain recipe of the perception-distortion pilots: T = 4 with
#:                min noise 0.2 (ResShift's 4-step schedule), one noise draw shared by a clip's frames, LPIPS-VGG
#:                on the last step's x0_hat beside the Charbonnier, export by PSNR - 20 LPIPS.
#: ``lab``        the class lab (notebook 10): the ``tiny`` baseline network with ``small_v2``'s chain (T = 4, min noise
#:                0.2, shared noise), Charbonnier only, on the corpus pack, validated on the ``text`` clip; the
#:                notebook sets the step count from a wall-clock budget measured on the student's machine.
#: ``base``       the full model for one GPU (~7.7 M parameters), on the corpus.
#: ``paper``      the paper's scale (~229 M, Table 5), on a BasicSR dataset, global batch 16.
PRESETS: dict[str, dict] = {
    "tiny": {
        **_TINY_NET, "data.gt_patch": 64, "data.batch_size": 4, "optim.lr": 5e-4, "optim.warmup_steps": 10,
        "stages": [{"name": "condenser", "steps": 200, "train": "condenser"}],
        "val.every": 100, "runtime.ckpt_every": 100,
    },
    "tiny_full": {
        **_TINY_NET, **_FULL, "data.gt_patch": 64, "data.batch_size": 4, "optim.lr": 5e-4,
        "optim.warmup_steps": 10, "stages": _three_stages(200, 50, 50, 2e-4),
        "val.every": 100, "runtime.ckpt_every": 100,
    },
    "small": {
        "model.channels": 16, "model.lr_channels": 16, "model.head_dim": 16, "model.window": 4,
        "model.incam_sizes.tokens_k": 8, "model.incam_sizes.token_dim": 32, **_FULL,
        "data.source": "pack", "data.gt_patch": 64, "data.batch_size": 2, "data.clips_per_sample": 2,
        "optim.lr": 5e-4, "optim.warmup_steps": 200, "stages": _three_stages(9000, 1500, 1500, 2e-4),
        "val.source": "pack", "val.max_windows": 3, "val.gt_patch": 128, "val.every": 1000,
        "runtime.ckpt_every": 500,
    },
    "small_v2": {
        "model.channels": 16, "model.lr_channels": 16, "model.head_dim": 16, "model.window": 4,
        "model.incam_sizes.tokens_k": 8, "model.incam_sizes.token_dim": 32, **_FULL,
        "data.source": "pack", "data.gt_patch": 64, "data.batch_size": 2, "data.clips_per_sample": 2,
        "diffusion.T": 4, "diffusion.min_noise_level": 0.2, "diffusion.noise": "shared",
        "optim.lr": 5e-4, "optim.warmup_steps": 200, "optim.perceptual_weight": 1.0, "optim.perceptual_net": "vgg",
        "optim.perceptual_t": "last", "stages": _three_stages(9000, 1500, 1500, 2e-4),
        "val.source": "pack", "val.max_windows": 2, "val.gt_patch": 128, "val.every": 1000,
        "val.best_metric": "psnr_lpips", "runtime.ckpt_every": 500,
    },
    "lab": {
        **_TINY_NET, "data.source": "pack", "data.gt_patch": 64, "data.batch_size": 4, "diffusion.T": 4,
        "diffusion.min_noise_level": 0.2, "diffusion.noise": "shared", "optim.lr": 5e-4, "optim.warmup_steps": 50,
        "stages": [{"name": "condenser", "steps": 1500, "train": "condenser"}],
        "val.source": "pack", "val.clips": ["text"], "val.max_windows": 2, "val.gt_patch": 128, "val.every": 250,
        "val.best_metric": "psnr_lpips", "runtime.ckpt_every": 250,
    },
    "base": {
        **_BASE_NET, **_FULL, "data.source": "corpus", "data.gt_patch": 128, "data.batch_size": 8,
        "data.clips_per_sample": 2, "data.num_workers": 6, "optim.lr": 2e-4, "optim.warmup_steps": 1000,
        "stages": _three_stages(60_000, 10_000, 10_000, 5e-5),
        "val.every": 2000, "val.gt_patch": None, "runtime.ckpt_every": 2000,
    },
    "paper": {
        "model.channels": 180, "model.lr_channels": 90, "model.head_dim": 36, "model.window": 8,
        "model.incam_sizes.tokens_k": 32, "model.incam_sizes.token_dim": 256,
        "model.memory_sizes": {"groups": 16, "items": 32, "texture_dim": 384, "heads": 8, "depth": 2,
                               "ffn_mult": 4, "feat_pool": 16},
        **_FULL, "data.source": "basicsr", "data.gt_patch": 256, "data.batch_size": 16,
        "data.clips_per_sample": 2, "data.num_workers": 8, "optim.lr": 1e-4, "optim.warmup_steps": 5000,
        "stages": _three_stages(300_000, 50_000, 50_000, 2.5e-5),
        "val.every": 5000, "val.gt_patch": None, "runtime.ckpt_every": 5000,
    },
}


_STUDY_RUN = {"val.every": 0, "runtime.progress": False, "runtime.cpu_threads": 1}

#: The ablation's run sizes (``python -m seeclear_lite ablate --size``): ``overrides`` laid over a study's preset
#: (``tiny`` or ``tiny_full``), the optimiser ``steps`` of one run (split into stages by the study), and how much
#: of each held-out clip is scored: ``eval_crop`` (HR centre crop) and ``eval_frames`` (first frames; None = all).
#:
#: ``smoke``     seconds per run on the sample clips: the machinery (tests).
#: ``notebook``  the presets' network on the sample clips: notebooks 06 and 09 at their profile.
#: ``claims``    the committed claims (``data/claims/*.json``): the corpus pack, 1,200 steps per run.
STUDY_SIZES: dict[str, dict] = {
    "smoke": {
        "steps": 3, "eval_crop": 32, "eval_frames": 7,
        "overrides": {"model.channels": 8, "model.head_dim": 8, "model.lr_channels": 8, "model.channel_mult": [1, 2],
                      "model.middle_blocks": 1, "diffusion.T": 4, "data.gt_patch": 16, "data.batch_size": 2,
                      "optim.lr": 1e-3, "optim.warmup_steps": 1, **_STUDY_RUN},
    },
    "notebook": {
        "steps": 60, "eval_crop": 64, "eval_frames": 8,
        "overrides": {"diffusion.T": 8, "data.gt_patch": 32, "data.batch_size": 2, "optim.lr": 5e-4,
                      "optim.warmup_steps": 5, "optim.ema_decay": 0.99, **_STUDY_RUN},
    },
    "claims": {
        "steps": 1200, "eval_crop": 128, "eval_frames": None,
        "overrides": {"data.source": "pack", "val.source": "pack", "data.gt_patch": 64, "data.batch_size": 2,
                      "data.clips_per_sample": 2, "optim.lr": 5e-4, "optim.warmup_steps": 50,
                      "optim.ema_decay": 0.999, **_STUDY_RUN, "runtime.log_every": 50},
    },
}


def preset_names() -> list[str]:
    return list(PRESETS)


def get_config(preset: str = "tiny", overrides=None, config_file=None) -> TrainConfig:
    """The preset, then the file's overrides, then ``overrides`` (dotted-key dict, nested dict or a list of
    ``"key=value"`` strings), type-checked and validated."""
    if preset not in PRESETS:
        raise ConfigError(f"Unknown configuration {preset!r}: choose one of {', '.join(PRESETS)}.")
    layers = [((), PRESETS[preset])]
    if config_file is not None:
        layers.append(((), load_config_file(config_file)))
    if overrides:
        layers.append(((), overrides))
    cfg = _merge(TrainConfig(preset=preset), layers)
    validate(cfg)
    return cfg


def get_model_config(preset: str, **fields) -> ModelConfig:
    """The network of a preset, with optional :class:`ModelConfig` field overrides (``channels=8``); only the
    network's own rules are checked (a preset's training stages do not constrain the network built from it)."""
    if preset not in PRESETS:
        raise ConfigError(f"Unknown configuration {preset!r}: choose one of {', '.join(PRESETS)}.")
    cfg = _merge(TrainConfig(preset=preset), [((), PRESETS[preset]), ((), {f"model.{k}": v for k, v in fields.items()})])
    validate_model(cfg.model)
    return cfg.model


def load_config_file(path) -> dict:
    """A YAML (``.yaml`` / ``.yml``) or JSON file holding a mapping of overrides (nested or dotted)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Config file not found: {path}. Give a YAML or JSON file with a mapping of "
                                f"overrides, e.g. 'optim: {{lr: 1.0e-4}}'.")
    text = path.read_text(encoding="utf-8")
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as err:
        raise ConfigError(f"Could not parse the config file {path}: {str(err).splitlines()[0]}") from err
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"The config file {path} must hold a mapping of keys to values, got "
                          f"{type(data).__name__}.")
    return data


def parse_override(text: str) -> tuple[str, Any]:
    """``"optim.lr=1e-4"`` -> ``("optim.lr", 1e-4)``; the value is read as YAML (numbers, true/false, null,
    lists), anything else stays a string."""
    if not isinstance(text, str) or "=" not in text:
        raise ConfigError(f"Override {text!r} is not of the form key=value (e.g. optim.lr=1e-4).")
    key, _, raw = text.partition("=")
    key = key.strip()
    if not key:
        raise ConfigError(f"Override {text!r} has an empty key; write key=value (e.g. data.batch_size=8).")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError:
        value = raw
    return key, value


def apply_overrides(cfg: TrainConfig, overrides) -> TrainConfig:
    """A new :class:`TrainConfig` with ``overrides`` applied and validated."""
    out = _merge(cfg, [((), overrides)])
    validate(out)
    return out


def _items(overrides) -> list[tuple[str, Any]]:
    if isinstance(overrides, (list, tuple)):
        return [parse_override(o) for o in overrides]
    if isinstance(overrides, dict):
        return [(str(k), v) for k, v in overrides.items()]
    raise ConfigError(f"overrides must be a dict or a list of 'key=value' strings, got {type(overrides).__name__}.")


def _merge(cfg: TrainConfig, layers) -> TrainConfig:
    """Apply each layer's (key, value) items with OmegaConf, which checks keys and types."""
    node = OmegaConf.structured(cfg)
    for _, overrides in layers:
        for key, value in _items(overrides):
            _check_list_index(node, key)
            try:
                OmegaConf.update(node, key, value, merge=True)
            except OmegaConfBaseException as err:
                raise ConfigError(_one_line(key, err)) from None
    try:
        out = OmegaConf.to_object(node)
    except OmegaConfBaseException as err:
        raise ConfigError(_one_line("config", err)) from None
    return _fix_types(out)


def _check_list_index(node, key: str) -> None:
    """``stages.3.steps`` on a list of 1 stage: say so (OmegaConf's own message is about types)."""
    parts = key.split(".")
    for i, part in enumerate(parts):
        if OmegaConf.is_list(node):
            if not part.isdigit() or int(part) >= len(node):
                where = ".".join(parts[:i])
                raise ConfigError(f"Unknown key {key!r}: {where} is a list of {len(node)} item(s); use an index "
                                  f"0..{len(node) - 1} (or set the whole list).")
            node = node[int(part)]
        elif OmegaConf.is_dict(node) and part in node:
            node = node[part]
        else:
            return


def _one_line(key: str, err: Exception) -> str:
    msg = str(err).splitlines()[0].strip()
    full = getattr(err, "full_key", None) or key
    if "not in" in msg or "Missing key" in msg or "Key '" in msg:
        return f"Unknown key {key!r}: {msg}"
    return f"{full}: {msg} (in override {key!r})"


def _fix_types(cfg: TrainConfig) -> TrainConfig:
    """OmegaConf gives lists where the dataclasses say tuple: turn them back."""
    cfg.model.channel_mult = tuple(int(m) for m in cfg.model.channel_mult)
    cfg.optim.betas = tuple(float(b) for b in cfg.optim.betas)
    return cfg


def _jsonable(x):
    if isinstance(x, dict):
        return {k: _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    return x


def need(cond, msg: str) -> None:
    """Raise :class:`ConfigError` with ``msg`` unless ``cond``."""
    if not cond:
        raise ConfigError(msg)


def finite(x: float) -> bool:
    return x == x and x not in (float("inf"), float("-inf"))


def validate_model(m: ModelConfig) -> None:
    """The network's own rules (widths, heads, switches, CaTeGory sizes)."""
    need(m.in_channels >= 1 and m.dwt_levels >= 1, "model.in_channels and model.dwt_levels must be >= 1.")
    need(len(m.channel_mult) >= 1 and all(c >= 1 for c in m.channel_mult),
         f"model.channel_mult must be a non-empty list of positive ints, got {list(m.channel_mult)}.")
    need(m.channels >= 1 and m.lr_channels >= 1 and m.head_dim >= 1 and m.window >= 1,
         "model.channels, model.lr_channels, model.head_dim and model.window must be >= 1.")
    for w in m.widths:
        need(w % m.heads(w) == 0, f"model: width {w} is not divisible by its {m.heads(w)} heads (head_dim "
                                  f"{m.head_dim}); pick channels and head_dim that divide.")
    need(m.middle_blocks >= 0, f"model.middle_blocks must be >= 0, got {m.middle_blocks}.")
    need(m.incam_sizes.ca_source in ("frame", "clip"),
         f"model.incam_sizes.ca_source must be 'frame' or 'clip', got {m.incam_sizes.ca_source!r}.")
    need(not m.category or m.uses_clip_tokens, "model.category needs the clip tokens O_c of InCAM (Eq. 19).")
    ms = m.memory_sizes
    need(ms.texture_dim % ms.heads == 0, f"model.memory_sizes.texture_dim={ms.texture_dim} must be a multiple "
                                         f"of model.memory_sizes.heads={ms.heads}.")
    need(ms.init in ("identity", "zeros"), f"model.memory_sizes.init must be 'identity' or 'zeros', got {ms.init!r}.")
    need(0.0 <= ms.c_momentum <= 1.0, f"model.memory_sizes.c_momentum must be in [0, 1], got {ms.c_momentum}.")


def validate(cfg: TrainConfig) -> None:
    """Ranges and choices across fields; raises :class:`ConfigError` naming the key and the fix."""
    m, d = cfg.model, cfg.diffusion
    need(cfg.seed >= 0, f"seed must be >= 0 (it seeds NumPy's SeedSequence), got {cfg.seed}.")
    validate_model(m)
    need(d.T >= 1, f"diffusion.T must be >= 1, got {d.T}.")
    need(d.kappa > 0 and finite(d.kappa), f"diffusion.kappa must be a finite number > 0, got {d.kappa}.")
    need(d.patch_size >= 1, f"diffusion.patch_size must be >= 1, got {d.patch_size}.")
    need(d.sigma_b2_max >= 0 and finite(d.sigma_b2_max),
         f"diffusion.sigma_b2_max is a variance: a finite number >= 0 (0 = ResShift), got {d.sigma_b2_max}.")
    need(d.form in POSTERIOR_FORMS, f"diffusion.form must be one of {POSTERIOR_FORMS}, got {d.form!r}.")
    need(cfg.data.source in DATA_SOURCES, f"data.source must be one of {DATA_SOURCES}, got {cfg.data.source!r}.")
    need(cfg.val.source in DATA_SOURCES, f"val.source must be one of {DATA_SOURCES}, got {cfg.val.source!r}.")
    for sec in ("data", "val"):
        s = getattr(cfg, sec)
        need(s.gt_patch is None or (s.gt_patch > 0 and s.gt_patch % 4 == 0),
             f"{sec}.gt_patch must be a positive multiple of 4 (or null for whole frames), got {s.gt_patch}.")
    need(cfg.data.degradation in DEGRADATION_NAMES,
         f"data.degradation must be one of {', '.join(DEGRADATION_NAMES)}, got {cfg.data.degradation!r}.")
    need(cfg.data.batch_size >= 1, f"data.batch_size must be >= 1, got {cfg.data.batch_size}.")
    need(cfg.data.clip_length >= 1, f"data.clip_length must be >= 1, got {cfg.data.clip_length}.")
    need(cfg.data.clips_per_sample >= 1, f"data.clips_per_sample must be >= 1, got {cfg.data.clips_per_sample}.")
    need(cfg.data.stride >= 1, f"data.stride must be >= 1, got {cfg.data.stride}.")
    need(cfg.data.num_workers >= 0, f"data.num_workers must be >= 0, got {cfg.data.num_workers}.")
    need(cfg.val.best_metric in BEST_METRICS,
         f"val.best_metric must be one of {', '.join(BEST_METRICS)}, got {cfg.val.best_metric!r}.")
    need(d.noise in NOISE_MODES, f"diffusion.noise must be one of {', '.join(NOISE_MODES)}, got {d.noise!r}.")
    need(d.steps is None or 1 <= d.steps <= d.T,
         f"diffusion.steps must be in 1..diffusion.T={d.T} (network calls per clip) or null for all T, got {d.steps}.")
    need(cfg.val.every >= 0, f"val.every must be >= 0 (0 = never), got {cfg.val.every}.")
    need(cfg.val.max_windows >= 1, f"val.max_windows must be >= 1, got {cfg.val.max_windows}.")
    need(cfg.val.seed >= 0, f"val.seed must be >= 0, got {cfg.val.seed}.")
    o = cfg.optim
    need(o.lr > 0 and finite(o.lr), f"optim.lr must be a finite number > 0, got {o.lr}.")
    need(len(o.betas) == 2 and all(0 <= b < 1 for b in o.betas),
         f"optim.betas must be two numbers in [0, 1), got {list(o.betas)}.")
    need(o.weight_decay >= 0 and finite(o.weight_decay), f"optim.weight_decay must be >= 0, got {o.weight_decay}.")
    need(o.grad_clip is None or (o.grad_clip > 0 and finite(o.grad_clip)),
         f"optim.grad_clip must be a finite number > 0 or null, got {o.grad_clip}.")
    need(0 <= o.ema_decay < 1, f"optim.ema_decay must be in [0, 1), got {o.ema_decay}.")
    need(o.charbonnier_eps > 0 and finite(o.charbonnier_eps),
         f"optim.charbonnier_eps must be a finite number > 0, got {o.charbonnier_eps}.")
    need(o.perceptual_weight >= 0 and finite(o.perceptual_weight),
         f"optim.perceptual_weight must be a finite number >= 0 (0 = Charbonnier alone), got {o.perceptual_weight}.")
    need(o.perceptual_net in ("alex", "vgg"), f"optim.perceptual_net must be alex or vgg, got {o.perceptual_net!r}.")
    need(o.perceptual_t in PERCEPTUAL_T, f"optim.perceptual_t must be one of {PERCEPTUAL_T}, got {o.perceptual_t!r}.")
    need(o.sampler_loss >= 0 and finite(o.sampler_loss),
         f"optim.sampler_loss must be a finite number >= 0 (0 = off), got {o.sampler_loss}.")
    need(o.perceptual_t != "sampler" or o.sampler_loss > 0,
         "optim.perceptual_t=sampler puts LPIPS on the sampler loss only: set optim.sampler_loss > 0 (e.g. 1.0) too.")
    need(o.warmup_steps >= 0, f"optim.warmup_steps must be >= 0, got {o.warmup_steps}.")
    need(0 <= o.min_lr_factor <= 1, f"optim.min_lr_factor must be in [0, 1], got {o.min_lr_factor}.")
    need(len(cfg.stages) >= 1, "stages: give at least one stage, e.g. [{name: condenser, steps: 200, train: condenser}].")
    for i, s in enumerate(cfg.stages):
        need(s.train in STAGE_TRAINS, f"stages.{i}.train must be one of {STAGE_TRAINS}, got {s.train!r}.")
        need(s.steps >= 1, f"stages.{i}.steps must be >= 1, got {s.steps}.")
        need(s.lr is None or (s.lr > 0 and finite(s.lr)), f"stages.{i}.lr must be a finite number > 0 or null, got {s.lr}.")
        need(s.train != "memory" or m.category,
             f"stages.{i} ({s.name!r}) trains 'memory' but model.category is false: the model has no CaTeGory. "
             f"Switch it on (model.category=true) or drop the stage.")
    r = cfg.runtime
    need(r.amp in AMP_MODES, f"runtime.amp must be one of {AMP_MODES}, got {r.amp!r}.")
    need(r.log_every >= 1, f"runtime.log_every must be >= 1, got {r.log_every}.")
    need(r.ckpt_every >= 1, f"runtime.ckpt_every must be >= 1, got {r.ckpt_every}.")
    need(r.keep_last >= 1, f"runtime.keep_last must be >= 1, got {r.keep_last}.")
    need(r.cpu_threads is None or r.cpu_threads >= 1,
         f"runtime.cpu_threads must be >= 1 (or null for torch's default), got {r.cpu_threads}.")
    need(r.max_minutes is None or (r.max_minutes > 0 and finite(r.max_minutes)),
         f"runtime.max_minutes must be a finite number > 0 (or null for no budget), got {r.max_minutes}.")


#: Keys that may differ between a checkpoint's config and a resumed run's (how the loop runs, not what it computes).
RESUME_FREE_KEYS = ("runtime.cpu_threads", "data.num_workers", "data.pin_memory", "data.prefetch_factor",
                    "runtime.progress", "runtime.log_every", "runtime.ckpt_every", "runtime.keep_last",
                    "runtime.device", "runtime.compile", "runtime.max_minutes", "runtime.fast",
                    "runtime.channels_last", "val.every", "val.lpips")


def config_differences(a: dict, b: dict, ignore=()) -> list[str]:
    """Dotted keys whose values differ between two config dicts, as ``key: a -> b``."""
    fa, fb = dict(_flatten(a)), dict(_flatten(b))
    out = []
    for k in sorted(set(fa) | set(fb)):
        if any(k == i or k.startswith(i + ".") for i in ignore):
            continue
        if fa.get(k, "<absent>") != fb.get(k, "<absent>"):
            out.append(f"{k}: {fa.get(k, '<absent>')!r} -> {fb.get(k, '<absent>')!r}")
    return out


def _flatten(d, prefix=""):
    if isinstance(d, dict):
        for k, v in d.items():
            yield from _flatten(v, f"{prefix}{k}.")
    elif isinstance(d, list):
        for i, v in enumerate(d):
            yield from _flatten(v, f"{prefix}{i}.")
    else:
        yield prefix.rstrip("."), d


def copy_config(cfg: TrainConfig) -> TrainConfig:
    return copy.deepcopy(cfg)
