"""Checkpoints: plain state dicts, written atomically, with the config and the kit version inside.

A checkpoint is a dict of tensors and plain Python values only, so ``torch.load(path, weights_only=True)``
reads it (no pickled classes, no code runs on load)::
    {"format": CHECKPOINT_FORMAT, "kit_version": "0.1.0", "torch_version": ...,
     "config": TrainConfig.to_dict(), "model_config": ModelConfig.to_dict(),
     "model": state_dict, "ema": state_dict, "optimizer": state_dict, "scheduler": state_dict,
     "step": int (optimiser steps done), "stage": int, "epoch": int, "batch_in_epoch": int,
     "rng": {"torch", "numpy", "python", "cuda"}, "metrics": {...}, "best": {...}}

Writing goes through :func:`seeclear_lite.utils.io.atomic_torch_save` (temp file, then rename), so an
interrupted run never leaves a half-written file; each checkpoint has its resolved config beside it as
``<name>.config.yaml``. :class:`CheckpointManager` keeps the last N step checkpoints and ``best.pt``.

Loading a checkpoint of another configuration or kit version fails with a :class:`CheckpointError` that
lists the differences.
"""

from __future__ import annotations

import pickle
import random
import re
from pathlib import Path

import numpy as np
import torch

from .. import __version__
from ..config import ConfigError, RESUME_FREE_KEYS, TrainConfig, config_differences
from ..models import build_model
from ..utils.io import atomic_torch_save, atomic_write_text

#: Format 2: the model is one ``SeeClear`` (children condenser / incam / memory) and the config has a
#: ``diffusion`` section holding T and the eta schedule. Format 1 (a PixelCondenser with hook modules) is upgraded
#: on load (:func:`upgrade_v1`).
CHECKPOINT_FORMAT = "seeclear_lite.checkpoint/2"
#: The reference model the kit ships (``small`` preset, trained on a 2-core CPU; README "The reference model").
SHIPPED_CHECKPOINT = Path(__file__).resolve().parents[2] / "data" / "checkpoints" / "small.pt"
FORMAT_V1 = "seeclear_lite.checkpoint/1"
STEP_PATTERN = re.compile(r"^step_(\d+)\.pt$")


class CheckpointError(ValueError):
    """A checkpoint that cannot be used here (other format, kit version or configuration)."""


# --------------------------------------------------------------------------------------------- RNG states
def capture_rng_state() -> dict:
    """torch (CPU), CUDA (every device, if any), numpy's and Python's global generators, as tensors/ints."""
    np_state = np.random.get_state()
    py_state = random.getstate()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": {"keys": torch.from_numpy(np_state[1].astype(np.int64)), "pos": int(np_state[2]),
                  "has_gauss": int(np_state[3]), "cached_gaussian": float(np_state[4])},
        "python": {"version": int(py_state[0]), "state": torch.tensor(py_state[1], dtype=torch.int64),
                   "gauss": py_state[2]},
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }
    return state


def restore_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state(("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"],
                         n["cached_gaussian"]))
    p = state["python"]
    random.setstate((p["version"], tuple(int(v) for v in p["state"].tolist()), p["gauss"]))
    if state.get("cuda") and torch.cuda.is_available():
        if len(state["cuda"]) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(state["cuda"])
        else:  # another GPU count: the per-device states cannot be matched; seed each from the first
            for i in range(torch.cuda.device_count()):
                torch.cuda.set_rng_state(state["cuda"][0], i)


# --------------------------------------------------------------------------------------------- save / load
def config_sidecar(path: str | Path) -> Path:
    """``run/checkpoints/step_000100.pt`` -> ``run/checkpoints/step_000100.config.yaml``."""
    path = Path(path)
    return path.with_name(path.stem + ".config.yaml")


def save_checkpoint(path: str | Path, state: dict, config: TrainConfig) -> Path:
    """Write ``state`` (model/ema/optimizer/... entries) with format, versions and config, atomically,
    plus the resolved config beside it. Returns the path."""
    ckpt = {"format": CHECKPOINT_FORMAT, "kit_version": __version__, "torch_version": str(torch.__version__),
            "config": config.to_dict(), **state}
    path = atomic_torch_save(ckpt, path)
    atomic_write_text(config_sidecar(path), config.to_yaml())
    return path


