"""``python -m seeclear_lite ablate``: the ablation of Table 2 (Sec. 4.3), row by row, on one budget.

Table 2 starts from a baseline ("all semantic-related operations are bypassed ... a diffusion-based image SR
model without any condition") and adds the semantic modules one at a time. The rows are the same network
with the model switches of :class:`seeclear_lite.models.ModelConfig` turned on cumulatively:

===================== ====================== ====== ======= ==========
row                   ``semantic_condition`` ``mfsa`` ``incam`` ``category``
===================== ====================== ====== ======= ==========
Baseline              –                      –      –       –
+ semantic condition  on                     –      –       –
+ MFSA                on                     on     –       –
+ InCAM               on                     on     on      –
+ CaTeGory (SeeClear) on                     on     on      on
===================== ====================== ====== ======= ==========

Every row is trained with the same seed, data, number of optimiser steps and batch (the *budget*); only
the switches differ (``tests/test_ablation.py`` checks that). The CaTeGory row spends its budget in the
three stages of Sec. 4.1 (condenser, memory alone, joint; ``seeclear_lite.training.config.Stage``), the
others in one stage. Each trained row (EMA weights) then super-resolves the held-out clip(s) whole, clip by
clip with the memory carried (:class:`seeclear_lite.training.sampling.VideoSampler`), and is scored with
PSNR, SSIM, LPIPS (VGG; ``--no-lpips`` to skip) on 8-bit frames, and the temporal metric tMAE
(:func:`seeclear_lite.metrics.temporal_error`, lower = less flicker).

Profiles: ``smoke`` (a micro network, a few steps: seconds per row; it checks the machinery and says
nothing about the paper's claims), ``cpu`` (the ``tiny`` network, minutes in all), ``gpu`` (the ``base``
network on the corpus; hours on one GPU). Writes ``ablation.md`` and ``ablation.json`` into ``--out``
(one training folder per row under ``--out/runs``).

Example::

    python -m seeclear_lite ablate --profile smoke --out results/ablation_smoke
    python -m seeclear_lite ablate --profile cpu --rows baseline incam category --out results/ablation_cpu
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..config import ConfigError, get_config, parse_override
from ..data.io import quantize
from ..data.samples import VALIDATION_CLIP, load_sample_clip
from ..metrics import get_lpips, psnr, ssim, temporal_error
from ..models import build_model
from ..training.engine import Trainer
from ..training.sampling import VideoSampler
from ..training.validation import build_dataset
from ..utils import get_device
from ..utils.io import atomic_write_text
from ..utils.params import count_parameters

#: Table 2's rows, in order (row id -> label).
ROWS: dict[str, str] = {
    "baseline": "Baseline",
    "semantic": "+ semantic condition",
    "mfsa": "+ MFSA",
    "incam": "+ InCAM",
    "category": "+ CaTeGory (SeeClear)",
}
#: The model switches of ModelConfig that Table 2 varies.
SWITCHES = ("semantic_condition", "mfsa", "incam", "category")
#: Cumulative switches of each row (see the module docstring).
ROW_SWITCHES: dict[str, dict[str, bool]] = {
    row: {s: i < k for i, s in enumerate(SWITCHES)} for k, row in enumerate(ROWS)}
#: The columns of the table (metric key, header, higher is better?).
METRICS = (("psnr", "PSNR ↑", True), ("ssim", "SSIM ↑", True), ("lpips", "LPIPS ↓", False),
           ("tmae", "tMAE ↓", False))

#: The micro network of the smoke profile (a few hundred k parameters at most, T = 4 steps).
_MICRO = ["model.channels=8", "model.head_dim=8", "model.lr_channels=8", "model.channel_mult=[1,2]",
          "model.middle_blocks=1", "diffusion.T=4"]


@dataclass(frozen=True)
class Profile:
    """One run size: the shared training overrides, the budget, and the evaluation crop."""

    name: str
    preset: str                      # the training preset every row starts from
    overrides: tuple                 # key=value overrides shared by every row
    steps: int                       # optimiser steps per row (the budget)
    eval_patch: int | None           # HR centre crop of the held-out clip(s) (None = whole frames)
    eval_frames: int | None = None   # first N frames of each held-out clip (None = all)
    note: str = ""


PROFILES: dict[str, Profile] = {
    "smoke": Profile("smoke", "tiny", tuple(_MICRO + [
        "data.gt_patch=16", "data.batch_size=2", "optim.lr=1e-3",
        "optim.warmup_steps=1", "optim.ema_decay=0.9", "runtime.cpu_threads=1"]), steps=4, eval_patch=32, eval_frames=8,
        note="micro network, a few steps: checks the machinery only"),
    "cpu": Profile("cpu", "tiny", (
        "diffusion.T=8", "data.gt_patch=32", "data.batch_size=2", "optim.lr=5e-4",
        "optim.warmup_steps=5", "optim.ema_decay=0.99", "runtime.cpu_threads=1"), steps=60, eval_patch=64, eval_frames=8,
        note="tiny network on the sample clips: minutes on a CPU, far too short to rank the rows"),
    "gpu": Profile("gpu", "base", ("data.clips_per_sample=2",), steps=20_000, eval_patch=None,
                   note="base network on the corpus; hours on one GPU"),
}


def _stages(row: str, steps: int) -> list[dict]:
    """The budget as stages: one for rows without CaTeGory, Sec. 4.1's three (4 : 1 : 1) with it."""
    if not ROW_SWITCHES[row]["category"]:
        return [{"name": "condenser", "steps": steps, "train": "condenser"}]
    if steps < 3:
        raise ValueError(f"the CaTeGory row trains in three stages (Sec. 4.1) and needs a budget of at least 3 "
                         f"steps; got {steps}. Raise --steps.")
    mem = max(1, steps // 6)
    return [{"name": "condenser", "steps": steps - 2 * mem, "train": "condenser"},
            {"name": "memory", "steps": mem, "train": "memory"},
            {"name": "joint", "steps": mem, "train": "all"}]


def row_config(row: str, profile: str | Profile = "smoke", *, seed: int = 0, steps: int | None = None,
               extra=()):
    """The :class:`~seeclear_lite.training.TrainConfig` of one Table 2 row: the profile's shared settings,
    the row's switches (``model.<switch>=...``), the budget as stages, validation off (evaluation comes
    after training)."""
    if row not in ROWS:
        raise ValueError(f"Unknown ablation row {row!r}: choose from {', '.join(ROWS)}.")
    prof = _profile(profile)
    n = prof.steps if steps is None else int(steps)
    if n < 1:
        raise ValueError(f"the budget (steps per row) must be >= 1, got {n}.")
    switches = {f"model.{k}": v for k, v in ROW_SWITCHES[row].items()}
    overrides = {**dict(_kv(o) for o in prof.overrides), **switches, "seed": seed, "val.every": 0,
                 "runtime.progress": False, "runtime.ckpt_every": 10 ** 9, "runtime.keep_last": 1,
                 "stages": _stages(row, n)}
    overrides.update(dict(_kv(o) for o in extra))
    return get_config(prof.preset, overrides)


def _kv(text: str):
    return parse_override(text)


def _profile(profile) -> Profile:
    if isinstance(profile, Profile):
        return profile
    if profile not in PROFILES:
        raise ValueError(f"Unknown ablation profile {profile!r}: choose from {', '.join(PROFILES)}.")
    return PROFILES[profile]


# ------------------------------------------------------------------------------------------ evaluation
def held_out_clips(cfg, profile: Profile) -> list[dict]:
    """The held-out clip(s) of ``cfg.val`` as whole videos: dicts ``name``, ``lr [T, 3, h, w]``,
    ``gt [T, 3, H, W]`` (centre-cropped to ``profile.eval_patch``, first ``eval_frames`` frames)."""
    if cfg.val.source != "samples":
        data = build_dataset(cfg.val, cfg, train=False)
        names = sorted({name for name, _ in data.windows})
        clips = []
        for name in names:
            idx = [i for i, (n, _) in enumerate(data.windows) if n == name]
            items = [data[i] for i in idx]
            clips.append({"name": name, "lr": torch.cat([it["lr"] for it in items]),
                          "gt": torch.cat([it["gt"] for it in items])})
    else:
        names = cfg.val.clips or [VALIDATION_CLIP]
        clips = [{"name": n, "lr": load_sample_clip(n, "BIx4", profile.eval_frames),
                  "gt": load_sample_clip(n, "GT", profile.eval_frames)} for n in names]
    out = []
    for c in clips:
        lr, gt = c["lr"][: profile.eval_frames], c["gt"][: profile.eval_frames]
        p = profile.eval_patch
        if p is not None:
            s = gt.shape[-1] // lr.shape[-1]
            q = p // s
            h, w = lr.shape[-2:]
            if q > min(h, w):
                raise ValueError(f"eval_patch={p} is larger than the held-out clip {c['name']!r} ({h * s}x{w * s}).")
            y0, x0 = (h - q) // 2, (w - q) // 2
            lr = lr[..., y0:y0 + q, x0:x0 + q]
            gt = gt[..., y0 * s:(y0 + q) * s, x0 * s:(x0 + q) * s]
        out.append({"name": c["name"], "lr": lr.contiguous(), "gt": gt.contiguous()})
    return out


def _lpips_module(enabled: bool, device, log):
    if not enabled:
        return None

    try:
        return get_lpips("vgg", device)
    except FileNotFoundError as err:
        log(f"note: the table has no LPIPS ({str(err).splitlines()[0]})")
        return None


@torch.no_grad()
def evaluate_model(model, diffusion, clips: list[dict], *, clip_length: int = 5, form: str = "consistent",
                   seed: int = 1234, lpips_module=None, device=None) -> dict:
    """Super-resolve each held-out clip whole (clip by clip, memory carried) and score it: PSNR, SSIM, LPIPS
    averaged over frames, tMAE per video averaged over videos. Frames are rounded to 8 bits first."""
    device = device if device is not None else next(model.parameters()).device
    p = s = lp = tm = 0.0
    n = 0
    for c in clips:
        sampler = VideoSampler(model, diffusion, clip_length=clip_length, form=form, seed=seed, device=device)
        sr = quantize(sampler(c["lr"]))
        gt = c["gt"]
        p += float(psnr(sr, gt).sum())
        s += float(ssim(sr, gt).sum())
        if lpips_module is not None:
            lp += float(lpips_module(sr.to(device), gt.to(device)).sum())
        tm += float(temporal_error(sr, gt)) * 255.0
        n += gt.shape[0]
    return {"psnr": p / n, "ssim": s / n, "lpips": lp / n if lpips_module is not None else None,
            "tmae": tm / len(clips)}


# ------------------------------------------------------------------------------------------ runner
@dataclass
class AblationResult:
    """The rows run so far and how they were run (what ``ablation.json`` holds)."""

    profile: str
    seed: int
    steps: int
    rows: list = field(default_factory=list)
    settings: dict = field(default_factory=dict)
    #: row -> (trained model with the EMA weights, its TrainConfig), only with ``keep_models=True``
    models: dict = field(default_factory=dict, repr=False)

    def to_dict(self) -> dict:
        return {"profile": self.profile, "seed": self.seed, "steps": self.steps, "settings": self.settings,
                "rows": self.rows}

    def markdown(self) -> str:
        return table_markdown(self.rows, note=self.settings.get("note", ""))


def _fmt(key: str, v) -> str:
    if v is None:
        return "n/a"
    return {"psnr": f"{v:.2f}", "ssim": f"{v:.4f}", "lpips": f"{v:.4f}", "tmae": f"{v:.3f}"}.get(key, str(v))


def table_markdown(rows: list[dict], note: str = "") -> str:
    """A Table 2-style markdown table: one line per row, a tick per switch, the four metrics."""
    head = ["Variant", "Semantic", "MFSA", "InCAM", "CaTeGory", *(h for _, h, _ in METRICS), "params", "train s"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] * len(head)) + "|"]
    for r in rows:
        ticks = ["✓" if r["switches"][s] else "" for s in SWITCHES]
        vals = [_fmt(k, r["metrics"][k]) for k, _, _ in METRICS]
        lines.append("| " + " | ".join([r["label"], *ticks, *vals, f"{r['params']:,}", f"{r['train_seconds']:.1f}"])
                     + " |")
    text = "\n".join(lines) + "\n"
    if note:
        text += f"\n{note}\n"
    return text


