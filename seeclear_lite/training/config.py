"""The one training configuration of the kit: :class:`TrainConfig`, shared by ``python -m seeclear_lite train``
and the notebooks.

A run is described by a named preset (:data:`PRESETS`: ``tiny``, ``base``, ``paper``) plus overrides, given as

* ``key=value`` strings on the command line, with dotted keys into the sections and list indices
  (``optim.lr=1e-4``, ``data.batch_size=8``, ``stages.0.steps=500``, ``model.channels=8``);
* a YAML or JSON file holding a (partial) nested mapping of the same keys (``--config-file run.yaml``);
* keyword dicts in Python: ``get_train_config("tiny", {"optim.lr": 1e-4})``.

Every key is checked against the dataclasses below and every value against its field's type, so a typo
(``optim.lrr``) or a wrong type (``data.batch_size=four``) stops with a message naming the key, what it
expected and the valid keys. ``model.<field>`` keys are checked against
:class:`seeclear_lite.models.ModelConfig`. The resolved configuration (:meth:`TrainConfig.to_dict`, plain
JSON types) is stored inside every checkpoint and written beside it as ``<checkpoint>.config.yaml``.

The training stages of Sec. 4.1 are part of the configuration (:class:`Stage`): "the pixel condenser is first
trained ..., then CaTeGory is independently trained ..., finally the whole network is jointly fine-tuned".
Each stage names which parameters train (``condenser``, ``memory`` or ``all``) and for how many steps; every
stage gets a fresh Adam(0.5, 0.999) and its own cosine schedule with warm-up ("All training stages utilize
the Adam optimizer ... cosine annealing").
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path

#: What a stage trains: ``condenser`` (every parameter outside CaTeGory), ``memory`` (CaTeGory only),
#: ``all`` (joint fine-tuning).
STAGE_TRAINS = ("condenser", "memory", "all")
#: Data sources of :class:`DataConfig` / :class:`ValConfig`.
DATA_SOURCES = ("samples", "basicsr", "corpus", "pack")
#: Mixed precision modes: ``auto`` = bf16 autocast on CUDA, fp32 on the CPU.
AMP_MODES = ("auto", "bf16", "off")


class ConfigError(ValueError):
    """A bad key or value in a training configuration (the message names the key and the fix)."""


@dataclass
class ModelSection:
    """The network: a named :func:`seeclear_lite.models.get_config` configuration plus field overrides."""

    name: str = "tiny"
    overrides: dict = field(default_factory=dict)


@dataclass
class DiffusionSection:
    """Blurring ResShift (Sec. 3.1). T, kappa and the eta schedule come from the model configuration (the
    network's input scaling depends on them), so they are set there (``model.T=...``), not here."""

    sigma_b2_max: float = 2.0     # sigma_B,max^2 (Table 4; 0 = plain ResShift)
    patch_size: int = 4           # p of the patch DCT blur (= the x4 scale factor)
    form: str = "consistent"      # reverse step used by validation / sampling ("paper" or "consistent")


@dataclass
class DataConfig:
    """Training clips (``seeclear_lite.data``): m = 5 frame windows, HR crops aligned with x4 LR crops."""

    source: str = "samples"       # samples | basicsr | corpus | pack
    root: str | None = None       # BasicSR root / pack .npz (needed) / corpus folder (default: the cache)
    clips: list | None = None     # restrict to these clips (samples default: every clip but the validation one)
    split: str = "train"          # corpus / pack split
    clip_length: int = 5          # m (Sec. 4.1: "an HR clip with 5 frames")
    clips_per_sample: int = 1     # consecutive m-frame clips per training sample, the CaTeGory memory carried
                                  # from one to the next (2+ trains the memory update M, Sec. 3.3)
    gt_patch: int | None = 64     # HR crop size (multiple of 4); None = whole frames
    augment: bool = True          # flips, 90-degree rotation, temporal reversal
    stride: int = 1               # step between window starts
    batch_size: int = 4           # GLOBAL batch (clips per step over all processes; paper: 4 GPUs x 4 clips)
    num_workers: int = 0          # DataLoader worker processes
    pin_memory: bool = True       # pinned host memory (used on CUDA only)
    prefetch_factor: int = 2      # batches prefetched per worker (with num_workers > 0)


@dataclass
class ValConfig:
    """Periodic validation: Algorithm 1 sampling with the EMA weights on held-out clips, PSNR/SSIM/LPIPS."""

    every: int = 100              # steps between validations, and at the last step (0 = never)
    source: str = "samples"
    root: str | None = None
    clips: list | None = None     # samples default: [VALIDATION_CLIP]
    max_windows: int = 1          # non-overlapping m-frame windows per clip
    gt_patch: int | None = 64     # centre crop (HR pixels, multiple of 4); None = whole frames
    lpips: bool = True            # needs the LPIPS weights in the cache (skipped with a note otherwise)
    seed: int = 1234              # generator of the sampler's noise (validation never touches the global RNG)
    best_metric: str = "psnr"     # "psnr" / "ssim" (higher is better) or "lpips" (lower is better)


@dataclass
class OptimConfig:
    """Adam with the paper's betas (0.5, 0.999), cosine LR with linear warm-up, clipping, EMA (Sec. 4.1)."""

    lr: float = 2e-4
    betas: tuple = (0.5, 0.999)
    weight_decay: float = 0.0
    warmup_steps: int = 0         # per stage (at most the stage's length)
    min_lr_factor: float = 0.0    # cosine floor, as a fraction of lr
    grad_clip: float | None = 1.0  # max global gradient norm (None = off)
    charbonnier_eps: float = 1e-3  # on the diffusion range [-1, 1] (the paper does not state eps)
    ema_decay: float = 0.999      # exponential moving average of the weights (used for validation/sampling)


@dataclass
class Stage:
    """One training stage of Sec. 4.1: which parameters train and for how many steps."""

    name: str = "condenser"
    steps: int = 200
    train: str = "condenser"      # condenser | memory | all
    lr: float | None = None       # None = optim.lr


@dataclass
class RuntimeConfig:
    """Where and how the loop runs; none of these change the mathematics of a run except ``amp``."""

    device: str | None = None     # None = CUDA if available, else CPU
    amp: str = "auto"             # auto (bf16 on CUDA, fp32 on CPU) | bf16 | off
    compile: bool = False         # torch.compile the model's forward
    channels_last: bool = False   # channels-last memory format (helps convolutions on CUDA with bf16)
    log_every: int = 10           # steps between history rows / progress-bar updates
    ckpt_every: int = 100         # steps between checkpoints (the last step always saves)
    keep_last: int = 3            # step checkpoints kept (best.pt is kept apart)
    progress: bool = True         # tqdm progress bar (rank 0)
    deterministic: bool = False   # torch.use_deterministic_algorithms (slower on CUDA)
    cpu_threads: int | None = None  # torch.set_num_threads (None = torch's default; 1 is fastest at tiny size
                                    # on a shared 2-core CPU)
    max_minutes: float | None = None  # wall-clock budget of one fit() call: when spent, validate, checkpoint and
                                      # stop (continue later with --resume auto); None = no budget


@dataclass
class TrainConfig:
    """Everything one training run needs (see the module docstring)."""

    preset: str = "tiny"
    seed: int = 0
    model: ModelSection = field(default_factory=ModelSection)
    diffusion: DiffusionSection = field(default_factory=DiffusionSection)
    data: DataConfig = field(default_factory=DataConfig)
    val: ValConfig = field(default_factory=ValConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    stages: list = field(default_factory=lambda: [Stage()])
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)

    # ------------------------------------------------------------------ derived
    @property
    def total_steps(self) -> int:
        return sum(s.steps for s in self.stages)

    def stage_at(self, step: int) -> tuple[int, int]:
        """(stage index, first step of that stage) for a global step (0-based, ``step < total_steps``)."""
        start = 0
        for i, s in enumerate(self.stages):
            if step < start + s.steps:
                return i, start
            start += s.steps
        return len(self.stages) - 1, start - self.stages[-1].steps

    def make_diffusion(self):
        """The :class:`seeclear_lite.diffusion.BlurringResShift` of this run (T, kappa and the eta schedule from
        the model configuration, whose input scaling depends on them; the blur from ``diffusion``)."""
        from ..diffusion import BlurringResShift

        mc = self.model_config()
        return BlurringResShift(T=mc.T, kappa=mc.kappa, power=mc.eta_power, patch_size=self.diffusion.patch_size,
                                sigma_b2_max=self.diffusion.sigma_b2_max, min_noise_level=mc.min_noise_level,
                                etas_end=mc.etas_end)

    def model_config(self):
        """The :class:`seeclear_lite.models.ModelConfig` of this run."""
        from ..models import get_config

        return get_config(self.model.name, **self.model.overrides)

    # ------------------------------------------------------------------ (de)serialisation
    def to_dict(self) -> dict:
        """Plain JSON types (tuples become lists): what checkpoints store."""
        return _jsonable(dataclasses.asdict(self))

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        """Strict inverse of :meth:`to_dict`: unknown keys and wrong types raise :class:`ConfigError`."""
        cfg = _build(cls, d, "")
        validate(cfg)
        return cfg

    def to_yaml(self) -> str:
        import yaml

        return yaml.safe_dump(self.to_dict(), sort_keys=False)


# ---------------------------------------------------------------------------------------------- presets
#: The full model's switches: InCAM (Sec. 3.2) and CaTeGory (Sec. 3.3) on; the default offline distiller gives
#: P with tokens_k + 4 channels (seeclear_lite.semantics.plugin.distiller_for), hence seg_channels.
_FULL = {"model.incam": True, "model.category": True}
#: Sec. 4.1: "the pixel condenser is first trained ..., then CaTeGory is independently trained ..., finally the
#: whole network is jointly fine-tuned" (the paper gives no lengths: these are the kit's).
_THREE_STAGES = lambda n1, n2, n3, lr3: [  # noqa: E731
    {"name": "condenser", "steps": n1, "train": "condenser"},
    {"name": "memory", "steps": n2, "train": "memory"},
    {"name": "joint", "steps": n3, "train": "all", "lr": lr3}]

#: Named presets (overrides of the defaults above).
#:
#: ``tiny``       the baseline Pixel Condenser (Table 2, row 1) at CPU size on the sample clips (tests, notebooks).
#: ``tiny_full``  the full model (InCAM + CaTeGory) at CPU size on the sample clips, three stages.
#: ``base``       the full model the kit trains on one GPU (~7.7 M parameters) on the corpus, three stages, two
#:                clips per sample so that stage 2 trains the memory update across clips.
#: ``paper``      the paper's scale (~229 M, Table 5) on a BasicSR dataset (``data.root=``), global batch 16
#:                (4 GPUs x 4 clips, Sec. 4.1).
PRESETS: dict[str, dict] = {
    "tiny": {
        "model.name": "tiny", "data.gt_patch": 64, "data.batch_size": 4, "optim.lr": 5e-4, "optim.warmup_steps": 10,
        "stages": [{"name": "condenser", "steps": 200, "train": "condenser"}],
        "val.every": 100, "runtime.ckpt_every": 100,
    },
    "tiny_full": {
        "model.name": "tiny", **_FULL, "model.seg_channels": 12, "data.gt_patch": 64, "data.batch_size": 4,
        "optim.lr": 5e-4, "optim.warmup_steps": 10, "stages": _THREE_STAGES(200, 50, 50, 2e-4),
        "val.every": 100, "runtime.ckpt_every": 100,
    },
    "base": {
        "model.name": "base", **_FULL, "model.seg_channels": 20, "data.source": "corpus", "data.gt_patch": 128,
        "data.batch_size": 8, "data.clips_per_sample": 2, "data.num_workers": 6, "optim.lr": 2e-4,
        "optim.warmup_steps": 1000, "stages": _THREE_STAGES(60_000, 10_000, 10_000, 5e-5),
        "val.every": 2000, "val.gt_patch": None, "runtime.ckpt_every": 2000,
    },
    "paper": {
        "model.name": "paper", **_FULL, "model.seg_channels": 36, "data.source": "basicsr", "data.gt_patch": 256,
        "data.batch_size": 16, "data.clips_per_sample": 2, "data.num_workers": 8, "optim.lr": 1e-4,
        "optim.warmup_steps": 5000, "stages": _THREE_STAGES(300_000, 50_000, 50_000, 2.5e-5),
        "val.every": 5000, "val.gt_patch": None, "runtime.ckpt_every": 5000,
    },
}


def preset_names() -> list[str]:
    return list(PRESETS)


def get_train_config(preset: str = "tiny", overrides=None, config_file: str | os.PathLike | None = None
                     ) -> TrainConfig:
    """The preset, then the file's overrides, then ``overrides`` (a dict of dotted keys, a nested dict, or a
    list of ``"key=value"`` strings), checked and validated."""
    if preset not in PRESETS:
        raise ConfigError(f"Unknown training preset {preset!r}: choose one of {', '.join(PRESETS)}.")
    cfg = TrainConfig(preset=preset)
    cfg = apply_overrides(cfg, PRESETS[preset])
    if config_file is not None:
        cfg = apply_overrides(cfg, load_config_file(config_file))
    if overrides:
        cfg = apply_overrides(cfg, overrides)
    validate(cfg)
    return cfg


def load_config_file(path: str | os.PathLike) -> dict:
    """A YAML (``.yaml``/``.yml``) or JSON (``.json``) file holding a mapping of overrides (nested or dotted)."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Config file not found: {path}. Give a YAML or JSON file with a mapping of "
                                f"overrides, e.g. 'optim: {{lr: 1.0e-4}}'.")
    text = path.read_text(encoding="utf-8")
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as err:
        raise ConfigError(f"Could not parse the config file {path}: {err}") from err
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"The config file {path} must hold a mapping of keys to values, got "
                          f"{type(data).__name__}.")
    return data


# ---------------------------------------------------------------------------------------------- overrides
def parse_override(text: str) -> tuple[str, object]:
    """``"optim.lr=1e-4"`` -> ``("optim.lr", 1e-4)``; the value is read as YAML (numbers, true/false, null,
    lists ``[1, 2]``), anything else stays a string."""
    import yaml

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


def _flatten(d: dict, prefix: str = "") -> list[tuple[str, object]]:
    """Nested mapping -> dotted items; ``model.overrides`` and a whole ``stages`` list stay values."""
    out = []
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and key not in ("model.overrides",) and not key.endswith(".overrides"):
            out += _flatten(v, key + ".")
        else:
            out.append((key, v))
    return out


def apply_overrides(cfg: TrainConfig, overrides) -> TrainConfig:
    """A new :class:`TrainConfig` with ``overrides`` applied (see :func:`get_train_config` for the forms)."""
    if isinstance(overrides, (list, tuple)):
        items = [parse_override(o) for o in overrides]
    elif isinstance(overrides, dict):
        items = _flatten(overrides)
    else:
        raise ConfigError(f"overrides must be a dict or a list of 'key=value' strings, got {type(overrides).__name__}.")
    d = cfg.to_dict()
    for key, value in items:
        _set_dotted(d, key, value)
    return _build(TrainConfig, d, "")  # types checked here; ranges by validate() once all overrides are in


def _set_dotted(d: dict, key: str, value) -> None:
    parts = key.split(".")
    if parts[0] == "model" and len(parts) == 2 and parts[1] not in ("name", "overrides"):
        _model_field_type(parts[1])  # raises for unknown ModelConfig fields
        d["model"]["overrides"][parts[1]] = value
        return
    node, path = d, []
    for i, part in enumerate(parts):
        path.append(part)
        last = i == len(parts) - 1
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise ConfigError(f"Unknown key {key!r}: {'.'.join(path[:-1])} is a list of {len(node)} item(s); "
                                  f"use an index 0..{len(node) - 1} (or set the whole list).")
            idx = int(part)
            if last:
                node[idx] = value
            else:
                node = node[idx]
            continue
        if not isinstance(node, dict) or part not in node:
            where = ".".join(path[:-1]) or "the top level"
            valid = ", ".join(node) if isinstance(node, dict) else ""
            raise ConfigError(f"Unknown key {key!r}: {where} has no {part!r}. Valid keys there: {valid}.")
        if last:
            node[part] = value
        else:
            node = node[part]


# ---------------------------------------------------------------------------------------------- type checks
def _model_field_type(name: str):
    from ..models import ModelConfig

    hints = typing.get_type_hints(ModelConfig)
    if name not in hints:
        raise ConfigError(f"Unknown model field {name!r} (model.{name}); valid fields of ModelConfig: "
                          f"{', '.join(sorted(h for h in hints if h != 'name'))}.")
    return hints[name]


def _jsonable(x):
    if isinstance(x, dict):
        return {k: _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    return x


def _type_name(tp) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _coerce(value, tp, key: str):
    """``value`` converted to type ``tp`` (or a :class:`ConfigError` naming ``key``)."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return _coerce(value, a, key)
            except ConfigError as err:
                errors.append(str(err))
        raise ConfigError(f"{key}: expected {' or '.join(_type_name(a) for a in args)}, got {value!r}.")
    if dataclasses.is_dataclass(tp):
        return _build(tp, value, key + ".")
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no", "on", "off"):
            return value.lower() in ("true", "yes", "on")
        raise ConfigError(f"{key}: expected true or false, got {value!r}.")
    if tp is int:
        if isinstance(value, bool):
            raise ConfigError(f"{key}: expected an integer, got the boolean {value!r}.")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value.replace("_", ""))
            except ValueError:
                pass
        raise ConfigError(f"{key}: expected an integer, got {value!r}.")
    if tp is float:
        if isinstance(value, bool):
            raise ConfigError(f"{key}: expected a number, got the boolean {value!r}.")
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)   # YAML 1.1 reads "1e-4" as a string
            except ValueError:
                pass
        raise ConfigError(f"{key}: expected a number, got {value!r}.")
    if tp is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"{key}: expected a string, got {value!r} ({type(value).__name__}).")
    if tp in (tuple, list) or origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: expected a list, got {value!r}.")
        return tuple(value) if (tp is tuple or origin is tuple) else list(value)
    if tp is dict or origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}.")
        return dict(value)
    return value


