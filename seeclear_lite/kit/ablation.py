"""``python -m seeclear_lite ablate``: the paper's claims tested at the kit's scale, with seeds and intervals.

Two studies, each a set of rows that differ in one thing and share everything else (model size, data, budget,
seeds, evaluation):
* ``blur`` (Table 4's idea): σ²_B = 0 (plain ResShift), 2 (the kit's default, the paper's SeeClear row) and 3,
  on the baseline network;
* ``components`` (Table 2's switch rows): baseline, + semantic condition (G + cross-attention), + InCAM (with
  MFSA and the clip tokens), + CaTeGory (SeeClear). The CaTeGory row spends the budget in Sec. 4.1's three
  stages (4 : 1 : 1), the others in one.

Every run trains on the corpus pack's training split, then super-resolves the pack's whole validation split (every
frame of every held-out clip, clip by clip with the memory carried; optionally a centre crop per frame to bound the
cost) with its EMA weights, and scores PSNR / SSIM (RGB and Y), LPIPS-VGG, tMAE and tLP on 8-bit frames. Per row:
mean, standard deviation and a 95 % t-interval over seeds; against the reference row: paired differences (same seed
= same initialisation and data order) with their interval and a paired t-test. Each run writes its own
``result.json`` as soon as it is done, so an interrupted study resumes where it stopped.

Examples::
    python -m seeclear_lite ablate blur --seeds 0 1 2 --jobs 2 --json data/claims/blur_ablation.json
    python -m seeclear_lite ablate components --seeds 0 1 2 --jobs 2 --json data/claims/component_ablation.json
    python -m seeclear_lite ablate components --size smoke --seeds 0 --out /tmp/abl      # seconds: the machinery
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import yaml
from scipy import stats

from ..config import ConfigError, TrainConfig, get_config, get_model_config, parse_override
from ..data.io import quantize
from ..data.samples import sample_root
from ..diffusion import BlurringResShift
from ..metrics import get_lpips, psnr, ssim, temporal_error, temporal_lpips
from ..models import build_model
from ..training.engine import Trainer
from ..training.sampling import VideoSampler
from ..training.validation import build_dataset
from ..utils.io import atomic_write_text
from ..utils.lock import FolderLock, LockedError, output_option, refuse_overlap
from ..utils.params import count_parameters

#: Metric key -> (higher is better?, label).
METRICS = {"psnr_y": (True, "PSNR-Y"), "ssim_y": (True, "SSIM-Y"), "psnr_rgb": (True, "PSNR"),
           "ssim_rgb": (True, "SSIM"), "lpips_vgg": (False, "LPIPS"), "tmae": (False, "tMAE ×255"),
           "tlp": (False, "tLP ×100")}
#: Decimals each metric is printed with (its own and its paired difference's).
DIGITS = {"psnr_y": 2, "ssim_y": 4, "psnr_rgb": 2, "ssim_rgb": 4, "lpips_vgg": 4, "tmae": 2, "tlp": 2}
#: The metrics the README's claims tables show.
README_METRICS = ("psnr_y", "lpips_vgg", "tmae", "tlp")
_SWITCHES = ("semantic_condition", "mfsa", "incam", "category")
#: Where the kit keeps the committed study results (``ablate ... --json``), read by notebook 09.
CLAIMS_DIR = Path(__file__).resolve().parents[2] / "data" / "claims"


def _switches(*on) -> dict:
    return {f"model.{s}": s in on for s in _SWITCHES}


@dataclass(frozen=True)
class Study:
    """Rows (name -> overrides), the reference row, the claim in words, the paper's numbers and the rows' labels
    in tables."""

    name: str
    preset: str
    rows: dict
    reference: str
    claim: str
    paper: dict
    labels: dict = field(default_factory=dict)


STUDIES = {
    "blur": Study(
        "blur", "tiny",
        {"resshift": {"diffusion.sigma_b2_max": 0.0}, "blur_2": {"diffusion.sigma_b2_max": 2.0},
         "blur_3": {"diffusion.sigma_b2_max": 3.0}},
        reference="resshift",
        claim="patch-level blurring (σ²_B > 0) beats plain residual shifting (σ²_B = 0) in PSNR and LPIPS",
        paper={"source": "Table 4 (first frame of REDS4, WaveDiff U-Net), PSNR / SSIM / LPIPS (RGB)",
               "resshift": {"psnr_rgb": 26.78, "ssim_rgb": 0.7960, "lpips_vgg": 0.2096},
               "blur_2": {"psnr_rgb": 26.45, "ssim_rgb": 0.7927, "lpips_vgg": 0.2008},
               "blur_3": {"psnr_rgb": 27.74, "ssim_rgb": 0.8047, "lpips_vgg": 0.2067}},
        labels={"resshift": "ResShift (σ²_B = 0)", "blur_2": "σ²_B = 2", "blur_3": "σ²_B = 3"}),
    "components": Study(
        "components", "tiny_full",
        {"baseline": _switches(), "semantic": _switches("semantic_condition"),
         "incam": _switches("semantic_condition", "mfsa", "incam"),
         "category": _switches("semantic_condition", "mfsa", "incam", "category")},
        reference="baseline",
        claim="each semantic module improves on the baseline: the semantic condition, InCAM and CaTeGory",
        paper={"source": "Table 2 (REDS4), PSNR / SSIM / LPIPS (RGB)",
               "baseline": {"psnr_rgb": 28.05, "ssim_rgb": 0.7993, "lpips_vgg": 0.2120},
               "incam": {"psnr_rgb": 28.46, "ssim_rgb": 0.8098, "lpips_vgg": 0.1917},
               "category": {"psnr_rgb": 28.92, "ssim_rgb": 0.8279, "lpips_vgg": 0.1843}},
        labels={"baseline": "baseline", "semantic": "+ semantic condition", "incam": "+ InCAM (with MFSA)",
                "category": "+ CaTeGory (SeeClear)"}),
}


@dataclass(frozen=True)
class Size:
    """How big each run is: optimiser steps, training overrides, and the evaluation's crop / frames."""

    name: str
    steps: int
    overrides: tuple
    eval_crop: int | None        # HR centre crop of every evaluation frame (None = whole frames)
    eval_frames: int | None      # first N frames of each held-out clip (None = all)
    data: str                    # "pack" (the corpus) or "samples" (the committed clips: tests)


