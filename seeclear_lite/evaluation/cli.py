"""``python -m seeclear_lite evaluate``: super-resolve a dataset and write a metrics table.

``--gt`` takes either a BasicSR root (``<root>/GT/<clip>/%08d.png``, and ``<root>/BIx4/<clip>/`` is used
as LR when present) or the GT folder itself (``<GT>/<clip>/%08d.png``); without LR frames they are made
with the BI degradation (MATLAB bicubic x4, rounded to 8 bits). Results go to ``--out``: the SR frames
(``SR/<clip>/%08d.png``), ``metrics.json`` / ``.csv`` / ``.md`` (per clip + average) and ``run.json``.

Examples (the committed sample clips: the bicubic baseline row, then a trained checkpoint)::
    python -m seeclear_lite evaluate --gt data/samples --method bicubic --out results/eval_bicubic
    python -m seeclear_lite evaluate --gt data/samples --method checkpoint --checkpoint runs/tiny/checkpoints/best.pt --out results/eval_tiny
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..config import POSTERIOR_FORMS
from ..degradation import DEFAULT_DEGRADATION, DEGRADATIONS
from ..training.checkpoint import default_checkpoint
from ..training.cli_sample import MAX_PSNR_HELP
from ..utils.lock import FolderLock, LockedError, check_seed, output_option, refuse_overlap
from .harness import evaluate


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = ("Super-resolve every clip of a dataset (BasicSR layout) and write the SR frames and a "
                          "metrics table: PSNR/SSIM on RGB and Y, LPIPS (VGG), temporal metrics, timing.")
    parser.epilog = __doc__.split("\n\n")[1].replace("``", "")
    parser.add_argument("--gt", type=Path, required=True, help="BasicSR root (with GT/) or the GT folder itself")
    parser.add_argument("--lr", type=Path, default=None, help="LR folder <LR>/<clip>/ (default: <gt>/BIx4, "
                                                              "else BI degradation on the fly)")
    parser.add_argument("--method", choices=("bicubic", "checkpoint"), default="bicubic",
                        help="bicubic: the baseline row; checkpoint: a trained model (--checkpoint PATH)")
    parser.add_argument("--checkpoint", type=Path, default=None, help="model checkpoint for --method checkpoint "
                                                                      "(default: the shipped data/checkpoints/small.pt)")
    parser.add_argument("--form", choices=POSTERIOR_FORMS, default=None,
                        help="reverse step of the sampler (default: the checkpoint's own)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the sampler's noise (default 0)")
    add_point_arguments(parser)
    parser.add_argument("--degradation", choices=tuple(DEGRADATIONS), default=DEFAULT_DEGRADATION,
                        help="how LR frames are made from the GT when no LR folder is given (default bi_x4, the "
                             "paper's; a root's BIx4 folder is used only for bi_x4)")
    parser.add_argument("--out", required=True, help="results folder")
    parser.add_argument("--overwrite", action="store_true", help="replace earlier results in --out")
    parser.add_argument("--crop-border", type=int, default=0, help="pixels cropped on each side before "
                                                                   "PSNR/SSIM (default 0, as the paper)")
    parser.add_argument("--max-frames", type=int, default=None, help="only the first N frames of each clip")
    parser.add_argument("--clips", nargs="+", default=None, help="only these clips")
    parser.add_argument("--scale", type=int, default=4, help="super-resolution factor (default 4)")
    parser.add_argument("--no-lpips", action="store_true", help="skip LPIPS and tLP (no weights needed)")
    parser.add_argument("--device", default=None, help="device for the method and LPIPS (default: auto)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument("--no-fast", action="store_true", help="plain eager fp32 instead of the CPU fast path")


#: What ``--help`` says about the points a user can pick (numbers from ``tradeoff``; see the README).
POINT_HELP = ("network calls per clip on the re-spaced schedule (default: the checkpoint's own chain; see "
              "`python -m seeclear_lite tradeoff` for each choice's PSNR and LPIPS)")


def add_point_arguments(parser: argparse.ArgumentParser) -> None:
    """``--steps K`` and ``--max-psnr``: where on the perception-distortion plane a checkpoint's output lands."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--steps", type=int, default=None, metavar="K", help=POINT_HELP)
    group.add_argument("--max-psnr", action="store_true", help=MAX_PSNR_HELP)


def chosen_steps(args: argparse.Namespace) -> int | None:
    """The number of network calls per clip the user chose (None = the checkpoint's default)."""
    return 1 if args.max_psnr else args.steps


def main(args: argparse.Namespace) -> int:
    try:
        out = output_option(args.out, "--out")
        check_seed(args.seed)
        checkpoint = args.checkpoint
        if args.method == "checkpoint" and checkpoint is None:
            checkpoint = default_checkpoint()
        refuse_overlap(out, "--out", [("--gt", args.gt), ("--lr", args.lr),
                                      ("--checkpoint", checkpoint if args.method == "checkpoint" else None)])
        if out.exists() and not out.is_dir():
            raise NotADirectoryError(f"--out {out} is a file; give a folder.")
        with FolderLock(out, "--out", "evaluate"):
            evaluate(args.gt, out, lr=args.lr, method=args.method, checkpoint=args.checkpoint, scale=args.scale,
                     crop_border=args.crop_border, max_frames=args.max_frames, clips=args.clips,
                     use_lpips=not args.no_lpips, overwrite=args.overwrite, device=args.device,
                     progress=not args.no_progress, form=args.form, seed=args.seed, fast=not args.no_fast,
                     steps=chosen_steps(args), degradation=args.degradation)
    except (FileNotFoundError, FileExistsError, NotADirectoryError, ValueError, LockedError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except RuntimeError as err:      # an allocation beyond this machine's memory: one line, earlier results kept
        text = str(err).lower()
        if "out of memory" not in text and "alloc" not in text:
            raise
        print(f"error: the frames of {args.gt} do not fit in memory on this machine for --method {args.method} "
              f"({str(err).strip().splitlines()[0][:120]}); evaluate smaller frames (crop or downscale them), or "
              f"super-resolve them first with `sample`, which tiles large frames.", file=sys.stderr)
        return 2
    return 0