def load_checkpoint(path: str | Path, expect: TrainConfig | dict | None = None, ignore=RESUME_FREE_KEYS,
                    map_location="cpu", check_version: bool = True) -> dict:
    """Read a checkpoint with ``weights_only=True`` and check it.

    ``expect``: the configuration it must have been trained with (keys in ``ignore`` may differ); the
    kit version must match unless ``check_version=False``. Raises :class:`CheckpointError` otherwise."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Checkpoint not found: {path}. Checkpoints are written to <out>/checkpoints/ "
                                f"(step_XXXXXXXX.pt, best.pt); pass one of them or --resume auto.")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        raise CheckpointError(f"{path} holds pickled Python objects besides tensors, which the kit never loads (loading "
                              f"them can run code): it was not written by `train` or `export`; pass a checkpoint "
                              f"written by the kit.") from None
    except Exception as err:
        raise CheckpointError(f"Could not read {path} as a SeeClear-lite checkpoint ({type(err).__name__}: "
                              f"{_first_line(err)}): the file is damaged or not a checkpoint; pass one written by "
                              f"`python -m seeclear_lite train` or `export`.") from None
    if isinstance(ckpt, dict) and ckpt.get("format") == FORMAT_V1:
        ckpt = upgrade_v1(ckpt, path)
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        got = ckpt.get("format") if isinstance(ckpt, dict) else type(ckpt).__name__
        raise CheckpointError(f"{path} is not a SeeClear-lite checkpoint of format {CHECKPOINT_FORMAT!r} "
                              f"(found {got!r}).")
    missing = [k for k in ("config", "model") if not isinstance(ckpt.get(k), dict)]
    if missing:
        raise CheckpointError(f"{path} has no {' and no '.join(repr(k) for k in missing)} entry (a kit checkpoint "
                              f"holds its config and weights): it was changed or written by other code; pass a "
                              f"checkpoint as `train` or `export` wrote it.")
    try:
        TrainConfig.from_dict(ckpt["config"])
    except (ConfigError, KeyError, TypeError, ValueError) as err:
        raise CheckpointError(f"{path}: the configuration stored in it is not valid ({_first_line(err)}); the file "
                              f"was edited or written by other code: use a checkpoint as `train` or `export` wrote "
                              f"it.") from None
    if check_version and ckpt.get("kit_version") != __version__:
        raise CheckpointError(f"{path} was written by SeeClear-lite {ckpt.get('kit_version')} but this is "
                              f"{__version__}: the model code may differ. Use the kit version it was trained "
                              f"with, or retrain with this one.")
    if expect is not None:
        want = expect.to_dict() if isinstance(expect, TrainConfig) else expect
        diffs = config_differences(ckpt["config"], want, ignore=ignore)
        if diffs:
            shown = "\n  ".join(diffs[:12]) + ("\n  ..." if len(diffs) > 12 else "")
            raise CheckpointError(f"{path} was trained with another configuration (checkpoint -> this run):\n  "
                                  f"{shown}\nResume with the same preset and overrides (the checkpoint's config is "
                                  f"in {config_sidecar(path).name}), or start a new run in another --out folder.")
    return ckpt


def _first_line(err: BaseException) -> str:
    """The first line of an error's message, without terminal colour codes."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(err)).strip()
    return text.splitlines()[0] if text else type(err).__name__


#: What `train --resume` needs besides the weights (an export has none of it).
RESUME_KEYS = ("ema", "optimizer", "scheduler", "step", "stage", "epoch", "batch_in_epoch", "rng")


def check_resumable(path: str | Path) -> None:
    """Refuse, in one line, a file that ``train --resume`` cannot continue (an export: weights only)."""
    ckpt = load_checkpoint(path)
    missing = [k for k in RESUME_KEYS if k not in ckpt]
    if missing:
        what = "an export (weights only)" if ckpt.get("exported_from") or ckpt.get("weights") else "incomplete"
        raise CheckpointError(f"--resume {path}: the file is {what}, without the optimiser and data position a resume "
                              f"continues from (no {missing[0]!r}); to fine-tune from its weights start a new run with "
                              f"--init {path} instead.")