_COMMON = ("data.gt_patch=64", "data.batch_size=2", "data.clips_per_sample=2", "optim.lr=5e-4",
           "optim.warmup_steps=50", "optim.ema_decay=0.999", "val.every=0", "runtime.progress=false",
           "runtime.cpu_threads=1", "runtime.log_every=50")
SIZES = {
    "smoke": Size("smoke", 3, ("model.channels=8", "model.head_dim=8", "model.lr_channels=8",
                               "model.channel_mult=[1,2]", "model.middle_blocks=1", "diffusion.T=4",
                               "data.gt_patch=16", "data.batch_size=2", "optim.lr=1e-3",
                               "optim.warmup_steps=1", "val.every=0", "runtime.progress=false",
                               "runtime.cpu_threads=1"), eval_crop=32, eval_frames=7, data="samples"),
    "notebook": Size("notebook", 60, ("diffusion.T=8", "data.gt_patch=32", "data.batch_size=2", "optim.lr=5e-4",
                                      "optim.warmup_steps=5", "optim.ema_decay=0.99", "val.every=0",
                                      "runtime.progress=false", "runtime.cpu_threads=1"),
                     eval_crop=64, eval_frames=8, data="samples"),
    "claims": Size("claims", 1200, _COMMON, eval_crop=128, eval_frames=None, data="pack"),
}


