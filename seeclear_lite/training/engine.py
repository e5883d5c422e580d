"""The training loop of SeeClear-lite (Sec. 4.1), the same code on a laptop CPU and on one or many GPUs.

One step (Eq. 25 and the Charbonnier loss of Sec. 4.1):
1. a global batch of m-frame clips (:class:`~.batches.ResumableBatchSampler`; each process loads its slice);
2. ``x0`` = HR frames, ``y`` = bicubic-upsampled LR frames, both in [-1, 1] (``step.prepare_batch``);
3. per clip, t ~ U{1..T} and the noise are drawn from a generator seeded by (seed, step, position of the clip
   in the global batch), so the draws do not depend on the process count or on any global RNG;
4. ``cond = model.condition(lr, y)``, then :func:`~.losses.diffusion_loss`: ``x_t = q_sample(x0, y, t, noise)``
   (Eq. 25), ``x0_hat = model(scale_model_input(x_t, t), y, t, cond)`` (bf16 autocast on CUDA, fp32 on the CPU),
   Charbonnier(x0_hat, x0);
5. NaN/inf guard (all processes agree), backward, global gradient-norm clipping, Adam(0.5, 0.999), cosine LR
   with warm-up, EMA of the weights.

Around it: the three training stages of Sec. 4.1 (:class:`~.config.Stage`), a tqdm bar with loss / LR /
throughput, a CSV + JSON history (loss, LR, gradient norm, data and compute time, validation PSNR / SSIM /
LPIPS), checkpoints with exact resume (model, EMA, optimiser, scheduler, step, RNG states, data order),
DistributedDataParallel under torchrun.

The loss, optimiser and schedule are the ones of :mod:`.losses` and :mod:`.step`; the engine composes its own
step instead of calling ``step.train_step`` because it needs the per-clip draws (3), autocast, the memory
carried across clips and the guard between backward and the optimiser step.
"""

from __future__ import annotations

import json
import math
import random
import shutil
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from ..config import TrainConfig
from ..diffusion import BlurringResShift
from ..models import build_model
from ..utils import get_device
from ..utils.device import device_name, set_channels_last
from ..utils.io import atomic_write_text, clean_stale, csv_text
from . import distributed as dist_utils
from .checkpoint import (CheckpointError, CheckpointManager, capture_rng_state, check_finite, load_checkpoint,
                         load_weights, restore_rng_state)
from .ema import EMA
from .losses import PerceptualLoss, diffusion_loss, sampler_loss
from .batches import ResumableBatchSampler
from .step import make_optimizer, make_scheduler, prepare_batch, sample_timesteps
from ..data.build import build_dataset
from .validation import Validator

#: Columns of ``history.csv`` (``history.json`` holds the same rows).
HISTORY_FIELDS = ("step", "stage", "epoch", "loss", "lr", "grad_norm", "clips_per_s", "data_s", "compute_s",
                  "val_psnr", "val_ssim", "val_lpips", "val_first_psnr", "val_first_lpips", "val_seconds", "wall_s")


def history_csv(rows) -> str:
    """History rows as CSV text with the columns of :data:`HISTORY_FIELDS` (empty where a row has no value)."""
    return csv_text(rows, HISTORY_FIELDS)


def selection_value(metrics: dict, best_metric: str) -> float | None:
    """The number a run's best step is chosen by (``val.best_metric``): one validation metric, or for
    ``psnr_lpips`` PSNR - 20 LPIPS of the default output, a stated exchange rate (0.05 LPIPS = 1 dB) so
    that a step that buys PSNR with blur, or texture with noise, does not win alone."""
    if best_metric == "psnr_lpips":
        p, lp = metrics.get("val_psnr"), metrics.get("val_lpips")
        return None if p is None or lp is None else p - 20.0 * lp
    return metrics.get("val_" + best_metric)