def run_ablation(out, profile: str | Profile = "smoke", *, rows=None, seed: int = 0, steps: int | None = None,
                 lpips: bool = True, device=None, extra=(), keep_models: bool = False,
                 keep_checkpoints: bool = False, log=print) -> AblationResult:
    """Train every row of ``rows`` (default: all of :data:`ROWS`) for the same budget with the same seed and
    data, evaluate each on the held-out clip(s), write ``ablation.md`` / ``ablation.json`` into ``out``.
    ``keep_models`` keeps each trained model (EMA weights) in ``result.models`` (notebook 06 samples with the
    CaTeGory row's); ``extra`` holds ``key=value`` training overrides for every row. Each row's training
    folder ``out/runs/<row>`` keeps its config and history; its checkpoints only with ``keep_checkpoints``."""
    prof = _profile(profile)
    rows = list(ROWS) if rows is None else list(rows)
    bad = [r for r in rows if r not in ROWS]
    if bad or not rows:
        raise ValueError(f"Unknown ablation row(s) {bad or '(none given)'}: choose from {', '.join(ROWS)}.")
    out = Path(out)
    device = get_device(device=device)
    budget = prof.steps if steps is None else int(steps)
    result = AblationResult(prof.name, seed, budget, settings={
        "preset": prof.preset, "overrides": list(prof.overrides) + list(extra), "eval_patch": prof.eval_patch,
        "eval_frames": prof.eval_frames, "device": str(device),
        "note": (f"Profile {prof.name!r} ({prof.note}). Same seed ({seed}), data and budget ({budget} steps) for "
                 f"every row. " + ("Numbers at the smoke and cpu sizes say nothing about the paper's claims."
                                   if prof.name != "gpu" else ""))})
    threads = torch.get_num_threads()      # the trainer may set runtime.cpu_threads; restored at the end
    try:
        _run_rows(result, out, prof, rows, seed, budget, extra, _lpips_module(lpips, device, log), device, log,
                  keep_models, keep_checkpoints)
    finally:
        torch.set_num_threads(threads)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "ablation.md", result.markdown())
    atomic_write_text(out / "ablation.json", json.dumps(result.to_dict(), indent=1) + "\n")
    return result