# ---------------------------------------------------------------------------------------------- one run
def run_config(study: str, row: str, seed: int, size: str | Size = "claims", steps: int | None = None):
    """The :class:`~seeclear_lite.config.TrainConfig` of one run: the study's preset, the size's overrides, the
    row's own overrides, the seed and the budget as stages (three for a row with CaTeGory)."""
    st, sz = _study(study), _size(size)
    if row not in st.rows:
        raise ValueError(f"Unknown row {row!r} of study {st.name!r}: choose from {', '.join(st.rows)}.")
    n = sz.steps if steps is None else int(steps)
    over = {**dict(parse_override(o) for o in sz.overrides), **st.rows[row], "seed": seed}
    if sz.data == "pack":
        over.update({"data.source": "pack", "val.source": "pack"})
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
    """Super-resolve each clip whole (clip by clip, memory carried), round to 8 bits and score every frame;
    metrics are averaged over all frames (tMAE, tLP over all transitions)."""
    sums, counts = {k: 0.0 for k in METRICS}, {k: 0 for k in METRICS}
    device = next(model.parameters()).device
    for c in clips:
        sampler = VideoSampler(model, diffusion, clip_length=clip_length, form=form, seed=seed, device=device)
        sr, gt = quantize(sampler(c["lr"])), c["gt"]
        per = {"psnr_y": psnr(sr, gt, y_channel=True), "ssim_y": ssim(sr, gt, y_channel=True),
               "psnr_rgb": psnr(sr, gt), "ssim_rgb": ssim(sr, gt)}
        if lpips_vgg is not None:
            per["lpips_vgg"] = lpips_vgg(sr, gt)
        if len(sr) > 1:
            pairs_sr, pairs_gt = torch.stack([sr[:-1], sr[1:]], 1), torch.stack([gt[:-1], gt[1:]], 1)
            per["tmae"] = temporal_error(pairs_sr, pairs_gt) * 255.0
            if lpips_alex is not None:
                per["tlp"] = temporal_lpips(pairs_sr, pairs_gt, net=lpips_alex) * 100.0
        for k, v in per.items():
            sums[k] += float(v.double().sum())
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
    sz = _size(size)
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


# ---------------------------------------------------------------------------------------------- statistics
def interval(values, level: float = 0.95) -> tuple[float, float, float, float]:
    """(mean, sample std, low, high) of a Student-t interval of the mean; std and bounds are nan for n < 2."""
    v = np.asarray(values, dtype=float)
    mean = float(v.mean())
    if len(v) < 2:
        return mean, math.nan, math.nan, math.nan
    sd = float(v.std(ddof=1))
    half = float(stats.t.ppf(0.5 + level / 2, len(v) - 1)) * sd / math.sqrt(len(v))
    return mean, sd, mean - half, mean + half


def summarize(study: str, results: list[dict]) -> dict:
    """The study's JSON: rows with one value per seed and metric, per-row statistics, paired differences
    against the reference row and a verdict per metric ("holds", "fails" or "undecided")."""
    st = _study(study)
    by_row = {r: sorted((x for x in results if x["row"] == r), key=lambda x: x["seed"]) for r in st.rows}
    rows = []
    for r, runs in by_row.items():
        if not runs:
            continue
        metrics = {k: [x["metrics"][k] for x in runs] for k in METRICS if all(x["metrics"][k] is not None for x in runs)}
        row = {"name": r, "seeds": [x["seed"] for x in runs], "metrics": metrics,
               "stats": {k: dict(zip(("mean", "std", "ci95_low", "ci95_high"), interval(v))) for k, v in metrics.items()},
               "parameters": runs[0]["parameters"], "steps": runs[0]["steps"],
               "train_seconds": [x["train_seconds"] for x in runs], "eval_seconds": [x["eval_seconds"] for x in runs]}
        ref = by_row[st.reference]
        if r != st.reference and ref:
            common = sorted(set(row["seeds"]) & {x["seed"] for x in ref})
            row["paired_vs_" + st.reference] = paired(common, runs, ref)
        rows.append(row)
    first = results[0]
    return {"study": study, "claim": st.claim, "reference": st.reference, "rows": rows,
            "budget": {"steps": first["steps"], "preset": st.preset, "overrides": _budget_overrides(first["config"])},
            "eval": {"frames": first["eval_frames"], "clips": first["eval_clips"],
                     "split": "the corpus pack's validation split" if first["config"]["val"]["source"] == "pack"
                     else "the committed validation sample clip",
                     "crop": "HR centre crop of every frame, sizes in 'clips' ([frames, 3, H, W])",
                     "units": {"tmae": "x255 (8-bit levels)", "tlp": "x100", "others": "as in Table 1"}},
            "paper": st.paper, "verdicts": verdicts(study, rows)}


