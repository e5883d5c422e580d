"""Checks that ``train`` runs before it writes or deletes anything, ``--init`` (a new run from trained weights),
and ``--overwrite`` as a swap: the old run is moved aside, not deleted, until the new one has a checkpoint.

- :func:`check_data_roots`: a ``data.root`` / ``val.root`` is either read or refused (the ``samples`` source reads
  the committed sample clips and nothing else).
- :func:`preflight`: after the :class:`~.engine.Trainer` is built (model, optimiser-free, dataset; nothing written
  yet), one network call on one real training clip (shape errors such as ``model.channels=1`` surface here) and
  the validation windows (``val.gt_patch`` larger than the clips) are checked; the global RNG states are left
  as they were, so a run with the check trains exactly as one without it.
- :func:`init_weights` / :func:`apply_init`: the weights (EMA when the file has them) of a checkpoint or an export
  as the starting point of a fresh run: optimiser, schedule and step start anew.
- :class:`ReplacedRun`: ``--overwrite`` moves the old run's files into ``<out>/.replaced-<pid>-*/``; they come back
  when the new run fails or is interrupted before its first checkpoint, and are deleted once it has one.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import torch

from ..config import TrainConfig, config_differences
from ..data.samples import sample_root
from ..utils.io import atomic_write_text, sha256_file
from .checkpoint import (CheckpointError, capture_rng_state, check_finite, checkpoint_config, load_checkpoint,
                         load_weights, restore_rng_state)
from .ema import EMA
from .engine import RUN_FILES
from .losses import diffusion_loss
from .step import prepare_batch
from .validation import Validator

#: Written by ``train --init`` into the run folder: where the starting weights came from.
INIT_RECORD = "init.json"
#: Everything a run writes into its folder (what ``--overwrite`` replaces).
REPLACED = RUN_FILES + (INIT_RECORD,)


def check_data_roots(cfg: TrainConfig) -> None:
    """Refuse a ``data.root`` / ``val.root`` that the configured source would ignore."""
    for name, section in (("data", cfg.data), ("val", cfg.val)):
        if section.source == "samples" and section.root is not None:
            raise ValueError(f"{name}.root={section.root} is not read: {name}.source=samples uses the committed sample "
                             f"clips only; to use {section.root}, pass {name}.source=basicsr (<root>/GT/<clip>/) or "
                             f"{name}.source=corpus / pack, or drop {name}.root.")
        if section.root is not None and not Path(section.root).exists():
            raise FileNotFoundError(f"{name}.root={section.root} does not exist: give the dataset's folder (or the "
                                    f"pack's .npz file).")


def check_config_file(path) -> None:
    """A ``--config-file`` must be a text file (YAML or JSON); say so in one line when it is not."""
    if path is None:
        return
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"--config-file {path} does not exist (or is a folder): give a YAML or JSON file of "
                                f"overrides, e.g. a run's config.yaml.")
    data = path.read_bytes()
    try:
        if b"\x00" in data:
            raise UnicodeDecodeError("utf-8", data, 0, 1, "NUL byte")
        data.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"--config-file {path} is not a text file (it holds binary data): give a YAML or JSON file "
                         f"of overrides, e.g. 'optim: {{lr: 1.0e-4}}', or a run's config.yaml.") from None


def data_inputs(cfg: TrainConfig) -> list[tuple[str, object]]:
    """The dataset paths a configuration reads, as ``(name, path)`` for :func:`~seeclear_lite.utils.lock.refuse_overlap`."""
    out = []
    for name, section in (("data.root", cfg.data), ("val.root", cfg.val)):
        if section.source == "samples":
            out.append(("the sample clips", sample_root()))
        elif section.root is not None:
            out.append((name, section.root))
    return out


def preflight(trainer) -> None:
    """One forward pass on one training clip and the validation windows, before anything is written."""
    state = capture_rng_state()
    try:
        if len(trainer.dataset) < 1:
            raise ValueError("the training data holds no window of data.clip_length frames: check data.clips / "
                             "data.root, or lower data.clip_length.")
        item = trainer.dataset[0]
        batch = {k: v[None] for k, v in item.items() if torch.is_tensor(v)}
        model = trainer.model
        was_training = model.training
        try:
            with torch.no_grad():
                x0, y = prepare_batch(batch, trainer.diffusion, trainer.device)
                m = trainer.cfg.data.clip_length
                x0, y, lr = x0[:, :m], y[:, :m], batch["lr"][:, :m].to(trainer.device)
                t = torch.full((1,), trainer.diffusion.T, dtype=torch.long, device=trainer.device)
                model.eval()
                cond = model.condition(lr, y, None)
                diffusion_loss(model, trainer.diffusion, x0, y, t, torch.zeros_like(x0), cond)
        except RuntimeError as err:      # shapes that do not fit: the configuration, not the machine
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            if "out of memory" in first.lower() or "alloc" in first.lower():
                raise MemoryError(f"one training clip does not fit in memory on {trainer.device} ({first}): lower "
                                  f"data.gt_patch or the model's size.") from None
            raise ValueError(f"the model of this configuration cannot run ({first}); model.* sizes that do not fit "
                             f"each other (e.g. model.channels too small for model.head_dim) are the usual cause: "
                             f"start from a preset's values.") from None
        finally:
            model.train(was_training)
        if trainer.cfg.val.every > 0 and trainer.main and trainer.validator is None:
            trainer.validator = Validator(trainer.cfg, trainer.diffusion, trainer.device, log=trainer.log)
    finally:
        restore_rng_state(state)


# ---------------------------------------------------------------------------------------------- --init
def init_weights(path, cfg: TrainConfig) -> tuple[dict, dict]:
    """``(state_dict, record)``: the EMA weights (else the raw ones) of the checkpoint or export at ``path``, checked
    to be finite and to belong to the same model configuration as ``cfg``."""
    path = Path(path)
    ckpt = load_checkpoint(path, check_version=False)
    use_ema = ckpt.get("ema") is not None
    weights = ckpt["ema"] if use_ema else ckpt["model"]
    check_finite(weights, path, "EMA weights" if use_ema else "weights")
    diffs = config_differences({"model": checkpoint_config(ckpt).to_dict()["model"]}, {"model": cfg.to_dict()["model"]})
    if diffs:
        raise CheckpointError(f"--init {path}: its model differs from this run's ({'; '.join(diffs[:3])}"
                              f"{'; ...' if len(diffs) > 3 else ''}): start from its preset "
                              f"(--config {ckpt['config'].get('preset', '?')}) with the same model.* overrides.")
    record = {"init_from": str(path), "sha256": sha256_file(path), "step": int(ckpt.get("step", 0) or 0),
              "weights": "EMA" if use_ema else "raw", "kit_version": ckpt.get("kit_version")}
    return {k: v.float() if v.is_floating_point() else v for k, v in weights.items()}, record


def apply_init(trainer, weights: dict, path) -> None:
    """Load ``weights`` into the trainer's model and start its EMA from them (a fresh run otherwise)."""
    load_weights(trainer.model, weights, path)
    trainer.ema = EMA(trainer.model, trainer.cfg.optim.ema_decay)


