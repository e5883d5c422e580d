"""Export a training run as a shippable checkpoint: float16 EMA weights plus a JSON record.

    python -m seeclear_lite export --run runs/base --out data/checkpoints/base.pt
    python -m seeclear_lite export --rescore data/checkpoints/base.pt     # validate again here, e.g. with LPIPS

Two files are written (atomically; an existing file is kept unless ``--overwrite``):
- ``<out>.pt``: a checkpoint in the kit's format (``torch.load(weights_only=True)``; ``sample``, ``evaluate``
  and :func:`~seeclear_lite.training.checkpoint.load_model` read it) holding the EMA weights in float16, the
  training and model configs, the step and the run's timing. ``model`` and ``ema`` are the same tensors, stored
  once. No optimiser or RNG state: an export cannot be resumed (resume from the run folder instead). Half
  precision halves the file (the ``base`` model: ~15 MiB instead of ~30) at a cost in PSNR far below what the
  sampler's noise moves; the JSON records the export's own scores.
- ``<out>.json``: what the checkpoint is and how good it is: preset and config, steps done and planned, wall
  time and devices of training, the training data's fingerprint (the pack's sha256 and that of its corpus
  manifest, or the corpus manifest's), the git commit, and the validation of the *exported* weights (float16
  read back into the float32 model, exactly as shipped) against bicubic on the held-out clip(s), with the
  evaluation harness of ``python -m seeclear_lite evaluate``: PSNR / SSIM on RGB and Y, LPIPS (when its weights
  are in the cache), tMAE and tLP. A run started with ``train --init`` (a fine-tune) also records where its
  weights came from (``init``: the run's ``init.json``, and the record of that export when its JSON is still beside
  it with the same sha256), so a fine-tuned shipped model keeps its whole history; the parent's history and
  curves are kept beside the export as ``<out>_init_history.csv`` / ``<out>_init_curves.png`` (its validation
  windows may differ from the fine-tune's, so the two are not drawn as one curve), and the parent's own parent's as
  ``<out>_init_init_*``, one ``_init`` per generation.

Beside them: ``<out>_history.csv`` (the run's loss / validation rows, the whole run) and
``<out>_curves.png`` (that history drawn, with bicubic on the validation windows; when matplotlib is installed).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from ..data.corpus import default_corpus_dir, load_manifest
from ..data.samples import VALIDATION_CLIP, sample_root
from ..diffusion import BlurringResShift
from ..metrics.lpips_weights import weights_path
from ..utils.device import device_name, get_device
from ..utils.lock import LockedError, file_lock, output_option, refuse_overlap
from ..utils.io import (atomic_torch_save, atomic_write_bytes, atomic_write_png, atomic_write_text, sha256_bytes,
                        sha256_file)
from ..training.checkpoint import (CHECKPOINT_FORMAT, CheckpointError, CheckpointManager, checkpoint_config,
                                   load_checkpoint)
from ..training.curves import training_curves
from ..training.engine import history_csv
from ..training.preflight import INIT_RECORD
from ..training.validation import Validator
from .harness import evaluate

#: The size limit of a checkpoint committed to the repository.
MAX_SHIPPED_BYTES = 16 * 2**20


def find_source(run_or_checkpoint: str | os.PathLike, which: str = "best") -> Path:
    """The checkpoint to export: a file as given, or in a run folder ``best.pt`` (``which="best"``, falling back
    to the latest step when validation never ran) or the latest step checkpoint (``which="latest"``)."""
    path = Path(run_or_checkpoint)
    if which not in ("best", "latest"):
        raise ValueError(f"which must be 'best' or 'latest', got {which!r}")
    if path.is_file():
        return path
    if not path.is_dir():
        raise FileNotFoundError(f"Nothing to export at {path}: give a run folder written by `python -m "
                                f"seeclear_lite train --out DIR` or one of its checkpoints (DIR/checkpoints/*.pt).")
    mgr = CheckpointManager(path / "checkpoints" if (path / "checkpoints").is_dir() else path)
    if which == "best" and mgr.best_path.is_file():
        return mgr.best_path
    latest = mgr.latest()
    if latest is None:
        raise FileNotFoundError(f"{path} holds no checkpoint (looked for best.pt and step_*.pt in {mgr.dir}). "
                                f"Train first: python -m seeclear_lite train --config NAME --out {path}")
    return latest


def half_weights(state: dict) -> dict:
    """Floating-point tensors to float16 (integer buffers, e.g. relative-position indices, stay as they are)."""
    out = {}
    for k, v in state.items():
        if v.is_floating_point():
            h = v.detach().to(torch.float16)
            if not torch.isfinite(h).all():
                raise ValueError(f"Weight {k!r} does not fit float16 (its largest magnitude is "
                                 f"{v.abs().max().item():.3g}; float16 tops out at 65504): export in float32 instead.")
            out[k] = h
        else:
            out[k] = v.detach().clone()
    return out


def training_data_record(cfg) -> dict:
    """Where the run's training clips came from, with hashes that identify them."""
    d = cfg.data
    rec = {"source": d.source, "root": d.root}
    try:
        if d.source == "pack" and d.root and Path(d.root).is_file():
            import numpy as np

            with np.load(d.root, allow_pickle=False) as z:
                manifest_bytes = bytes(z["manifest"])
            manifest = json.loads(manifest_bytes)
            rec.update(pack_sha256=sha256_file(d.root),
                       corpus_manifest_sha256=sha256_bytes(manifest_bytes),
                       clips={n: c.get("split") for n, c in sorted(manifest["clips"].items())})
        elif d.source == "corpus":
            root = Path(d.root) if d.root else default_corpus_dir()
            manifest = load_manifest(root)
            pixels = {n: c.get("pixels_sha256") for n, c in sorted(manifest["clips"].items())}
            rec.update(root=str(root),
                       corpus_manifest_sha256=sha256_bytes(json.dumps(pixels, sort_keys=True).encode()),
                clips={n: c.get("split") for n, c in sorted(manifest["clips"].items())})
    except (OSError, ValueError, KeyError) as err:   # the record must not stop an export: say what is missing
        rec["note"] = f"could not fingerprint the training data ({type(err).__name__}: {err})"
    return rec