def paired(seeds, runs, ref) -> dict:
    """Per metric: the paired differences (row - reference, one per common seed), their interval and p-value."""
    a = {x["seed"]: x for x in runs}
    b = {x["seed"]: x for x in ref}
    out = {}
    for k in METRICS:
        if not seeds or any(a[s]["metrics"].get(k) is None or b[s]["metrics"].get(k) is None for s in seeds):
            continue
        d = [a[s]["metrics"][k] - b[s]["metrics"][k] for s in seeds]
        mean, sd, lo, hi = interval(d)
        p = float(stats.ttest_rel([a[s]["metrics"][k] for s in seeds], [b[s]["metrics"][k] for s in seeds]).pvalue) \
            if len(seeds) > 1 and sd > 0 else math.nan
        out[k] = {"diffs": d, "mean": mean, "ci95_low": lo, "ci95_high": hi, "p": p}
    return out


def paper_delta(summary: dict, row: str, key: str) -> float | None:
    """The paper's single-run difference, ``row`` minus the reference row, on ``key``; None where it has no number."""
    paper, ref = summary["paper"], summary["reference"]
    if key in paper.get(row, {}) and key in paper.get(ref, {}):
        return paper[row][key] - paper[ref][key]
    return None


def outside_interval(d: dict, x: float) -> bool:
    """Whether ``x`` lies outside a paired difference's 95 % interval (False when it has none: one seed)."""
    lo, hi = d.get("ci95_low", math.nan), d.get("ci95_high", math.nan)
    return not (math.isnan(lo) or lo <= x <= hi)


def paired_power(effect: float, sd: float, n: int, level: float = 0.95) -> float:
    """Probability that a two-sided paired t-test at ``level`` over ``n`` seeds rejects "no difference" when the
    true mean difference is ``effect`` and the paired differences have standard deviation ``sd``: the statistic
    is noncentral t with n - 1 degrees of freedom and noncentrality effect / (sd / sqrt(n))."""
    if n < 2:
        return 0.0
    if sd <= 0:
        return 1.0
    df, crit = n - 1, float(stats.t.ppf(0.5 + level / 2, n - 1))
    nc = abs(effect) * math.sqrt(n) / sd
    # the lower tail as the upper tail of -T (scipy's nct.cdf returns nan far out in the tail)
    return float(stats.nct.sf(crit, df, nc) + np.nan_to_num(stats.nct.sf(crit, df, -nc)))


def seeds_for_power(effect: float, sd: float, power: float = 0.8, level: float = 0.95,
                    n_max: int = 200) -> int | None:
    """The fewest seeds at which :func:`paired_power` reaches ``power``: how many runs per row a study needs to
    decide a true difference of ``effect`` when seeds scatter the paired difference by ``sd``; None when more than
    ``n_max`` (or ``effect`` is 0)."""
    if effect == 0 or not math.isfinite(sd):
        return None
    return next((n for n in range(2, n_max + 1) if paired_power(effect, sd, n, level) >= power), None)


