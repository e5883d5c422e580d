"""The evaluation harness: super-resolve every clip of a dataset and tabulate SeeClear's Table 1 metrics.

For each clip of a BasicSR-layout dataset (REDS4, Vid4, the sample clips) the harness

1. reads the GT frames and the LR frames (``BIx4/`` or made on the fly with the BI degradation, rounded
   to 8 bits as a ``BIx4`` folder stores them),
2. super-resolves the LR frames with the chosen method (``bicubic``: MATLAB bicubic x4, the baseline row
   of Table 1; ``checkpoint``: a trained SeeClear-lite network, Algorithm 1 clip by clip with the CaTeGory
   memory carried across clips, :func:`get_method`) and rounds them to 8 bits, **as saved** (metrics are computed on the saved frames, like
   the VSR literature does),
3. writes the SR frames as ``<out>/SR/<clip>/%08d.png``,
4. computes per frame PSNR and SSIM on RGB and on Y (MATLAB ``rgb2ycbcr``), LPIPS (VGG, the paper's
   choice) and, per transition of consecutive frames, the temporal metrics tMAE and tLP
   (:mod:`seeclear_lite.metrics.temporal`),
5. writes ``metrics.json``, ``metrics.csv`` and ``metrics.md`` (per clip + average), ``per_frame.csv`` and
   ``run.json`` (settings, timing, versions).

Averages are **means over clips of the per-clip means over frames** (over transitions for the
temporal metrics), as REDS4 / Vid4 results are reported. ``metrics.json`` has exactly the keys
``{"method", "average", "clips"}``; ``average`` and each ``clips[<clip>]`` hold :data:`METRIC_KEYS` (None
for a metric that was switched off; values raw: PSNR in dB, the others in [0, 1] units). Outside tools
read these names: keep them stable. ``metrics.md`` shows tMAE x255 (8-bit levels) and tLP x100.
"""

from __future__ import annotations

import json
import math
import platform
import re
import time
from pathlib import Path

import torch
from tqdm.auto import tqdm

from .. import __version__
from ..config import POSTERIOR_FORMS
from ..data.datasets import FolderClips, resolve_basicsr_root
from ..data.io import to_uint8, uint8_to_float, write_image
from ..degradation import DEFAULT_DEGRADATION, bicubic_upsample, check_degradation, degrade_uint8
from ..metrics import get_lpips
from ..metrics.clip_scores import FRAME_METRICS, METRICS, ClipScores, average_over_clips
from ..training.checkpoint import default_checkpoint
from ..training.sampling import checkpoint_super_resolver, fast_path
from ..utils.device import get_device
from ..utils.io import StagedOutput, atomic_write_text, csv_text

#: Keys of every row of metrics.json (stable: outside tools read them).
METRIC_KEYS = (*METRICS, "sr_ms_per_frame")
#: Files and folders the harness writes into ``out`` (and replaces with ``overwrite=True``).
OUTPUTS = ("SR", "metrics.json", "metrics.csv", "metrics.md", "per_frame.csv", "run.json")
METHODS = ("bicubic", "checkpoint")

_HEADERS = {"psnr_rgb": "PSNR RGB (dB)", "ssim_rgb": "SSIM RGB", "psnr_y": "PSNR Y (dB)", "ssim_y": "SSIM Y",
            "lpips_vgg": "LPIPS VGG", "tmae": "tMAE (x255)", "tlp": "tLP (x100)", "sr_ms_per_frame": "ms/frame"}