def git_commit(cwd: str | os.PathLike | None = None) -> str | None:
    """``git rev-parse HEAD`` of the kit's checkout (``$GIT_COMMIT`` wins: the GPU machine has a copy, no .git)."""
    if os.environ.get("GIT_COMMIT"):
        return os.environ["GIT_COMMIT"]
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd or Path(__file__).resolve().parents[2],
                             capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    return out.stdout.strip() or None


def score_checkpoint(path: Path, gt=None, clips=None, use_lpips: bool | None = None, device=None,
                     seed: int = 0) -> dict:
    """Metrics of the checkpoint at ``path`` and of bicubic on the same frames (evaluation harness).

    ``gt``: a BasicSR root (default: the committed sample clips); ``clips``: default the held-out clip;
    ``use_lpips``: None = when its weights are in the cache (no download here)."""
    gt = sample_root() if gt is None else Path(gt)
    clips = [VALIDATION_CLIP] if clips is None and gt == sample_root() else clips
    if use_lpips is None:
        use_lpips = weights_path("vgg").is_file()
    t0 = time.perf_counter()
    rows, per_clip = {}, {}
    with tempfile.TemporaryDirectory(prefix="seeclear_export_") as tmp:
        for key, method in (("bicubic", "bicubic"), ("model", "checkpoint")):
            res = evaluate(gt, Path(tmp) / method, method=method, checkpoint=path if method == "checkpoint" else None,
                           clips=clips, use_lpips=use_lpips, device=device, progress=False,
                           log=lambda *a, **k: None, seed=seed)
            rows[key] = res["average"]
            per_clip[key] = res.get("clips")
    return {"dataset": str(gt), "clips": clips, "seed": seed, "lpips": bool(use_lpips), "average": rows,
            "per_clip": per_clip, "seconds": round(time.perf_counter() - t0, 2)}


def bicubic_on_validation(cfg, device, log=print) -> dict | None:
    """Bicubic scored on the run's own validation windows (what ``val_history`` scored the model on), or None
    when that data is not on this machine (e.g. the corpus pack was not built here)."""
    try:
        validator = Validator(cfg, BlurringResShift.from_config(cfg.diffusion), device, log=lambda *a: None)
    except (FileNotFoundError, ValueError) as err:
        log(f"note: no bicubic line for the training-time validation: {str(err).splitlines()[0]}")
        return None
    out = validator.bicubic()
    log(f"bicubic on the training-time validation windows: PSNR {out['val_psnr']:.2f} dB, SSIM {out['val_ssim']:.4f}"
        + (f", LPIPS {out['val_lpips']:.4f}" if out["val_lpips"] is not None else ""))
    return out