def power_rows(summary: dict, keys=None, power: float = 0.8) -> list[dict]:
    """Per non-reference row and metric: the paired differences' std over seeds, the 95 % interval's half-width
    now, and how many seeds would decide (at ``power``) a true difference the size of the kit's mean and the size
    of the paper's single-run difference (where the paper has the metric), and whether the kit's interval already
    excludes the paper's difference (an effect that large is then ruled out *at this scale*). The std is itself
    estimated from few seeds, so the seed counts are planning figures, not guarantees."""
    ref, out = summary["reference"], []
    for r in summary["rows"]:
        pair = r.get("paired_vs_" + ref)
        if not pair:
            continue
        for k in (keys or METRICS):
            if k not in pair or len(pair[k]["diffs"]) < 2:
                continue
            d = pair[k]
            sd = float(np.std(d["diffs"], ddof=1))
            p_delta = paper_delta(summary, r["name"], k)
            out.append({"row": r["name"], "metric": k, "n": len(d["diffs"]), "sd": sd,
                        "half_width": (d["ci95_high"] - d["ci95_low"]) / 2, "kit_delta": d["mean"],
                        "seeds_for_kit_delta": seeds_for_power(d["mean"], sd, power),
                        "paper_delta": p_delta,
                        "seeds_for_paper_delta": None if p_delta is None else seeds_for_power(p_delta, sd, power),
                        "paper_delta_excluded": None if p_delta is None else outside_interval(d, p_delta)})
    return out


def verdicts(study: str, rows: list[dict]) -> dict:
    """For each non-reference row and metric: "holds" when the 95 % interval of the paired difference lies on the
    better side of 0, "fails" when it lies on the worse side, else "undecided"."""
    st = _study(study)
    out = {}
    for row in rows:
        pair = row.get("paired_vs_" + st.reference)
        if not pair:
            continue
        out[row["name"]] = {}
        for k, d in pair.items():
            higher_better = METRICS[k][0]
            lo, hi = d["ci95_low"], d["ci95_high"]
            better = lo > 0 if higher_better else hi < 0
            worse = hi < 0 if higher_better else lo > 0
            out[row["name"]][k] = "holds" if better else "fails" if worse else "undecided"
    return out


def _budget_overrides(cfg: dict) -> dict:
    return {"gt_patch": cfg["data"]["gt_patch"], "batch_size": cfg["data"]["batch_size"],
            "clips_per_sample": cfg["data"]["clips_per_sample"], "lr": cfg["optim"]["lr"],
            "stages": cfg["stages"], "channels": cfg["model"]["channels"], "T": cfg["diffusion"]["T"]}


def _number(x: float, digits: int, sign: bool = False) -> str:
    """``x`` with ``digits`` decimals and a true minus sign (and a plus sign when ``sign``)."""
    return f"{x:{'+' if sign else ''}.{digits}f}".replace("-", "\u2212")


def markdown(summary: dict, keys=None) -> str:
    """The study as a Markdown table: per row its label, number of seeds and, per metric, mean ± std over seeds
    and the paired difference to the reference row with its 95 % interval, ``(Δ mean [low, high])``. ``keys``
    picks the metrics (default: all the study has); the README's tables are ``markdown(s, README_METRICS)``."""
    st = STUDIES.get(summary.get("study"))
    ref, labels = summary["reference"], st.labels if st else {}
    have = [k for k in METRICS if all(k in r["metrics"] for r in summary["rows"])]
    keys = have if keys is None else [k for k in keys if k in have]
    head = ["row", "seeds"] + [METRICS[k][1] for k in keys]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in summary["rows"]:
        cells = [labels.get(r["name"], r["name"]), str(len(r["seeds"]))]
        for k in keys:
            s, n = r["stats"][k], DIGITS[k]
            cell = _number(s["mean"], n) + (f" ± {_number(s['std'], n)}" if not math.isnan(s["std"]) else "")
            d = r.get("paired_vs_" + ref, {}).get(k)
            if d is not None and not math.isnan(d["ci95_low"]):
                cell += (f" (Δ {_number(d['mean'], n, True)} "
                         f"[{_number(d['ci95_low'], n, True)}, {_number(d['ci95_high'], n, True)}])")
            cells.append(cell)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def verdict_sentences(summary: dict) -> list[str]:
    """One plain sentence per non-reference row: on which metrics the row's claim holds, fails or stays undecided
    against the reference row, whether the kit's mean moves the way the paper's single run did, and whether the
    paper's difference lies outside the kit's 95 % interval (an effect that large is then ruled out at this scale)."""
    ref, out = summary["reference"], []
    for r in summary["rows"]:
        v = summary["verdicts"].get(r["name"])
        if not v:
            continue
        groups = {w: [METRICS[k][1] for k in METRICS if v.get(k) == w] for w in ("holds", "fails", "undecided")}
        parts = [f"{w} on {', '.join(ks)}" for w, ks in groups.items() if ks]
        agree = []
        for k in METRICS:
            p_delta = paper_delta(summary, r["name"], k)
            if p_delta is None:
                continue
            d = r["paired_vs_" + ref][k]
            agree.append(f"{METRICS[k][1]} {'same' if p_delta * d['mean'] > 0 else 'opposite'} direction"
                         + (f" (the paper's {_number(p_delta, DIGITS[k], True)} is outside the kit's interval "
                            f"[{_number(d['ci95_low'], DIGITS[k], True)}, {_number(d['ci95_high'], DIGITS[k], True)}]: "
                            "ruled out at this scale)" if outside_interval(d, p_delta) else ""))
        side = f"; beside the paper's run: {', '.join(agree)}" if agree else ""
        out.append(f"`{r['name']}` against `{ref}` ({len(r['seeds'])} seeds): {'; '.join(parts)}{side}.")
    return out