def _new_window() -> dict:
    return {"data": 0.0, "compute": 0.0, "clips": 0, "n": 0, "loss": 0.0}


class NonFiniteLossError(FloatingPointError):
    """The loss (or the gradient norm) became NaN or inf; the message names the step and the last good checkpoint."""


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def stream_seed(*keys: int) -> int:
    """A 63-bit seed that is a pure function of the non-negative integer ``keys`` (NumPy's SeedSequence)."""
    return int(np.random.SeedSequence(list(keys)).generate_state(1, dtype=np.uint64)[0] >> 1)


def clip_seed(seed: int, step: int, position: int) -> int:
    """The seed of the draws (t, noise) of the clip at ``position`` of the global batch of ``step``."""
    return stream_seed(seed, step, position)


def resolve_device(cfg: TrainConfig) -> torch.device:
    return get_device(device=cfg.runtime.device)


class Trainer:
    """Train ``cfg`` into ``out_dir`` (``checkpoints/``, ``history.csv``, ``history.json``, ``config.yaml``).

    ``resume``: a checkpoint path, ``"auto"`` (the latest in ``out_dir/checkpoints``, if any) or None. A folder
    that holds another run is refused unless ``resume`` or ``overwrite`` (which replaces that run's files when
    :meth:`fit` starts, after every check has passed). Call :meth:`fit`; ``stop_at`` ends early at that global
    step (used by tests to stop and resume).
    """

    def __init__(self, cfg: TrainConfig, out_dir, *, resume=None, device: torch.device | None = None, log=print,
                 overwrite: bool = False):
        self.cfg, self.out = cfg, Path(out_dir)
        self.overwrite = bool(overwrite) and resume is None
        check_run_folder(self.out, resume, overwrite)
        self.info, device = dist_utils.init_distributed(device if device is not None else resolve_device(cfg))
        self.device = device if device is not None else resolve_device(cfg)
        self.main = self.info.is_main
        self.log = log if self.main else (lambda *a, **k: None)
        if cfg.data.batch_size % self.info.world_size:
            raise ValueError(f"data.batch_size={cfg.data.batch_size} (the global batch) is not divisible by the "
                             f"{self.info.world_size} processes; choose a multiple.")
        self.local_batch = cfg.data.batch_size // self.info.world_size
        if cfg.runtime.deterministic:
            torch.use_deterministic_algorithms(True)
        if cfg.runtime.cpu_threads is not None:
            torch.set_num_threads(cfg.runtime.cpu_threads)
        seed_everything(cfg.seed)

        self.diffusion = BlurringResShift.from_config(cfg.diffusion)
        self.model = build_model(cfg.model).to(self.device)
        if cfg.runtime.channels_last or (cfg.runtime.fast and self.device.type == "cpu"):
            self.model = set_channels_last(self.model)                       # the CPU fast path (see `bench`)
        self.ema = EMA(self.model, cfg.optim.ema_decay)
        self.amp = cfg.runtime.amp == "bf16" or (cfg.runtime.amp == "auto" and self.device.type == "cuda")

        o = cfg.optim
        self.perceptual = (PerceptualLoss(o.perceptual_weight, o.perceptual_net, o.perceptual_t, self.device)
                           if o.perceptual_weight > 0 else None)
        self.dataset = build_dataset(cfg.data, cfg, train=True)
        self.batches = ResumableBatchSampler(len(self.dataset), cfg.data.batch_size, seed=cfg.seed,
                                             rank=self.info.rank, world_size=self.info.world_size)
        self.ckpts = CheckpointManager(self.out / "checkpoints", cfg.runtime.keep_last)
        if self.main:   # the only writer; another rank cleaning could delete rank 0's write in flight
            clean_stale(self.out, ".*.tmp")                   # what an interrupted write left behind
            clean_stale(self.ckpts.dir, ".*.tmp")
        self.validator = None
        self.step, self.stage = 0, -1
        self.optimizer = self.scheduler = self.net = None
        self.history: list[dict] = []
        self.best: dict = {"metric": cfg.val.best_metric, "value": None, "step": None}
        self.last_good: Path | None = None
        # run totals, kept in checkpoints; "devices": where each training session ran (a resumed run may move)
        self.timing = {"data_s": 0.0, "compute_s": 0.0, "clips": 0, "steps": 0, "wall_s": 0.0, "devices": []}
        self._t_start = None
        if resume is not None:
            self._resume(resume)

    # ------------------------------------------------------------------------------------------ stages
    def _enter_stage(self, index: int) -> None:
        """Freeze/unfreeze for stage ``index``, a fresh Adam and cosine schedule, (re)wrap for DDP / compile."""
        self.stage = index
        st, o = self.cfg.stages[index], self.cfg.optim
        params = self.model.trainable(st.train)
        ids = {id(p) for p in params}
        for p in self.model.parameters():
            p.requires_grad_(id(p) in ids)
        self.optimizer = make_optimizer(params, lr=st.lr or o.lr, betas=tuple(o.betas), weight_decay=o.weight_decay)
        self.scheduler = make_scheduler(self.optimizer, st.steps, min(o.warmup_steps, st.steps), o.min_lr_factor)
        net = self.model
        if self.info.enabled:
            from torch.nn.parallel import DistributedDataParallel as DDP

            # (a depthwise conv's size-1 dim gives harmless "grad strides do not match bucket view" notes)
            warnings.filterwarnings("ignore", message="Grad strides do not match bucket view strides")
            net = DDP(net, device_ids=[self.device.index] if self.device.type == "cuda" else None,
                      find_unused_parameters=self.cfg.model.needs_semantics)
        if self.cfg.runtime.compile:
            net = torch.compile(net)
        self.net = net
        self.log(f"stage {index + 1}/{len(self.cfg.stages)} {st.name!r}: trains {st.train} "
                 f"({sum(p.numel() for p in params):,} parameters) for {st.steps} steps")

    # ------------------------------------------------------------------------------------------ one step
    def draws(self, step: int, x0: torch.Tensor, sub: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """(t [B], noise like x0) of this process's clips at ``step`` (see the module docstring, point 3);
        ``sub`` = index of the m-frame clip within a multi-clip sample."""
        k = self.cfg.data.clips_per_sample
        ts, noises = [], []
        for i in range(x0.shape[0]):
            position = (self.info.rank * self.local_batch + i) * k + sub
            g = torch.Generator(device=x0.device).manual_seed(clip_seed(self.cfg.seed, step, position))
            ts.append(sample_timesteps(1, self.diffusion.T, generator=g, device=x0.device))
            noises.append(torch.randn(x0.shape[1:], generator=g, device=x0.device, dtype=x0.dtype))
        return torch.cat(ts), torch.stack(noises)

    def compute_loss(self, batch: dict, step: int) -> torch.Tensor:
        """The Charbonnier loss of one local batch (Eq. 25 + Sec. 4.1), averaged over its m-frame clips.

        With ``data.clips_per_sample = k > 1`` a sample holds k consecutive clips: the CaTeGory memory is updated
        after each clip from its decoder features, without detaching (Algorithm 1 lines 42-44), and read by the
        next, so the loss of later clips trains the memory update M (Eqs. 16-18) as well as its read-out."""
        if self.device.type == "cuda":   # pinned host memory -> asynchronous copies
            batch = {k: v.to(self.device, non_blocking=True) if torch.is_tensor(v) else v for k, v in batch.items()}
        x0_all, y_all = prepare_batch(batch, self.diffusion, self.device)
        lr_all = batch["lr"].to(self.device)
        m, k = self.cfg.data.clip_length, self.cfg.data.clips_per_sample
        carry = k > 1 and self.model.memory is not None
        memory, total = None, 0.0
        for c in range(k):
            x0, y, lr = (v[:, c * m:(c + 1) * m] for v in (x0_all, y_all, lr_all))
            t, noise = self.draws(step, x0, c)
            with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp):
                cond = self.model.condition(lr, y, memory)                        # lines 5-7, 24
                loss, feats = diffusion_loss(self.net, self.diffusion, x0, y, t, noise, cond,
                                             eps=self.cfg.optim.charbonnier_eps, return_features=True,
                                             perceptual=self.perceptual)
                if self.cfg.optim.sampler_loss > 0:                               # the kit's, see losses.py
                    loss = loss + self.cfg.optim.sampler_loss * self._sampler_loss(step, x0, y, cond, c)
                if carry and c < k - 1:
                    memory = self.model.update_memory(memory, feats, cond, detach=False)   # lines 42-44
            total = total + loss
        return total / k

    def _sampler_loss(self, step: int, x0, y, cond, sub: int) -> torch.Tensor:
        """:func:`~.losses.sampler_loss` of this process's clips at ``step`` with the run's default chain; its draws
        come from their own stream (a pure function of seed, step and position: exact resume)."""
        position = self.info.rank * self.local_batch * self.cfg.data.clips_per_sample + sub
        g = torch.Generator(device=x0.device).manual_seed(stream_seed(self.cfg.seed, step, position, 1))
        d = self.cfg.diffusion
        return sampler_loss(self.net, self.diffusion, x0, y, cond, d.steps, form=d.form, generator=g,
                            eps=self.cfg.optim.charbonnier_eps, perceptual=self.perceptual)

    def _train_step(self, batch: dict) -> dict:
        self.model.train()
        loss = self.compute_loss(batch, self.step)
        self.optimizer.zero_grad(set_to_none=True)
        finite = bool(torch.isfinite(loss.detach()).item())
        if finite:
            loss.backward()
            params = [p for g in self.optimizer.param_groups for p in g["params"]]
            clip = self.cfg.optim.grad_clip
            gnorm = torch.nn.utils.clip_grad_norm_(params, clip if clip is not None else float("inf"))
            finite = bool(torch.isfinite(gnorm).item())
        if not dist_utils.all_true(finite, self.device):
            where = (f"the last good checkpoint is {self.last_good}" if self.last_good
                     else "no checkpoint was written yet")
            raise NonFiniteLossError(
                f"non-finite loss or gradient at step {self.step + 1} (stage {self.cfg.stages[self.stage].name!r}, "
                f"loss {float(loss.detach()):.4g}); training stopped without updating the weights, and {where}. "
                f"Lower optim.lr, keep optim.grad_clip on, or try runtime.amp=off; then --resume from that checkpoint.")
        lr = self.optimizer.param_groups[0]["lr"]
        self.optimizer.step()
        self.scheduler.step()
        self.ema.update(self.model, self.step)
        self.step += 1
        return {"loss": float(loss.detach()), "lr": lr, "grad_norm": float(gnorm)}

    # ------------------------------------------------------------------------------------------ state
    def state(self) -> dict:
        """Everything exact resume needs (plain tensors / numbers: weights_only-loadable)."""
        bpe = self.batches.batches_per_epoch
        return {"model": self.model.state_dict(), "ema": self.ema.state_dict(),
                "optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
                "step": self.step, "stage": self.stage, "epoch": self.step // bpe, "batch_in_epoch": self.step % bpe,
                "rng": capture_rng_state(), "best": dict(self.best),
                "history": [dict(r) for r in self.history], "timing": self._timing_now()}

    def _timing_now(self) -> dict:
        """The run's totals with ``wall_s`` (wall-clock time inside :meth:`fit`, validation and checkpoints
        included, summed over resumed sessions) brought up to now."""
        t = dict(self.timing)
        if getattr(self, "_t_start", None) is not None:
            t["wall_s"] = self._wall_before + time.perf_counter() - self._t_start
        return t

    def _resume(self, resume) -> None:
        path = self.ckpts.latest() if resume == "auto" else Path(resume)
        if path is None:
            self.log(f"--resume auto: no checkpoint in {self.ckpts.dir}, starting from step 0")
            return
        try:            # readable, and finite weights? (RNG states must stay on the CPU)
            ckpt = load_checkpoint(path, map_location="cpu")
            check_finite(ckpt["model"], path)
            check_finite(ckpt["ema"], path, "EMA weights")
        except CheckpointError as err:
            if resume != "auto":
                raise
            intact = self.ckpts.loadable_before(path)
            hint = (f" The earlier checkpoint {intact} loads: continue from it with --resume {intact} (and move "
                    f"{path.name} away)." if intact else " No earlier checkpoint of this run loads.")
            raise CheckpointError(f"{str(err).splitlines()[0]}{hint}") from None
        load_checkpoint(path, expect=self.cfg, map_location="cpu")   # the same configuration (errors list diffs)
        load_weights(self.model, ckpt["model"], path)
        self.ema.load_state_dict(ckpt["ema"])
        self.step = int(ckpt["step"])
        stage, _ = self.cfg.stage_at(self.step) if self.step < self.cfg.total_steps else (ckpt["stage"], 0)
        self._enter_stage(stage)
        if stage == ckpt["stage"]:   # a checkpoint at a stage boundary belongs to the previous stage's optimiser
            self.optimizer.load_state_dict(ckpt["optimizer"])
            self.scheduler.load_state_dict(ckpt["scheduler"])
        restore_rng_state(ckpt["rng"])
        self.best = dict(ckpt.get("best") or self.best)
        self.history = [dict(r) for r in ckpt.get("history", [])]
        self.timing.update(ckpt.get("timing", {}))
        self.last_good = path
        bpe = self.batches.batches_per_epoch
        if (ckpt["epoch"], ckpt["batch_in_epoch"]) != (self.step // bpe, self.step % bpe):
            raise ValueError(f"{path}: its data position (epoch {ckpt['epoch']}, batch {ckpt['batch_in_epoch']}) does "
                             f"not match this dataset's {bpe} batches per epoch: the training data changed.")
        self.log(f"resumed from {path} at step {self.step} (epoch {self.step // bpe}, batch {self.step % bpe})")

    # ------------------------------------------------------------------------------------------ loop
    def _loader(self, epoch: int, start_batch: int):
        self.batches.set_epoch(epoch, start_batch)
        self.dataset.set_epoch(epoch)
        d = self.cfg.data
        kw = {}
        if d.num_workers > 0:
            kw = dict(prefetch_factor=d.prefetch_factor, persistent_workers=False)
        # its own generator (seeded by seed and epoch): creating a loader never consumes the global RNG, so a
        # resumed run and a straight run stay in step
        gen = torch.Generator().manual_seed(stream_seed(self.cfg.seed, epoch))
        return DataLoader(self.dataset, batch_sampler=self.batches, num_workers=d.num_workers, generator=gen,
                          pin_memory=d.pin_memory and self.device.type == "cuda", **kw)

    def _validate(self) -> dict:
        if self.validator is None:
            self.validator = Validator(self.cfg, self.diffusion, self.device, log=self.log)
        net = build_model(self.cfg.model).to(self.device)
        self.ema.copy_to(net)
        return self.validator(net.eval())

    def _is_better(self, metrics: dict) -> bool:
        v = selection_value(metrics, self.cfg.val.best_metric)
        if v is None or not math.isfinite(v):
            return False
        old = self.best["value"]
        return old is None or (v < old if self.cfg.val.best_metric == "lpips" else v > old)

    def _write_history(self) -> None:
        atomic_write_text(self.out / "history.csv", history_csv(self.history))
        atomic_write_text(self.out / "history.json", json.dumps(
            {"config": self.cfg.to_dict(), "best": self.best, "timing": self.timing, "rows": self.history},
            indent=1) + "\n")

    def _save(self, metrics: dict | None) -> None:
        if self.main:
            state = self.state()
            self.last_good = self.ckpts.save(self.step, state, self.cfg)
            if metrics is not None and self._is_better(metrics):
                self.best.update(value=selection_value(metrics, self.cfg.val.best_metric), step=self.step)
                state["best"] = dict(self.best)
                self.ckpts.save_best(state, self.cfg)
            self._write_history()
        self.last_good = dist_utils.broadcast_object(str(self.last_good) if self.last_good else None)
        self.last_good = Path(self.last_good) if self.last_good else None

    def _account(self, data_s: float, compute_s: float, loss: float) -> None:
        """Add one step to the running window (for the next history row) and to the run's totals."""
        w, clips = self._window, self.cfg.data.batch_size
        w["data"] += data_s
        w["compute"] += compute_s
        w["clips"] += clips
        w["n"] += 1
        w["loss"] += loss
        for key, v in (("data_s", data_s), ("compute_s", compute_s), ("clips", clips), ("steps", 1)):
            self.timing[key] += v

    def _after_step(self, out: dict, epoch: int, end: int, bar, callback) -> bool:
        """History row, validation, progress bar and checkpoint after a step; True when the loader must stop
        (end of the run, of ``stop_at`` or of a stage)."""
        cfg, total = self.cfg, self.cfg.total_steps
        if self._deadline is not None and not self.out_of_time and time.perf_counter() >= self._deadline:
            self.out_of_time = True   # runtime.max_minutes spent: this step is the run's last (validated, saved)
            self.log(f"runtime.max_minutes={cfg.runtime.max_minutes:g} spent at step {self.step}: validating, "
                     f"saving and stopping (continue with --resume auto)")
        last = self.step in (end, total) or self.out_of_time
        do_val = cfg.val.every > 0 and (self.step % cfg.val.every == 0 or self.step == total or self.out_of_time)
        row = metrics = None
        if self.step % cfg.runtime.log_every == 0 or last or do_val:
            w = self._window
            busy = w["data"] + w["compute"]
            row = {"step": self.step, "stage": cfg.stages[self.stage].name, "epoch": epoch,
                   "loss": w["loss"] / w["n"],   # rank 0's share of the global batch, averaged over the window
                   "lr": out["lr"], "grad_norm": out["grad_norm"],
                   "clips_per_s": w["clips"] / busy if busy > 0 else None,
                   "data_s": w["data"] / w["n"], "compute_s": w["compute"] / w["n"],
                   "wall_s": time.perf_counter() - self._t_start}
            self._window = _new_window()
        if do_val and self.main:
            metrics = self._validate()
            row.update(metrics)
            lp = f", LPIPS {metrics['val_lpips']:.4f}" if metrics["val_lpips"] is not None else ""
            self.log(f"step {self.step}: val PSNR {metrics['val_psnr']:.2f} dB, SSIM {metrics['val_ssim']:.4f}{lp}")
        if row is not None:
            self.history.append(row)
            if callback is not None and self.main:
                callback(dict(row))
        if bar is not None:
            bar.update(1)
            if row is not None:
                bar.set_postfix(loss=f"{row['loss']:.4f}", lr=f"{row['lr']:.2e}",
                                clips_s=f"{row['clips_per_s']:.1f}" if row["clips_per_s"] else "-")
        if self.step % cfg.runtime.ckpt_every == 0 or last or do_val:
            self._save(metrics)
            dist_utils.barrier()
        return last or cfg.stage_at(self.step)[0] != self.stage

    def fit(self, stop_at: int | None = None, callback=None) -> dict:
        """Train until the end of the last stage (or global step ``stop_at``); returns a summary.

        ``callback(row)`` (rank 0) receives every history row as it is logged, e.g. to redraw a live loss plot
        in a notebook; a row has the keys of :data:`HISTORY_FIELDS` (``val_*`` only on validation steps)."""
        cfg, total = self.cfg, self.cfg.total_steps
        end = total if stop_at is None else min(int(stop_at), total)
        if self.main:
            if self.overwrite:                  # --overwrite: the old run goes only now, every check has passed
                remove_run(self.out)
                self.overwrite = False
            self.out.mkdir(parents=True, exist_ok=True)
            atomic_write_text(self.out / "config.yaml", cfg.to_yaml())
        bpe = self.batches.batches_per_epoch
        bar = None
        if self.main and cfg.runtime.progress and self.step < end:
            from tqdm.auto import tqdm

            bar = tqdm(total=end, initial=self.step, desc="train", unit="step", dynamic_ncols=True)
        self._wall_before = float(self.timing.get("wall_s", 0.0))
        self._t_start, self._window = time.perf_counter(), _new_window()
        self.timing["devices"] = list(self.timing.get("devices", [])) + [device_name(self.device)]
        budget = cfg.runtime.max_minutes
        self._deadline = None if budget is None else self._t_start + 60.0 * budget
        self.out_of_time = False
        try:
            while self.step < end and not self.out_of_time:
                stage, _ = cfg.stage_at(self.step)
                if stage != self.stage:
                    self._enter_stage(stage)
                epoch, pos = divmod(self.step, bpe)
                t_data = time.perf_counter()
                for batch in self._loader(epoch, pos):
                    t0 = time.perf_counter()
                    out = self._train_step(batch)
                    if self.device.type == "cuda":
                        torch.cuda.synchronize(self.device)   # honest compute time (the loader runs ahead)
                    self._account(t0 - t_data, time.perf_counter() - t0, out["loss"])
                    if self._after_step(out, epoch, end, bar, callback):
                        break
                    t_data = time.perf_counter()
        finally:
            if bar is not None:
                bar.close()
            self.timing = self._timing_now()
            session_s, self._t_start = time.perf_counter() - self._t_start, None
        t = self.timing
        summary = {"step": self.step, "total_steps": total, "out": str(self.out), "last_checkpoint":
                   str(self.last_good) if self.last_good else None, "best": dict(self.best),
                   "data_s_per_step": t["data_s"] / max(t["steps"], 1),
                   "compute_s_per_step": t["compute_s"] / max(t["steps"], 1),
                   "clips_per_s": t["clips"] / max(t["data_s"] + t["compute_s"], 1e-9),
                   "stopped_by_time": self.out_of_time, "wall_s": session_s}
        return summary


#: What a training run writes into its folder (a folder holding any of them holds a run).
RUN_FILES = ("config.yaml", "history.csv", "history.json", "checkpoints")


def check_run_folder(out: Path, resume, overwrite: bool) -> None:
    """Refuse a run folder that is a file, or that holds another run unless resuming or overwriting."""
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"--out {out} is a file; give a folder for the run.")
    found = [name for name in RUN_FILES if (out / name).exists()]
    if found and resume is None and not overwrite:
        raise FileExistsError(f"{out} already holds a run ({', '.join(found)}): continue it with --resume auto, "
                              f"replace it with --overwrite, or choose another --out.")


def remove_run(out: Path) -> None:
    """Delete the files of the run in ``out`` (only those: :data:`RUN_FILES`)."""
    for name in RUN_FILES:
        p = out / name
        if p.is_dir():
            shutil.rmtree(p)
        elif p.exists():
            p.unlink()


def train(cfg: TrainConfig, out_dir, resume=None, device=None, stop_at=None, callback=None, log=print,
          overwrite: bool = False) -> dict:
    """Build a :class:`Trainer` and run it (the ``train`` command and the notebooks call this)."""
    return Trainer(cfg, out_dir, resume=resume, device=device, log=log, overwrite=overwrite).fit(
        stop_at=stop_at, callback=callback)
