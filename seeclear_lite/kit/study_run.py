"""Training and scoring a study's runs: one (row, seed) is one training run on the corpus pack's training split,
then its EMA weights super-resolve the pack's whole validation split (clip by clip with the memory carried,
optionally a centre crop per frame) and the kit's metric loop scores it. Each run writes its own ``result.json``
as soon as it is done, so an interrupted study resumes where it stopped."""

from __future__ import annotations

import json
import multiprocessing as mp
import shutil
import time
from pathlib import Path

import torch
import yaml

from ..config import TrainConfig, get_config, get_model_config
from ..data.io import quantize
from ..diffusion import BlurringResShift
from ..metrics import get_lpips
from ..metrics.clip_scores import ClipScores
from ..models import build_model
from ..training.engine import Trainer
from ..training.sampling import VideoSampler
from ..data.build import build_dataset
from ..utils.io import atomic_write_text
from ..utils.params import count_parameters
from .studies import METRICS, SCALE, Size, get_size, get_study
from .study_stats import summarize


def run_config(study: str, row: str, seed: int, size: str | Size = "claims", steps: int | None = None):
    """The :class:`~seeclear_lite.config.TrainConfig` of one run: the study's preset, the size's overrides, the
    row's own overrides, the seed and the budget as stages (three for a row with CaTeGory)."""
    st, sz = get_study(study), get_size(size)
    if row not in st.rows:
        raise ValueError(f"Unknown row {row!r} of study {st.name!r}: choose from {', '.join(st.rows)}.")
    n = sz.steps if steps is None else int(steps)
    over = {**sz.overrides, **st.rows[row], "seed": seed}
    category = bool(over.get("model.category", get_model_config(st.preset).category))
    return get_config(st.preset, {**over, "stages": _stages(category, n)})