def check_finite(state: dict, path, what: str = "weights") -> None:
    """Refuse a state dict with NaN or inf values: a model made of them samples garbage without a word."""
    bad = [(k, int((~torch.isfinite(v)).sum())) for k, v in state.items()
           if isinstance(v, torch.Tensor) and v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        n = sum(c for _, c in bad)
        raise CheckpointError(f"{path}: its {what} hold {n} NaN/inf values in {len(bad)} tensors (first: {bad[0][0]}): "
                              f"the run diverged before this save; use an earlier checkpoint of the run.")


def load_weights(model, state: dict, path) -> None:
    """``model.load_state_dict(state)`` with a one-line error when the weights do not fit the configuration."""
    result = model.state_dict()
    missing = [k for k in result if k not in state]
    extra = [k for k in state if k not in result]
    shapes = [k for k in result if k in state and tuple(state[k].shape) != tuple(result[k].shape)]
    if missing or extra or shapes:
        parts = [f"{len(x)} {what} (e.g. {x[0]!r})" for x, what in ((missing, "missing"), (extra, "unexpected"),
                                                                   (shapes, "of another shape")) if x]
        raise CheckpointError(f"{path}: the weights do not fit the configuration stored with them ({'; '.join(parts)}); "
                              f"the file was changed or written by other code: use a checkpoint as `train` wrote it.")
    model.load_state_dict(state)


def default_checkpoint() -> Path:
    """The shipped reference model, for commands whose ``--checkpoint`` is not given."""
    if not SHIPPED_CHECKPOINT.is_file():
        raise FileNotFoundError(f"no --checkpoint given and the shipped model {SHIPPED_CHECKPOINT} is missing: pass "
                                f"--checkpoint PATH (e.g. <train out>/checkpoints/best.pt).")
    return SHIPPED_CHECKPOINT


def checkpoint_config(ckpt: dict) -> TrainConfig:
    """The :class:`TrainConfig` stored in a loaded checkpoint."""
    return TrainConfig.from_dict(ckpt["config"])


def load_model(path: str | Path, use_ema: bool = True, device=None, check_version: bool = True):
    """``(model, config, ckpt)``: the network of a checkpoint (EMA weights by default), in eval mode."""
    ckpt = load_checkpoint(path, check_version=check_version)
    cfg = checkpoint_config(ckpt)
    model = build_model(cfg.model)
    weights = ckpt["ema"] if use_ema and ckpt.get("ema") is not None else ckpt["model"]
    check_finite(weights, path, "EMA weights" if weights is ckpt.get("ema") else "weights")
    load_weights(model, weights, path)
    if device is not None:
        model.to(device)
    return model.eval(), cfg, ckpt


# --------------------------------------------------------------------------------------------- rotation
class CheckpointManager:
    """``<dir>/step_XXXXXXXX.pt`` (the last ``keep_last`` kept) and ``<dir>/best.pt``."""

    def __init__(self, directory: str | Path, keep_last: int = 3):
        self.dir = Path(directory)
        self.keep_last = int(keep_last)

    def step_path(self, step: int) -> Path:
        return self.dir / f"step_{step:08d}.pt"

    @property
    def best_path(self) -> Path:
        return self.dir / "best.pt"

    def step_checkpoints(self) -> list[Path]:
        if not self.dir.is_dir():
            return []
        found = [(int(m.group(1)), p) for p in self.dir.iterdir() if (m := STEP_PATTERN.match(p.name))]
        return [p for _, p in sorted(found)]

    def latest(self) -> Path | None:
        ckpts = self.step_checkpoints()
        return ckpts[-1] if ckpts else None

    def loadable_before(self, path: Path) -> Path | None:
        """The newest step checkpoint older than ``path`` that reads and holds finite weights, or None."""
        for p in reversed([c for c in self.step_checkpoints() if c != Path(path)]):
            try:
                ck = load_checkpoint(p)
                check_finite(ck["model"], p)
                return p
            except (CheckpointError, KeyError):
                continue
        return None

    def save(self, step: int, state: dict, config: TrainConfig) -> Path:
        path = save_checkpoint(self.step_path(step), state, config)
        for old in self.step_checkpoints()[:-self.keep_last]:
            old.unlink(missing_ok=True)
            config_sidecar(old).unlink(missing_ok=True)
        return path

    def save_best(self, state: dict, config: TrainConfig) -> Path:
        return save_checkpoint(self.best_path, state, config)


# --------------------------------------------------------------------------------------------- format 1
#: The named network sizes of format 1 (``model.name``), and its CaTeGory sizes (other names used ``tiny``'s).
_V1_NETS = {
    "tiny": dict(channels=10, lr_channels=10, head_dim=10, window=4, tokens_k=8, token_dim=32),
    "base": dict(channels=32, lr_channels=32, head_dim=32, window=8, tokens_k=16, token_dim=64),
    "paper": dict(channels=180, lr_channels=90, head_dim=36, window=8, tokens_k=32, token_dim=256),
}
_V1_MEMORY = {
    "tiny": dict(groups=4, items=8, texture_dim=32, heads=2, depth=1, ffn_mult=2, feat_pool=8),
    "base": dict(groups=8, items=16, texture_dim=64, heads=4, depth=1, ffn_mult=2, feat_pool=16),
    "paper": dict(groups=16, items=32, texture_dim=384, heads=8, depth=2, ffn_mult=4, feat_pool=16),
}
_V1_DIFFUSION = ("T", "kappa", "eta_power", "min_noise_level", "etas_end")
_V1_INCAM = ("tokens_k", "token_dim", "seg_channels")
#: Key renames of format 1's state dicts (old prefix -> new prefix), tried in order.
_V1_KEYS = (("middle_hooks.", "incam.middle."), ("decoder_hooks.", "incam.decoder."),
            ("clip_token_builder.", "incam.clip_tokens."), ("extras.category.", "memory."))
_V1_MEMORY_KEYS = ((".to_q.", ".q."), (".to_k.", ".k."), (".to_v.", ".v."), (".to_out.", ".out."),
                   (".ffn1.net.0.", ".norm_ffn1."), (".ffn1.net.1.", ".ffn1.0."), (".ffn1.net.3.", ".ffn1.2."),
                   (".ffn2.net.0.", ".norm_ffn2."), (".ffn2.net.1.", ".ffn2.0."), (".ffn2.net.3.", ".ffn2.2."))


def upgrade_v1_state_dict(state: dict) -> dict:
    """A format-1 ``PixelCondenser`` state dict -> the ``SeeClear`` one (same tensors, new names)."""
    out = {}
    for key, value in state.items():
        new = next((n + key[len(o):] for o, n in _V1_KEYS if key.startswith(o)), "condenser." + key)
        if new.startswith("memory."):
            for o, n in _V1_MEMORY_KEYS:
                new = new.replace(o, n)
        out[new] = value
    return out


def upgrade_v1_config(old: dict) -> dict:
    """A format-1 training config -> format 2: ``model.name`` + ``model.overrides`` become the network's own
    fields, T and the eta schedule move to ``diffusion``."""
    new = {k: v for k, v in old.items() if k not in ("model", "diffusion", "runtime")}
    name, over = old["model"]["name"], dict(old["model"].get("overrides") or {})
    if name not in _V1_NETS:
        raise ConfigError(f"model.name {name!r} is not a format-1 network ({', '.join(_V1_NETS)}).")
    if not over.pop("normalize_input", True):
        raise ConfigError("model.normalize_input=false has no equivalent any more (the diffusion scales x_t).")
    net = {**_V1_NETS[name], **over}
    model = {k: v for k, v in net.items() if k not in _V1_DIFFUSION + _V1_INCAM}
    model["incam_sizes"] = {k: net[k] for k in _V1_INCAM if k in net}
    if model["incam_sizes"].get("seg_channels") == net["tokens_k"] + 4 or not any(
            net.get(s) for s in ("semantic_condition", "mfsa", "incam", "category")):
        model["incam_sizes"].pop("seg_channels", None)
    model["memory_sizes"] = dict(_V1_MEMORY.get(name, _V1_MEMORY["tiny"]))
    new["model"] = model
    new["diffusion"] = {**old.get("diffusion", {}), **{k: net[k] for k in _V1_DIFFUSION if k in net}}
    new["runtime"] = {**old.get("runtime", {}), "fast": False}
    return new


def upgrade_v1(ckpt: dict, path: Path) -> dict:
    """Load a checkpoint written before the ``SeeClear`` module (format 1): same weights, new names."""
    try:
        cfg = upgrade_v1_config(ckpt["config"])
        TrainConfig.from_dict(cfg)
    except (ConfigError, KeyError, TypeError) as err:
        raise CheckpointError(f"{path} is a format-1 checkpoint whose config cannot be upgraded ({err}); retrain "
                              f"it with this kit version.") from None
    # the parameters keep their order (condenser, InCAM, CaTeGory), so the optimiser state stays valid
    out = {k: v for k, v in ckpt.items() if k != "model_config"}
    out.update(format=CHECKPOINT_FORMAT, config=cfg, kit_version=__version__, upgraded_from=FORMAT_V1)
    for key in ("model", "ema"):
        if isinstance(ckpt.get(key), dict):
            out[key] = upgrade_v1_state_dict(ckpt[key])
    return out