def _build(cls, d, prefix: str):
    if isinstance(d, cls):
        return copy.deepcopy(d)
    if not isinstance(d, dict):
        raise ConfigError(f"{prefix.rstrip('.') or 'config'}: expected a mapping of {cls.__name__} fields, got {d!r}.")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(d) - set(names))
    if unknown:
        raise ConfigError(f"Unknown key(s) {', '.join(prefix + u for u in unknown)}; valid keys"
                          f"{' in ' + prefix.rstrip('.') if prefix else ''}: {', '.join(names)}.")
    kwargs = {}
    for name in names:
        if name not in d:
            continue
        key = prefix + name
        if cls is TrainConfig and name == "stages":
            if not isinstance(d[name], (list, tuple)) or not d[name]:
                raise ConfigError("stages: expected a non-empty list of stages, e.g. "
                                  "[{name: condenser, steps: 200, train: condenser}].")
            kwargs[name] = [_build(Stage, s, f"stages.{i}.") for i, s in enumerate(d[name])]
        elif cls is ModelSection and name == "overrides":
            ov = _coerce(d[name], dict, key)
            kwargs[name] = {k: _coerce(v, _model_field_type(k), f"model.{k}") for k, v in ov.items()}
        else:
            kwargs[name] = _coerce(d[name], hints[name], key)
    return cls(**kwargs)