def _run_rows(result, out, prof, rows, seed, budget, extra, lpips_module, device, log, keep_models,
              keep_checkpoints) -> None:
    clips = None
    for row in rows:
        cfg = row_config(row, prof, seed=seed, steps=budget, extra=extra)
        if clips is None:
            clips = held_out_clips(cfg, prof)
        log(f"[{row}] {ROWS[row]}: training {cfg.total_steps} steps "
            f"({' -> '.join(f'{s.name}:{s.steps}' for s in cfg.stages)})")
        t0 = time.perf_counter()
        trainer = Trainer(cfg, out / "runs" / row, device=device, log=lambda *a, **k: None)
        summary = trainer.fit()
        train_s = time.perf_counter() - t0
        model = build_model(cfg.model).to(device)
        trainer.ema.copy_to(model)                       # evaluate the EMA weights, as validation does
        t1 = time.perf_counter()
        metrics = evaluate_model(model.eval(), trainer.diffusion, clips, clip_length=cfg.data.clip_length,
                                 form=cfg.diffusion.form, seed=cfg.val.seed, lpips_module=lpips_module,
                                 device=device)
        record = {"row": row, "label": ROWS[row], "switches": dict(ROW_SWITCHES[row]), "metrics": metrics,
                  "params": count_parameters(model), "steps": summary["step"],
                  "stages": [s.__dict__ for s in cfg.stages], "seed": cfg.seed,
                  "train_seconds": train_s, "eval_seconds": time.perf_counter() - t1,
                  "clips": [c["name"] for c in clips]}
        result.rows.append(record)
        if keep_models:
            result.models[row] = (model, cfg)
        if not keep_checkpoints:
            shutil.rmtree(out / "runs" / row / "checkpoints", ignore_errors=True)
        log(f"[{row}] " + ", ".join(f"{k} {_fmt(k, v)}" for k, v in metrics.items())
            + f" ({train_s:.1f} s training, {record['eval_seconds']:.1f} s evaluation)")