def get_method(name: str, checkpoint=None, scale: int = 4, device=None, form: str | None = None, seed: int = 0,
               fast: bool = True, steps: int | None = None):
    """The SR function ``lr [T, 3, h, w] -> sr [T, 3, h*scale, w*scale]`` (float, [0, 1]) of a method.

    ``bicubic``: MATLAB bicubic x``scale`` (the baseline row of Table 1). ``checkpoint``: a trained SeeClear-lite
    network (:func:`seeclear_lite.training.sampling.checkpoint_super_resolver`: EMA weights, Algorithm 1 clip by
    clip with the CaTeGory memory carried across clips, the sampler's noise seeded with ``seed``; ``form`` =
    the reverse step, default the checkpoint's own; ``steps`` = network calls per clip, default the checkpoint's,
    1 = the one-step estimate x0_hat(x_T), the highest-PSNR output). Its function has a ``sampler`` attribute
    (:class:`~seeclear_lite.training.sampling.VideoSampler`) that the harness streams whole clips through.
    """
    if name == "bicubic":
        # float64: the 8-bit result is then exact (float32 flips a few .5 roundings); cheap for bicubic
        return lambda lr: bicubic_upsample(lr.double(), scale)
    if name == "checkpoint":
        path = default_checkpoint() if checkpoint is None else Path(checkpoint)
        if not path.is_file():
            raise FileNotFoundError(f"Checkpoint not found: {path}. Train one with `python -m seeclear_lite train "
                                    f"--config tiny --out runs/tiny` (it writes runs/tiny/checkpoints/best.pt), or "
                                    f"give the path of an existing .pt file.")
        if form is not None and form not in POSTERIOR_FORMS:
            raise ValueError(f"form must be one of {', '.join(POSTERIOR_FORMS)} (or None = the checkpoint's), got "
                             f"{form!r}.")

        fn = checkpoint_super_resolver(path, device=device, form=form, seed=seed, fast=fast, steps=steps)
        model_scale = int(fn.sampler.diffusion.scale)   # the factor of the sampler's bicubic y (x4)
        if scale != model_scale:
            raise ValueError(f"{path} super-resolves x{model_scale}, but scale={scale} was asked; "
                             f"evaluate it with --scale {model_scale}.")
        return fn
    raise ValueError(f"Unknown method {name!r}; choose one of {METHODS}.")


def load_lpips_pair(device, enabled: bool, fast: bool = True):
    """The two LPIPS networks (VGG for LPIPS, AlexNet for tLP), on the CPU fast path unless ``fast=False``."""
    if not enabled:
        return None, None
    try:
        return (fast_path(get_lpips("vgg", device), device, fast), fast_path(get_lpips("alex", device), device, fast))
    except FileNotFoundError as err:
        raise FileNotFoundError(f"{err}\n(Or run the evaluation without LPIPS: --no-lpips.)") from err


def _lr_frames(source, name: str, idx, scale: int, degradation: str = DEFAULT_DEGRADATION):
    """(GT uint8, LR uint8) of the frames ``idx`` of a clip; LR from its folder or made by ``degradation``."""
    gt_u8 = source.load_gt(name, idx)
    lr_u8 = source.load_lr(name, idx)
    return gt_u8, (degrade_uint8(gt_u8, scale, degradation) if lr_u8 is None else lr_u8)