def validate(cfg: TrainConfig) -> None:
    """Checks across fields (ranges, choices); raises :class:`ConfigError` naming the key."""
    def need(cond, msg):
        if not cond:
            raise ConfigError(msg)

    need(cfg.data.source in DATA_SOURCES, f"data.source must be one of {DATA_SOURCES}, got {cfg.data.source!r}.")
    need(cfg.val.source in DATA_SOURCES, f"val.source must be one of {DATA_SOURCES}, got {cfg.val.source!r}.")
    for sec in ("data", "val"):
        s = getattr(cfg, sec)
        need(s.gt_patch is None or (s.gt_patch > 0 and s.gt_patch % 4 == 0),
             f"{sec}.gt_patch must be a positive multiple of 4 (or null for whole frames), got {s.gt_patch}.")
    need(cfg.data.batch_size >= 1, f"data.batch_size must be >= 1, got {cfg.data.batch_size}.")
    need(cfg.data.clip_length >= 1, f"data.clip_length must be >= 1, got {cfg.data.clip_length}.")
    need(cfg.data.clips_per_sample >= 1, f"data.clips_per_sample must be >= 1, got {cfg.data.clips_per_sample}.")
    need(cfg.data.num_workers >= 0, f"data.num_workers must be >= 0, got {cfg.data.num_workers}.")
    need(cfg.val.best_metric in ("psnr", "ssim", "lpips"),
         f"val.best_metric must be psnr, ssim or lpips, got {cfg.val.best_metric!r}.")
    need(cfg.val.every >= 0 and cfg.val.max_windows >= 1, "val.every must be >= 0 and val.max_windows >= 1.")
    need(cfg.diffusion.form in ("paper", "consistent"),
         f"diffusion.form must be 'paper' or 'consistent', got {cfg.diffusion.form!r}.")
    need(cfg.diffusion.sigma_b2_max >= 0, "diffusion.sigma_b2_max is a variance and must be >= 0.")
    o = cfg.optim
    need(o.lr > 0, f"optim.lr must be > 0, got {o.lr}.")
    need(len(o.betas) == 2 and all(0 <= b < 1 for b in o.betas),
         f"optim.betas must be two numbers in [0, 1), got {o.betas}.")
    need(o.grad_clip is None or o.grad_clip > 0, f"optim.grad_clip must be > 0 or null, got {o.grad_clip}.")
    need(0 <= o.ema_decay < 1, f"optim.ema_decay must be in [0, 1), got {o.ema_decay}.")
    need(o.charbonnier_eps > 0, f"optim.charbonnier_eps must be > 0, got {o.charbonnier_eps}.")
    need(o.warmup_steps >= 0, f"optim.warmup_steps must be >= 0, got {o.warmup_steps}.")
    for i, s in enumerate(cfg.stages):
        need(s.train in STAGE_TRAINS, f"stages.{i}.train must be one of {STAGE_TRAINS}, got {s.train!r}.")
        need(s.steps >= 1, f"stages.{i}.steps must be >= 1, got {s.steps}.")
        need(s.lr is None or s.lr > 0, f"stages.{i}.lr must be > 0 or null, got {s.lr}.")
    r = cfg.runtime
    need(r.amp in AMP_MODES, f"runtime.amp must be one of {AMP_MODES}, got {r.amp!r}.")
    need(r.log_every >= 1 and r.ckpt_every >= 1, "runtime.log_every and runtime.ckpt_every must be >= 1.")
    need(r.keep_last >= 1, f"runtime.keep_last must be >= 1, got {r.keep_last}.")
    need(r.max_minutes is None or r.max_minutes > 0,
         f"runtime.max_minutes must be > 0 (or null for no budget), got {r.max_minutes}.")
    try:
        mc = cfg.model_config()
    except ValueError as err:
        raise ConfigError(f"model: {err}") from err
    for i, s in enumerate(cfg.stages):
        need(s.train != "memory" or mc.category,
             f"stages.{i} ({s.name!r}) trains 'memory' but model.category is false: the model has no CaTeGory. "
             f"Switch it on (model.category=true) or drop the stage.")