# ---------------------------------------------------------------------------------------------- the study
def run_study(study: str, seeds, out, size: str | Size = "claims", steps: int | None = None, jobs: int = 1,
              lpips: bool = True, rows=None, log=print) -> dict:
    """Every (row, seed) of ``study`` (``jobs`` side by side, one thread each), then :func:`summarize`."""
    st = _study(study)
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


def _study(name) -> Study:
    if name not in STUDIES:
        raise ValueError(f"Unknown study {name!r}: choose from {', '.join(STUDIES)}.")
    return STUDIES[name]


def _size(size) -> Size:
    if isinstance(size, Size):
        return size
    if size not in SIZES:
        raise ValueError(f"Unknown size {size!r}: choose from {', '.join(SIZES)}.")
    return SIZES[size]


# ---------------------------------------------------------------------------------------------- command line
def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = __doc__.split("\n\n")[0].replace("``", "")
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = "\n\n".join(__doc__.split("\n\n")[1:])
    parser.add_argument("study", choices=list(STUDIES), help="blur (Table 4) or components (Table 2)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="seeds (default 0 1 2)")
    parser.add_argument("--size", default="claims", choices=list(SIZES), help="run size (default: claims)")
    parser.add_argument("--steps", type=int, default=None, help="optimiser steps per run (default: the size's)")
    parser.add_argument("--rows", nargs="+", default=None, help="only these rows")
    parser.add_argument("--jobs", type=int, default=1, help="runs side by side, one thread each (default 1)")
    parser.add_argument("--out", default=None, help="run folders (default: runs/claims/<study>)")
    parser.add_argument("--json", type=Path, default=None, help="write the study's JSON here as well")
    parser.add_argument("--no-lpips", action="store_true", help="skip LPIPS and tLP")


def main(args: argparse.Namespace) -> int:
    if args.jobs < 1:
        print(f"error: --jobs must be >= 1, got {args.jobs}.", file=sys.stderr)
        return 2
    try:
        out = output_option(args.out, "--out") if args.out is not None else Path("runs") / "claims" / args.study
        if args.json is not None:
            refuse_overlap(output_option(args.json, "--json"), "--json", [("the sample clips", sample_root())])
        refuse_overlap(out, "--out", [("the sample clips", sample_root())])
        if args.steps is not None and args.steps < 1:
            raise ValueError(f"--steps must be >= 1, got {args.steps}.")
        with FolderLock(out, "--out", "ablate"):
            summary = run_study(args.study, args.seeds, out, size=args.size, steps=args.steps, jobs=args.jobs,
                                lpips=not args.no_lpips, rows=args.rows)
            text = json.dumps(summary, indent=1) + "\n"
            atomic_write_text(out / "summary.json", text)
    except (ConfigError, ValueError, FileNotFoundError, NotADirectoryError, LockedError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.json is not None:
        atomic_write_text(args.json, text)
    print(markdown(summary), end="")
    print("verdicts:", json.dumps(summary["verdicts"]))
    return 0