def _validation_line(validation: dict) -> str:
    """One line of a validation block: the model against bicubic."""
    m, b = validation["average"]["model"], validation["average"]["bicubic"]
    lp = f", LPIPS {m['lpips_vgg']:.4f} vs {b['lpips_vgg']:.4f}" if validation["lpips"] else ""
    return (f"held-out {', '.join(validation['clips'] or ['all clips'])}: PSNR {m['psnr_rgb']:.2f} vs bicubic "
            f"{b['psnr_rgb']:.2f} dB, SSIM {m['ssim_rgb']:.4f} vs {b['ssim_rgb']:.4f}{lp}")


def export_run(run_or_checkpoint, out, which: str = "best", overwrite: bool = False, score: bool = True,
               gt=None, clips=None, use_lpips: bool | None = None, device=None, log=print) -> dict:
    """Write ``out`` (``.pt``) and ``out`` with ``.json``; return the JSON record (see the module docstring)."""
    out = Path(out)
    if out.suffix != ".pt":
        raise ValueError(f"--out must name a .pt file (the JSON goes beside it), got {out}")
    record_path = out.with_suffix(".json")
    for p in (out, record_path):
        if p.exists() and not overwrite:
            raise FileExistsError(f"{p} exists: pass overwrite=True (--overwrite) to replace it, or choose another "
                                  f"--out.")
    src = find_source(run_or_checkpoint, which)
    ck = load_checkpoint(src)
    cfg = checkpoint_config(ck)
    lineage = init_lineage(src)     # read before writing: a fine-tune may replace the very export it started from
    parent_files = parent_history_files(lineage, out)
    weights = half_weights(ck["ema"] if ck.get("ema") is not None else ck["model"])
    timing = ck.get("timing") or {}
    shipped = {"format": CHECKPOINT_FORMAT, "kit_version": ck.get("kit_version"), "config": ck["config"],
               "model": weights, "ema": weights,   # same tensors: stored once
               "step": ck["step"], "stage": ck["stage"], "best": ck.get("best"), "timing": timing,
               "weights": "EMA, float16", "exported_from": src.name}
    atomic_torch_save(shipped, out)
    size = out.stat().st_size
    log(f"export: {out} ({size / 2**20:.2f} MiB, float16 EMA weights) from {src} at step {ck['step']}/"
        f"{cfg.total_steps}")
    history = ck.get("history") or []
    rows = run_history(src, history)
    run_steps = max([int(r["step"]) for r in rows] + [ck["step"]])
    record = {
        "checkpoint": out.name, "size_bytes": size, "fits_in_repo": size <= MAX_SHIPPED_BYTES,
        "exported_from": str(src), "preset": cfg.preset,
        "parameters": sum(v.numel() for k, v in weights.items() if v.is_floating_point()),
        "step": ck["step"], "total_steps_planned": cfg.total_steps,
        "run_steps": run_steps, "finished": run_steps >= cfg.total_steps,   # the run; `step` is the one exported
        "stages": [dict(s.__dict__) for s in cfg.stages],
        "training_wall_s": timing.get("wall_s"), "training_busy_s": timing.get("data_s", 0.0) + timing.get(
            "compute_s", 0.0), "training_devices": timing.get("devices"), "timing": timing,
        "training_data": training_data_record(cfg),
        "kit_version": ck.get("kit_version"), "torch_export": str(torch.__version__), "git_commit": git_commit(),
        "exported": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "best_during_training": ck.get("best"),
        "val_history": [{k: r.get(k) for k in ("step", "stage", "val_psnr", "val_ssim", "val_lpips")}
                        for r in history if r.get("val_psnr") is not None],
        "config": ck["config"],
    }
    if lineage is not None:
        record["init"] = lineage
    if score:
        dev = get_device(device=device)
        record["validation"] = score_checkpoint(out, gt=gt, clips=clips, use_lpips=use_lpips, device=dev,
                                                seed=cfg.val.seed)
        record["validation"]["device"] = device_name(dev)
        log(_validation_line(record["validation"]))
        record["val_bicubic"] = bicubic_on_validation(cfg, dev, log)
    atomic_write_text(record_path, json.dumps(record, indent=1) + "\n")
    log(f"record: {record_path}")
    for path, data in parent_files.items():
        atomic_write_bytes(path, data)
        log(f"the training it was fine-tuned from: {path}")
    write_curves(out, rows, cfg.stages, record.get("val_bicubic"), ck["step"], log)
    if size > MAX_SHIPPED_BYTES:
        log(f"note: {out.name} is {size / 2**20:.1f} MiB, over the {MAX_SHIPPED_BYTES // 2**20} MiB a committed "
            f"checkpoint may have")
    return record


