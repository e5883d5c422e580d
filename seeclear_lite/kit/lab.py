"""The machinery of the class lab (``notebooks/10_class_lab.ipynb``): a training budget in minutes turned into a
step count measured on the student's machine, the live validation curve against bicubic, error maps, the verdict
against a target, and the class table in which every student's seed is one row of a seed study.

Everything here is plain and small on purpose: the notebook shows the steps, this module keeps them tested.
"""

from __future__ import annotations

import csv
import math
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from ..config import TrainConfig
from ..data.corpus import default_corpus_dir
from ..data.io import list_frames, read_image_uint8
from ..data.samples import list_sample_clips, load_sample_clip
from ..degradation import degrade_uint8
from ..training import train
from .study_stats import interval

#: The lab's target: the student's first-step estimate beats bicubic by this much (PSNR-Y, dB) on the lab clip.
TARGET_DB = 0.3
#: Share of the training budget kept for validation and checkpoints (the probe measures optimiser steps only).
VALIDATION_RESERVE = 0.25
#: Columns of the class table, one row per student run.
CLASS_COLUMNS = ("student", "seed", "steps", "train_minutes", "device", "fallback_shown", "clip", "psnr_y_bicubic",
                 "psnr_y_first", "psnr_y_chain", "lpips_bicubic", "lpips_first", "lpips_chain")


def steps_for_budget(seconds_per_step: float, minutes: float, reserve: float = VALIDATION_RESERVE,
                     minimum: int = 10) -> int:
    """The optimiser steps that fit ``minutes`` of wall clock at ``seconds_per_step``, ``reserve`` of it kept for
    validation (at least ``minimum`` steps, so a run always has a curve)."""
    if not (seconds_per_step > 0 and math.isfinite(seconds_per_step)):
        raise ValueError(f"seconds_per_step must be a finite number > 0, got {seconds_per_step!r}.")
    if not (minutes > 0 and math.isfinite(minutes)):
        raise ValueError(f"TRAIN_MINUTES must be a finite number > 0, got {minutes!r}: set it in the parameters cell.")
    if not 0 <= reserve < 1:
        raise ValueError(f"reserve must be in [0, 1), got {reserve!r}.")
    return max(int(minimum), int(minutes * 60 * (1 - reserve) / seconds_per_step))


def probe_speed(cfg, device, steps: int = 12) -> float:
    """Seconds per optimiser step of ``cfg`` on ``device``, measured by training ``steps`` steps in a temporary
    folder (the first two are not counted: they pay for allocation)."""
    d = cfg.to_dict()
    d["stages"] = [{"name": "probe", "steps": int(steps), "train": d["stages"][0]["train"]}]
    d["val"]["every"], d["runtime"]["ckpt_every"], d["runtime"]["log_every"] = 0, int(steps), 1
    d["runtime"]["progress"], d["runtime"]["max_minutes"] = False, None
    probe = TrainConfig.from_dict(d)
    times: list[float] = []
    with tempfile.TemporaryDirectory(prefix="seeclear_probe_") as tmp:
        train(probe, Path(tmp) / "run", device=device, log=lambda *_: None,
              callback=lambda row: times.append(time.perf_counter()))
    gaps = np.diff(times[2:]) if len(times) > 3 else np.diff(times)
    return float(np.median(gaps)) if len(gaps) else float("nan")


def draw_live(ax_psnr, ax_lpips, rows: list[dict], bicubic: dict, target_db: float = TARGET_DB) -> None:
    """Validation PSNR and LPIPS of the default output and of the first step against the step, with bicubic's
    values (and the target) as lines: what the student watches while the model trains."""
    val = [r for r in rows if r.get("val_psnr") is not None]
    steps = [r["step"] for r in val]
    for ax, key, bic, label in ((ax_psnr, "psnr", bicubic["psnr"], "PSNR (dB, higher is better)"),
                                (ax_lpips, "lpips", bicubic.get("lpips"), "LPIPS (lower is better)")):
        ax.clear()
        if bic is not None:
            ax.axhline(bic, color="0.4", ls="--", lw=1, label="bicubic")
        if key == "psnr":
            ax.axhline(bicubic["psnr"] + target_db, color="tab:green", ls=":", lw=1, label=f"target (+{target_db} dB)")
        for prefix, style, name in (("val_first_", "s-", "first step x̂0"), ("val_", "o-", "chain (default)")):
            ys = [r.get(prefix + key) for r in val]
            if any(y is not None for y in ys):
                ax.plot(steps, [np.nan if y is None else y for y in ys], style, ms=3, label=name)
        ax.set_xlabel("training step")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    ax_psnr.legend(fontsize=8, loc="lower right")