#: Keys that may differ between a checkpoint's config and a resumed run's (they change how the loop runs,
#: not what it computes).
RESUME_FREE_KEYS = ("runtime.cpu_threads", "data.num_workers", "data.pin_memory", "data.prefetch_factor",
                    "runtime.progress", "runtime.log_every", "runtime.ckpt_every", "runtime.keep_last",
                    "runtime.device", "runtime.compile", "runtime.max_minutes", "val.every", "val.lpips")


def config_differences(a: dict, b: dict, ignore=()) -> list[str]:
    """Dotted keys whose values differ between two config dicts (``a`` vs ``b``), as ``key: a -> b``."""
    fa, fb = dict(_flatten_all(a)), dict(_flatten_all(b))
    out = []
    for k in sorted(set(fa) | set(fb)):
        if any(k == i or k.startswith(i + ".") for i in ignore):
            continue
        if fa.get(k, "<absent>") != fb.get(k, "<absent>"):
            out.append(f"{k}: {fa.get(k, '<absent>')!r} -> {fb.get(k, '<absent>')!r}")
    return out


def _flatten_all(d, prefix=""):
    if isinstance(d, dict):
        for k, v in d.items():
            yield from _flatten_all(v, f"{prefix}{k}.")
    elif isinstance(d, list):
        for i, v in enumerate(d):
            yield from _flatten_all(v, f"{prefix}{i}.")
    else:
        yield prefix.rstrip("."), d