# ------------------------------------------------------------------------------------------ command line
def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = __doc__.split("\n\n")[0].replace("``", "")
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = "\n\n".join(__doc__.split("\n\n")[1:])
    parser.add_argument("--profile", default="smoke", choices=list(PROFILES), help="run size (default: smoke)")
    parser.add_argument("--rows", nargs="+", default=None, choices=list(ROWS), help="rows to run (default: all)")
    parser.add_argument("--out", type=Path, default=None, help="results folder (default: results/ablation_<profile>)")
    parser.add_argument("--seed", type=int, default=0, help="seed shared by every row")
    parser.add_argument("--steps", type=int, default=None, help="optimiser steps per row (default: the profile's)")
    parser.add_argument("--no-lpips", action="store_true", help="skip LPIPS (no VGG weights needed)")
    parser.add_argument("--keep-checkpoints", action="store_true",
                        help="keep each row's checkpoints under --out/runs/<row>/checkpoints")
    parser.add_argument("--device", default=None, help="device (default: CUDA if available, else CPU)")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                        help="training overrides applied to every row (e.g. data.root=/data/REDS)")


def main(args: argparse.Namespace) -> int:
    out = args.out if args.out is not None else Path("results") / f"ablation_{args.profile}"
    bad = [o for o in args.overrides if o.split("=", 1)[0].strip() in {f"model.{s}" for s in SWITCHES}]
    if bad:
        print(f"error: {', '.join(bad)}: the rows set the model switches themselves; choose rows with --rows.",
              file=sys.stderr)
        return 2
    try:
        result = run_ablation(out, args.profile, rows=args.rows, seed=args.seed, steps=args.steps,
                              lpips=not args.no_lpips, device=args.device, extra=args.overrides,
                              keep_checkpoints=args.keep_checkpoints)
    except (ConfigError, ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print()
    print(result.markdown(), end="")
    print(f"\nwritten: {out / 'ablation.md'}, {out / 'ablation.json'}")
    return 0