def _stages(category: bool, steps: int) -> list[dict]:
    if not category:
        return [{"name": "condenser", "steps": steps, "train": "condenser"}]
    if steps < 3:
        raise ValueError(f"a row with CaTeGory trains in three stages (Sec. 4.1) and needs >= 3 steps, got {steps}.")
    mem = max(1, steps // 6)
    return [{"name": "condenser", "steps": steps - 2 * mem, "train": "condenser"},
            {"name": "memory", "steps": mem, "train": "memory"},
            {"name": "joint", "steps": mem, "train": "all"}]


def held_out(cfg, size: Size) -> list[dict]:
    """The validation split of ``cfg.val`` as whole videos ``{"name", "lr", "gt"}`` (centre crop, first frames)."""
    data = build_dataset(cfg.val, cfg, train=False)
    out = []
    for name in sorted({n for n, _ in data.windows}):
        items = [data[i] for i, (n, _) in enumerate(data.windows) if n == name]
        lr, gt = torch.cat([it["lr"] for it in items]), torch.cat([it["gt"] for it in items])
        lr, gt = lr[: size.eval_frames], gt[: size.eval_frames]
        if size.eval_crop is not None:
            s, q = gt.shape[-1] // lr.shape[-1], size.eval_crop // (gt.shape[-1] // lr.shape[-1])
            h, w = lr.shape[-2:]
            q = min(q, h, w)
            y0, x0 = (h - q) // 2, (w - q) // 2
            lr, gt = lr[..., y0:y0 + q, x0:x0 + q], gt[..., y0 * s:(y0 + q) * s, x0 * s:(x0 + q) * s]
        out.append({"name": name, "lr": lr.contiguous(), "gt": gt.contiguous()})
    return out


@torch.no_grad()
def evaluate_model(model, diffusion, clips: list[dict], *, clip_length: int = 5, form: str = "consistent",
                   seed: int = 1234, lpips_vgg=None, lpips_alex=None) -> dict:
    """Super-resolve each clip whole (clip by clip, memory carried), round to 8 bits and score every frame with
    the kit's one metric loop (:class:`~seeclear_lite.metrics.clip_scores.ClipScores`); metrics are averaged over
    all frames of all clips (tMAE, tLP over all transitions), in the units of :data:`~.studies.SCALE`."""
    sums, counts = dict.fromkeys(METRICS, 0.0), dict.fromkeys(METRICS, 0)
    device = next(model.parameters()).device
    for c in clips:
        sampler = VideoSampler(model, diffusion, clip_length=clip_length, form=form, seed=seed, device=device)
        scores = ClipScores(0, lpips_vgg, lpips_alex, device)
        scores.add(quantize(sampler(c["lr"])), c["gt"])
        for k in METRICS:
            v = torch.tensor(scores.values[k], dtype=torch.float64) * SCALE.get(k, 1.0)
            sums[k] += float(v.sum())
            counts[k] += v.numel()
    return {k: (sums[k] / counts[k] if counts[k] else None) for k in METRICS}


def run_one(study: str, row: str, seed: int, out, size: str | Size = "claims", steps: int | None = None,
            lpips: bool = True, log=print) -> dict:
    """Train one (row, seed) and evaluate it; the result is written to ``<out>/<row>/seed<k>/result.json`` (and
    read back, without training again, when it is there with the same configuration)."""
    torch.set_num_threads(1)
    cfg = run_config(study, row, seed, size, steps)
    folder = Path(out) / row / f"seed{seed}"
    done = folder / "result.json"
    if done.is_file():
        old = json.loads(done.read_text())
        if old.get("config") == cfg.to_dict():
            return old
    run_cfg = folder / "run" / "config.yaml"
    if run_cfg.is_file() and TrainConfig.from_dict(yaml.safe_load(run_cfg.read_text())).to_dict() != cfg.to_dict():
        shutil.rmtree(folder)            # a run of another configuration: this study's own scratch, not resumable
    t0 = time.perf_counter()
    trainer = Trainer(cfg, folder / "run", resume="auto", device=torch.device("cpu"), log=lambda *a, **k: None)
    trainer.fit()
    train_s = time.perf_counter() - t0
    model = build_model(cfg.model)
    trainer.ema.copy_to(model)
    sz = get_size(size)
    clips = held_out(cfg, sz)
    vgg = alex = None
    if lpips:
        vgg, alex = get_lpips("vgg"), get_lpips("alex")
    t1 = time.perf_counter()
    metrics = evaluate_model(model.eval(), BlurringResShift.from_config(cfg.diffusion), clips,
                             clip_length=cfg.data.clip_length, form=cfg.diffusion.form, seed=cfg.val.seed,
                             lpips_vgg=vgg, lpips_alex=alex)
    result = {"study": study, "row": row, "seed": seed, "metrics": metrics, "steps": trainer.step,
              "parameters": count_parameters(model), "train_seconds": train_s,
              "eval_seconds": time.perf_counter() - t1, "eval_frames": sum(len(c["gt"]) for c in clips),
              "eval_clips": {c["name"]: list(c["gt"].shape) for c in clips}, "config": cfg.to_dict()}
    atomic_write_text(done, json.dumps(result, indent=1) + "\n")
    log(f"[{study}/{row}/seed{seed}] " + ", ".join(f"{k} {v:.4f}" for k, v in metrics.items() if v is not None)
        + f" ({train_s:.0f} s training, {result['eval_seconds']:.0f} s evaluation)")
    return result


def _run_one_job(args):
    return run_one(*args, log=print)


def run_study(study: str, seeds, out, size: str | Size = "claims", steps: int | None = None, jobs: int = 1,
              lpips: bool = True, rows=None, log=print) -> dict:
    """Every (row, seed) of ``study`` (``jobs`` side by side, one thread each), then :func:`summarize`."""
    st = get_study(study)
    rows = list(st.rows) if rows is None else list(rows)
    bad = [r for r in rows if r not in st.rows]
    if bad or not rows:
        raise ValueError(f"Unknown row(s) {bad or '(none)'} of study {study!r}: choose from {', '.join(st.rows)}.")
    seeds = [int(s) for s in seeds]
    if not seeds or any(s < 0 for s in seeds) or len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be distinct integers >= 0, got {seeds}.")
    for r in rows:                                                  # every configuration is valid before any run
        run_config(study, r, seeds[0], size, steps)
    out = Path(out)
    tasks = [(study, r, s, str(out), size, steps, lpips) for s in seeds for r in rows]
    if jobs > 1:
        with mp.get_context("spawn").Pool(jobs) as pool:
            results = pool.map(_run_one_job, tasks, chunksize=1)
    else:
        results = [run_one(*t, log=log) for t in tasks]
    return summarize(study, results)