#: What :func:`init_lineage` keeps of the record of the export a fine-tune started from.
PARENT_KEYS = ("checkpoint", "exported_from", "preset", "step", "stages", "training_wall_s", "training_devices",
               "training_data", "git_commit", "exported", "best_during_training", "val_history", "init")


def init_lineage(src: Path) -> dict | None:
    """Where the weights of the run that wrote ``src`` started: its ``init.json`` (``train --init``), plus the
    essentials of that checkpoint's export record when the record is beside it and still describes the same file
    (sha256); nested, so a fine-tune of a fine-tune keeps the chain. None for a run trained from scratch."""
    path = run_file(src, INIT_RECORD)
    if path is None:
        return None
    lineage = json.loads(path.read_text())
    parent = Path(lineage.get("init_from", ""))
    parent_record = parent.with_suffix(".json")
    if not (parent.is_file() and parent_record.is_file()):
        lineage["parent_record"] = None
        lineage["note"] = f"{parent} or its record is no longer there"
    elif sha256_file(parent) != lineage.get("sha256"):
        lineage["parent_record"] = None
        lineage["note"] = f"{parent} has changed since the run started from it (sha256 differs)"
    else:
        rec = json.loads(parent_record.read_text())
        lineage["parent_record"] = {k: rec[k] for k in PARENT_KEYS if k in rec}
    return lineage


def generations(record: dict) -> list[dict]:
    """The export records a model descends from, oldest first, ``record`` last: ``init.parent_record`` followed
    down (a fine-tune of a fine-tune nests one level per generation). Where a parent's record was not kept (its
    ``init`` says why in ``note``) the list starts at the oldest record known."""
    chain = [record]
    while parent := (chain[0].get("init") or {}).get("parent_record"):
        chain.insert(0, parent)
    return chain


def generation_history(checkpoint: Path, back: int) -> Path:
    """The history CSV kept beside an export for the generation ``back`` steps before it (0: its own run;
    1: ``<stem>_init_history.csv``; 2: ``<stem>_init_init_history.csv``; see :func:`parent_history_files`)."""
    checkpoint = Path(checkpoint)
    return checkpoint.with_name(checkpoint.stem + "_init" * back + "_history.csv")


def parent_history_files(lineage: dict | None, out: Path) -> dict:
    """``{path beside out: bytes}``: the history CSV and curves of the export a fine-tune started from (read now,
    before ``out``'s own files may replace them), to be written as ``<out>_init_history.csv`` / ``_curves.png``.
    The parent's own ``_init_*`` files (a fine-tune of a fine-tune) move one generation back, to
    ``<out>_init_init_*``, as ``init`` nests in the JSON: the run trained from scratch keeps its curves."""
    if not lineage or not lineage.get("parent_record"):
        return {}
    parent = Path(lineage["init_from"])
    files = {}
    for suffix in ("_history.csv", "_curves.png"):
        generation = ""
        while (src := parent.with_name(parent.stem + generation + suffix)).is_file():
            files[out.with_name(out.stem + "_init" + generation + suffix)] = src.read_bytes()
            generation += "_init"
    return files


def run_history(src: Path, fallback: list) -> list:
    """The whole history of the run a checkpoint came from: the run folder's ``history.json`` (a checkpoint holds
    only the rows up to its own save, and the best one may be earlier than the end), else the checkpoint's rows."""
    path = run_file(src, "history.json")
    return (json.loads(path.read_text()).get("rows") or []) if path is not None else list(fallback)


def run_file(src: Path, name: str) -> Path | None:
    """The run folder's file ``name`` for a checkpoint ``src`` (in the run folder or its ``checkpoints/``), or None."""
    return next((f / name for f in (src.parent, src.parent.parent) if (f / name).is_file()), None)


def write_curves(out: Path, rows: list, stages, bicubic: dict | None, step: int | None = None, log=print) -> None:
    """``<out>_history.csv`` and, with matplotlib, ``<out>_curves.png`` (the exported ``step`` marked), written
    atomically beside ``out``; ``bicubic``: :func:`bicubic_on_validation`'s record, the lines to beat."""
    csv_path = out.with_name(out.stem + "_history.csv")
    atomic_write_text(csv_path, history_csv(rows))
    try:
        b = bicubic or {}
        fig = training_curves(rows, stages, b.get("val_psnr"), title=f"{out.stem}: ", mark_step=step,
                              bicubic_lpips=b.get("val_lpips"))
    except ImportError:
        log(f"history: {csv_path} (no matplotlib: no curves figure)")
        return
    png = atomic_write_png(out.with_name(out.stem + "_curves.png"), fig)
    log(f"history: {csv_path}, curves: {png}")