def _sync(device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _sr_chunks(sr_fn, source, name: str, n: int, chunk: int, scale: int, device, degradation=DEFAULT_DEGRADATION):
    """Yield ``(frame indices, GT uint8, SR float [k, 3, H, W], seconds of the method)`` over one clip.

    A plain SR function gets ``chunk`` frames at a time. A checkpoint's function (it has a ``sampler``) gets the
    clip's whole LR video, which it cuts into m-frame clips itself, carrying the CaTeGory memory from one to the
    next (Algorithm 1): its clips are streamed, so only the LR video and one clip of SR/GT frames are in memory.
    """
    sampler = getattr(sr_fn, "sampler", None)
    if sampler is None:
        for s in range(0, n, chunk):
            idx = range(s, min(s + chunk, n))
            gt_u8, lr_u8 = _lr_frames(source, name, idx, scale, degradation)
            t0 = time.perf_counter()
            with torch.no_grad():
                sr = sr_fn(uint8_to_float(lr_u8).to(device))
            _sync(device)
            yield idx, gt_u8, sr, time.perf_counter() - t0
        return
    lr = torch.cat([uint8_to_float(_lr_frames(source, name, range(s, min(s + chunk, n)), scale, degradation)[1])
                    for s in range(0, n, chunk)])
    clips = sampler.clips(lr)
    while True:
        t0 = time.perf_counter()
        try:
            start, stop, sr = next(clips)   # clips() runs under no_grad (sample_clip) and returns CPU frames
        except StopIteration:
            return
        _sync(device)
        seconds = time.perf_counter() - t0
        idx = range(start, stop)
        yield idx, source.load_gt(name, idx), sr, seconds


def _finite(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def evaluate(gt, out, lr=None, method: str = "bicubic", checkpoint=None, scale: int = 4, crop_border: int = 0,
             max_frames: int | None = None, clips=None, use_lpips: bool = True, overwrite: bool = False,
             device=None, chunk: int = 8, progress: bool = True, log=print, form: str | None = None,
             seed: int = 0, fast: bool = True, steps: int | None = None,
             degradation: str = DEFAULT_DEGRADATION) -> dict:
    """Evaluate ``method`` on the dataset at ``gt`` and write the results into ``out``; return metrics.json.

    Every argument and input frame is checked before anything is written, and the results are written into a
    staging folder that replaces the old results in ``out`` only when complete, so a failed or interrupted run
    never loses earlier results.

    Args:
        gt: a BasicSR root (``<gt>/GT/<clip>/``, LR from ``<gt>/BIx4/`` when present) or the GT folder itself.
        out: results folder; refuses to replace earlier results unless ``overwrite``.
        lr: LR folder (``<lr>/<clip>/``); default ``<gt>/BIx4`` if present (for the BI degradation), else LR
            frames made on the fly by ``degradation`` (``bi_x4`` or ``bd_x4``; a root's BIx4 folder is not used for
            another degradation).
        crop_border: pixels removed on each side before PSNR/SSIM (0 = the paper's convention).
        max_frames: evaluate only the first N frames of each clip.
        clips: only these clip names.
        use_lpips: compute LPIPS and tLP (needs the weights once: ``python -m seeclear_lite.metrics``).
        device: where the method and LPIPS run (default: CUDA if available, else CPU).
        chunk: frames processed at once (memory bound; a checkpoint streams its own m-frame clips instead).
        form, seed: for ``method="checkpoint"``: the reverse step (default: the checkpoint's) and the seed of the
            sampler's noise (one generator per clip, so each clip's result does not depend on the others).
    """
    if isinstance(scale, bool) or not isinstance(scale, int) or scale < 1:
        raise ValueError(f"--scale must be a positive integer (the paper's x4: 4), got {scale!r}.")
    if crop_border < 0:
        raise ValueError(f"--crop-border must be >= 0, got {crop_border}")
    if max_frames is not None and max_frames < 1:
        raise ValueError(f"--max-frames must be >= 1, got {max_frames}")
    if chunk < 1:
        raise ValueError(f"chunk must be >= 1, got {chunk}")
    if degradation != DEFAULT_DEGRADATION:
        check_degradation(degradation, scale)
    gt_dir, lr_dir = resolve_basicsr_root(gt, lr)
    if degradation != DEFAULT_DEGRADATION and lr is None:
        lr_dir = None                       # a root's BIx4 frames are BI: make this degradation's frames instead
    check_lr_folder_scale(lr_dir, scale)
    source = FolderClips(gt_dir, lr_dir, scale, clips, max_frames)
    for name in source.names:
        h, w = source.sizes[name]
        if 2 * crop_border >= min(h, w):
            raise ValueError(f"--crop-border {crop_border} removes the whole of clip {name!r} ({h}x{w}); use at most "
                             f"{(min(h, w) - 1) // 2}.")
    source.verify_readable()
    out = Path(out)
    device = get_device(device=device)
    sr_fn = get_method(method, checkpoint, scale, device=device, form=form, seed=seed, fast=fast, steps=steps)
    lp_vgg, lp_alex = load_lpips_pair(device, use_lpips, fast)
    with StagedOutput(out, OUTPUTS, overwrite, option="--out") as stage:
        log(f"evaluate {method} x{scale} on {len(source.names)} clips of {gt_dir} "
            f"(LR: {lr_dir if lr_dir else degradation + ' degradation on the fly'}) -> {out}")
        result, run = _evaluate_into(stage.path, source, sr_fn, method, scale, crop_border, lp_vgg, lp_alex,
                                     device, chunk, progress, degradation)
        run.update({"checkpoint": str(checkpoint) if checkpoint else None, "max_frames": max_frames,
                    "gt": str(gt_dir), "degradation": degradation if lr_dir is None else None,
                    "lr": str(lr_dir) if lr_dir else f"{degradation} degradation on the fly (rounded to 8 bit)",
                    "lpips": use_lpips})
        sampler = getattr(sr_fn, "sampler", None)
        if sampler is not None:   # what produced the checkpoint row (Algorithm 1 settings)
            run["sampler"] = {"form": sampler.form, "seed": seed, "clip_length": sampler.m, "T": sampler.diffusion.T,
                              "steps": len(sampler.diffusion.timesteps(sampler.steps)), "noise": sampler.noise,
                              "preset": sr_fn.config.preset, "model": sr_fn.config.preset,
                              "incam": bool(sr_fn.config.model.incam),
                              "category": bool(sr_fn.config.model.category)}
        atomic_write_text(stage.path / "run.json", json.dumps(run, indent=2) + "\n")
        stage.commit()
    log(metrics_markdown(result, run["frames"]))
    return result


def check_lr_folder_scale(lr_dir, scale: int) -> None:
    """An LR folder named like BasicSR's ``BIx4`` / ``BDx4`` must hold frames of that scale."""
    if lr_dir is None:
        return
    m = re.fullmatch(r"(?:BI|BD|LR)x(\d+)", Path(lr_dir).name, flags=re.I)
    if m and int(m.group(1)) != scale:
        raise ValueError(f"the LR folder {lr_dir} is named for x{m.group(1)} but --scale is {scale}: pass "
                         f"--scale {m.group(1)}, or give the x{scale} frames with --lr.")


def _evaluate_into(out: Path, source, sr_fn, method: str, scale: int, crop_border: int, lp_vgg, lp_alex, device,
                   chunk: int, progress: bool, degradation: str = DEFAULT_DEGRADATION) -> tuple[dict, dict]:
    """Run the method over every clip, write the SR frames and the tables into ``out``; (metrics, run record)."""
    per_clip, per_frame_rows, frames_total, notes = {}, [], 0, []
    t_start = time.perf_counter()
    for name in tqdm(source.names, desc="clips", unit="clip", disable=not progress):
        n = source.num_frames(name)
        scores = ClipScores(crop_border, lp_vgg, lp_alex, device)
        sr_seconds = 0.0
        bar = tqdm(total=n, desc=f"  {name}", unit="frame", leave=False, disable=not progress)
        for idx, gt_u8, sr, seconds in _sr_chunks(sr_fn, source, name, n, chunk, scale, device, degradation):
            gt_f = uint8_to_float(gt_u8)
            sr_seconds += seconds
            if sr.shape[-2:] != gt_f.shape[-2:]:
                raise ValueError(f"{method} returned frames of size {tuple(sr.shape[-2:])} for GT "
                                 f"{tuple(gt_f.shape[-2:])} in clip {name!r}.")
            if not torch.isfinite(sr).all():
                raise ValueError(f"{method} returned non-finite values for clip {name!r} (frames {idx.start}.."
                                 f"{idx.stop - 1}): the model's weights or inputs are broken.")
            sr_u8 = to_uint8(sr).cpu().permute(0, 2, 3, 1).numpy()  # the frames as saved (8 bit) ...
            for j, i in enumerate(idx):
                write_image(out / "SR" / name / f"{i:08d}.png", sr_u8[j])
            scores.add(uint8_to_float(sr_u8), gt_f)  # ... and as read back: metrics are computed on exactly these
            bar.update(len(idx))
        bar.close()
        values = scores.values
        for i in range(n):
            row = {"clip": name, "frame": i}
            for k in FRAME_METRICS:
                row[k] = values[k][i] if values[k] else None
            per_frame_rows.append(row)
        per_clip[name] = {**scores.means(), "sr_ms_per_frame": 1000.0 * sr_seconds / n}
        notes += [f"{name}: {note}" for note in scores.notes()]
        frames_total += n
    average = average_over_clips(per_clip, METRIC_KEYS, notes)
    result = {"method": method,
              "average": {k: _finite(v) for k, v in average.items()},
              "clips": {c: {k: _finite(v) for k, v in row.items()} for c, row in per_clip.items()}}
    run = {"kit_version": __version__, "torch": torch.__version__, "python": platform.python_version(),
           "device": str(device), "method": method, "scale": scale, "crop_border": crop_border,
           "frames": {c: source.num_frames(c) for c in source.names},
           "total_frames": frames_total, "wall_seconds": time.perf_counter() - t_start, "notes": notes,
           "units": {"tmae": "mean |d_sr - d_gt| of consecutive-frame differences, frames in [0, 1] "
                             "(metrics.md shows it x255, in 8-bit levels)",
                     "tlp": "TecoGAN tLP (AlexNet LPIPS), raw (metrics.md shows it x100, as TecoGAN)",
                     "sr_ms_per_frame": "method only, no I/O"}}
    atomic_write_text(out / "metrics.json", json.dumps(result, indent=2) + "\n")
    atomic_write_text(out / "metrics.csv", metrics_csv(result, run["frames"]))
    atomic_write_text(out / "metrics.md", metrics_markdown(result, run["frames"])
                      + "".join(f"\n- {note}" for note in notes) + ("\n" if notes else ""))
    atomic_write_text(out / "per_frame.csv", csv_text(per_frame_rows, ["clip", "frame", *FRAME_METRICS]))
    return result, run


def _fmt(key: str, v) -> str:
    if v is None:
        return "-"
    if key.startswith("psnr"):
        return f"{v:.2f}"
    if key.startswith("ssim") or key.startswith("lpips"):
        return f"{v:.4f}"
    if key == "tmae":
        return f"{v * 255:.2f}"
    if key == "tlp":
        return f"{v * 100:.2f}"
    return f"{v:.1f}"


def metrics_csv(result: dict, frames: dict | None = None) -> str:
    """Per-clip rows and an ``average`` row, full precision."""
    frames = frames or {}
    rows = [{"clip": c, "frames": frames.get(c), **v} for c, v in result["clips"].items()]
    rows.append({"clip": "average", "frames": sum(frames.values()) if frames else None, **result["average"]})
    return csv_text(rows, ["clip", "frames", *METRIC_KEYS])


def metrics_markdown(result: dict, frames: dict | None = None) -> str:
    """A markdown table, one row per clip plus the average (means over clips)."""
    frames = frames or {}
    head = ["clip", "frames", *(_HEADERS[k] for k in METRIC_KEYS)]
    lines = [f"method: **{result['method']}**", "", "| " + " | ".join(head) + " |",
             "|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|"]
    for c, v in result["clips"].items():
        lines.append("| " + " | ".join([c, str(frames.get(c, "")), *(_fmt(k, v[k]) for k in METRIC_KEYS)]) + " |")
    avg = result["average"]
    lines.append("| " + " | ".join(["**average**", str(sum(frames.values())) if frames else "",
                                    *(f"**{_fmt(k, avg[k])}**" for k in METRIC_KEYS)]) + " |")
    return "\n".join(lines) + "\n"