def write_init_record(out: Path, record: dict) -> None:
    atomic_write_text(Path(out) / INIT_RECORD, json.dumps(record, indent=1) + "\n")


# ---------------------------------------------------------------------------------------------- --overwrite
class ReplacedRun:
    """The old run of ``out`` moved aside (a rename per file) while the new one starts; see the module docstring."""

    PREFIX = ".replaced-"

    def __init__(self, out: Path):
        self.out = Path(out)
        self.aside: Path | None = None

    def move_aside(self) -> None:
        found = [n for n in REPLACED if (self.out / n).exists()]
        if not found:
            return
        self.aside = Path(tempfile.mkdtemp(prefix=f"{self.PREFIX}{os.getpid()}-", dir=self.out))
        for n in found:
            os.replace(self.out / n, self.aside / n)

    def new_run_has_checkpoint(self) -> bool:
        d = self.out / "checkpoints"
        return d.is_dir() and any(p.suffix == ".pt" for p in d.iterdir())

    def finish(self, ok: bool) -> bool:
        """The new run succeeded (or has a checkpoint): drop the old one. Otherwise put the old one back.
        Returns True when the old run was restored."""
        if self.aside is None:
            return False
        aside, self.aside = self.aside, None
        if ok or self.new_run_has_checkpoint():
            shutil.rmtree(aside, ignore_errors=True)
            return False
        for n in REPLACED:                 # what the failed new run wrote (config.yaml, history) goes first
            p = self.out / n
            if p.is_dir():
                shutil.rmtree(p)
            elif p.exists():
                p.unlink()
        for p in aside.iterdir():
            os.replace(p, self.out / p.name)
        aside.rmdir()
        return True