def rescore(pt, use_lpips: bool | None = True, device=None, log=print) -> dict:
    """Validate the exported checkpoint ``pt`` again on this machine and update the ``validation`` block of its
    JSON (the earlier block is kept under ``earlier_validations``). For LPIPS: the GPU machine has no LPIPS
    weights, so an export made there is scored without LPIPS; rescore it where the weights are."""
    pt = Path(pt)
    record_path = pt.with_suffix(".json")
    if not pt.is_file() or not record_path.is_file():
        raise FileNotFoundError(f"rescore needs an export and its record: {pt} and {record_path} (written by "
                                f"`python -m seeclear_lite export --run RUN --out {pt}`).")
    record = json.loads(record_path.read_text())
    cfg = checkpoint_config(load_checkpoint(pt))
    dev = get_device(device=device)
    new = score_checkpoint(pt, clips=(record.get("validation") or {}).get("clips"), use_lpips=use_lpips,
                           device=dev, seed=cfg.val.seed)
    new["device"] = device_name(dev)
    if record.get("validation"):
        record.setdefault("earlier_validations", []).append(record["validation"])
    record["validation"] = new
    atomic_write_text(record_path, json.dumps(record, indent=1) + "\n")
    log(f"rescored {pt}: {_validation_line(new)}; {record_path} updated")
    return record


# ---------------------------------------------------------------------------------------------- CLI
def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--run", help="a run folder of `train --out` (or one checkpoint file)")
    parser.add_argument("--out", help="the .pt file to write (the .json goes beside it)")
    parser.add_argument("--rescore", metavar="PT", default=None,
                        help="instead: validate an existing export again here (e.g. with LPIPS, which the GPU "
                             "machine lacks) and update its JSON")
    parser.add_argument("--which", choices=("best", "latest"), default="best",
                        help="in a run folder: best.pt (default; the latest when validation never ran) or the "
                             "latest step checkpoint")
    parser.add_argument("--gt", default=None, help="BasicSR root to validate on (default: the sample clips)")
    parser.add_argument("--clips", nargs="*", default=None,
                        help="clips to validate on (default: the held-out sample clip; every clip of --gt)")
    parser.add_argument("--lpips", choices=("auto", "on", "off"), default="auto",
                        help="LPIPS in the validation (auto: when its weights are in the cache)")
    parser.add_argument("--no-score", action="store_true", help="write the files without validating")
    parser.add_argument("--device", default=None, help="device for the validation (default: CUDA if available)")
    parser.add_argument("--overwrite", action="store_true", help="replace existing files at --out")


def main(args: argparse.Namespace) -> int:
    use_lpips = {"auto": None, "on": True, "off": False}[args.lpips]
    if args.rescore is not None:
        if args.run or args.out:
            print("error: --rescore PT takes no --run / --out (it updates PT's own JSON)", file=sys.stderr)
            return 2
        try:
            with file_lock(Path(args.rescore).with_suffix(".json"), "--rescore", "export --rescore"):
                rescore(args.rescore, use_lpips=use_lpips, device=args.device)
        except (FileNotFoundError, NotADirectoryError, CheckpointError, ValueError, LockedError) as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        return 0
    if not (args.run and args.out):
        print("error: give --run RUN and --out FILE.pt (or --rescore FILE.pt)", file=sys.stderr)
        return 2
    try:
        out = output_option(args.out, "--out")
        if out.suffix != ".pt":
            raise ValueError(f"--out must name a .pt file (the JSON goes beside it), got {out}")
        written = [out, out.with_suffix(".json"), out.with_name(out.stem + "_history.csv"),
                   out.with_name(out.stem + "_curves.png"), out.with_name(out.stem + "_init_history.csv"),
                   out.with_name(out.stem + "_init_curves.png")]
        for p in written:
            refuse_overlap(p, "--out", [("--run", args.run), ("--gt", args.gt)])
        if out.parent.exists() and not out.parent.is_dir():
            raise NotADirectoryError(f"--out {out}: {out.parent} is a file, not a folder.")
        with file_lock(out, "--out", "export"):
            export_run(args.run, out, which=args.which, overwrite=args.overwrite, score=not args.no_score,
                       gt=args.gt, clips=args.clips, use_lpips=use_lpips, device=args.device)
    except (FileNotFoundError, FileExistsError, NotADirectoryError, CheckpointError, ValueError, LockedError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0