def error_maps_figure(gt: torch.Tensor, outputs: dict, box: tuple[int, int, int], title: str = ""):
    """One frame: the ground truth, then each output (dict name -> [3, H, W] in [0, 1]) with its absolute error
    map (mean over colours, ×4 brightened, same scale for all) and a zoom of ``box = (y, x, size)``."""
    import matplotlib.pyplot as plt

    y, x, z = box
    names = list(outputs)
    fig, axes = plt.subplots(3, len(names) + 1, figsize=(2.6 * (len(names) + 1), 7.2), layout="constrained")
    show = lambda im: im.permute(1, 2, 0).clamp(0, 1).numpy()      # noqa: E731
    axes[0, 0].imshow(show(gt))
    axes[0, 0].add_patch(plt.Rectangle((x, y), z, z, fill=False, ec="yellow", lw=1.2))
    axes[0, 0].set_title("ground truth")
    axes[1, 0].axis("off")
    axes[2, 0].imshow(show(gt[:, y:y + z, x:x + z]), interpolation="nearest")
    for j, name in enumerate(names, start=1):
        out = outputs[name]
        err = (out - gt).abs().mean(0)
        axes[0, j].imshow(show(out))
        axes[0, j].set_title(name, fontsize=9)
        axes[1, j].imshow((err * 4).clamp(0, 1).numpy(), cmap="magma", vmin=0, vmax=1)
        axes[1, j].set_title(f"|error| ×4 (mean {255 * err.mean():.1f}/255)", fontsize=8)
        axes[2, j].imshow(show(out[:, y:y + z, x:x + z]), interpolation="nearest")
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    axes[1, 0].set_visible(False)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def busiest_box(gt: torch.Tensor, size: int) -> tuple[int, int, int]:
    """``(y, x, size)`` of the window with the most gradient energy in a [3, H, W] frame (the text, the edges):
    where a ×4 gain shows, chosen from the ground truth alone."""
    g = gt.mean(0)
    energy = (g[1:, :-1] - g[:-1, :-1]).abs() + (g[:-1, 1:] - g[:-1, :-1]).abs()
    size = min(size, energy.shape[0], energy.shape[1])
    pooled = torch.nn.functional.avg_pool2d(energy[None, None], size, stride=max(1, size // 4))[0, 0]
    i = int(pooled.argmax())
    r, c = divmod(i, pooled.shape[1])
    return r * max(1, size // 4), c * max(1, size // 4), size


def verdict(gain_db: float, target_db: float = TARGET_DB) -> str:
    """A message, never an assert: a student run that falls short still finishes the lab."""
    if not math.isfinite(gain_db):
        return "no score: the run did not produce a validation result; use the fallback checkpoint."
    if gain_db >= target_db:
        return f"✓ target met: +{gain_db:.2f} dB over bicubic (target +{target_db} dB)."
    if abs(gain_db) < 0.05:
        return (f"= level with bicubic ({gain_db:+.2f} dB): the model has not learnt to add detail yet; train longer "
                f"(TRAIN_MINUTES) and look at the fallback checkpoint below.")
    if gain_db > 0:
        return (f"~ beats bicubic by {gain_db:+.2f} dB but not by the target +{target_db} dB: train longer "
                f"(TRAIN_MINUTES) or compare with the fallback checkpoint below.")
    return (f"✗ {gain_db:+.2f} dB: below bicubic. A short or slow run can end here; the fallback checkpoint shows what "
            f"the recipe reaches, and the class table shows where your seed sits.")


def append_row(path, row: dict) -> Path:
    """Append one run to the class CSV ``path`` (created with a header when new). The whole file is rewritten to a
    temporary file and swapped in, so a crash never leaves a half-written table; a row for the same (student,
    seed) replaces the earlier one (re-running the lab does not count a seed twice)."""
    path = Path(path)
    missing = [c for c in CLASS_COLUMNS if c not in row]
    if missing:
        raise ValueError(f"class-table row lacks {missing}; it needs every column of CLASS_COLUMNS.")
    rows = [r for r in read_table(path) if (r["student"], r["seed"]) != (str(row["student"]), float(row["seed"]))]
    rows.append({c: row[c] for c in CLASS_COLUMNS})
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".class_table_", suffix=".csv", dir=path.parent)
    try:
        with os.fdopen(fd, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=CLASS_COLUMNS)
            w.writeheader()
            w.writerows(rows)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_table(path) -> list[dict]:
    """The class table's rows (empty when the file does not exist yet); numbers as floats."""
    path = Path(path)
    if not path.is_file():
        return []
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames is None or list(reader.fieldnames) != list(CLASS_COLUMNS):
            raise ValueError(f"{path} is not a class table of this kit (columns {reader.fieldnames}); give CLASS_TABLE "
                             f"a new file name.")
        rows = list(reader)
    numeric = set(CLASS_COLUMNS) - {"student", "device", "clip", "fallback_shown"}
    for r in rows:
        for k in numeric:
            r[k] = float(r[k]) if r[k] not in ("", None) else math.nan
        r["fallback_shown"] = str(r["fallback_shown"]) == "True"
    return rows


def class_summary(rows: list[dict], level: float = 0.95) -> dict:
    """Gains over bicubic of every student's own run (below-target runs included: leaving them out would flatter
    the recipe), as the mean and the Student-t interval over seeds (the class is the seed study), and the range of
    steps the laptops reached in the same minutes."""
    own = list(rows)
    out = {"runs": len(own), "steps_range": [min((r["steps"] for r in own), default=math.nan),
                                             max((r["steps"] for r in own), default=math.nan)]}
    for key, a, b in (("gain_first_db", "psnr_y_first", "psnr_y_bicubic"), ("gain_chain_db", "psnr_y_chain", "psnr_y_bicubic"),
                      ("lpips_first_delta", "lpips_first", "lpips_bicubic"), ("lpips_chain_delta", "lpips_chain", "lpips_bicubic")):
        values = [r[a] - r[b] for r in own if math.isfinite(r[a] - r[b])]
        if values:
            mean, sd, lo, hi = interval(values, level)
            out[key] = {"mean": mean, "sd": sd, "low": lo, "high": hi, "n": len(values)}
    return out


def load_lab_clip(name: str, source: str, max_frames: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``(lr, gt)`` float32 ``[N, 3, h, w]`` / ``[N, 3, 4h, 4w]`` in [0, 1] of one clip: from the corpus (``source``
    "pack" or "corpus": its GT frames, LR made by BI ×4 as the pack stores them) or from the committed sample clips
    (``"samples"``)."""
    if source == "samples":
        if name not in list_sample_clips():
            raise ValueError(f"CLIP={name!r} is not a sample clip (they are {list_sample_clips()}).")
        return load_sample_clip(name, "BIx4", max_frames), load_sample_clip(name, "GT", max_frames)
    if source not in ("pack", "corpus"):
        raise ValueError(f"source must be 'pack', 'corpus' or 'samples', got {source!r}.")
    folder = default_corpus_dir() / "GT" / name
    if not folder.is_dir():
        raise FileNotFoundError(f"no corpus clip {name!r} at {folder}: build the corpus once with `python -m "
                                f"seeclear_lite data build` (or install the class's offline bundle), or pick another CLIP.")
    gt8 = np.stack([read_image_uint8(p) for p in list_frames(folder)[:max_frames]])
    lr8 = degrade_uint8(gt8)
    to = lambda a: torch.from_numpy(a).permute(0, 3, 1, 2).float() / 255.0      # noqa: E731
    return to(lr8), to(gt8)
