"""``python -m seeclear_lite tradeoff``: a checkpoint's outputs on the perception-distortion plane.

Scores, on the same frames: bicubic, the first step x̂0(x_T) (one network call), chains of k network calls
(the schedule re-spaced), the default chain with several seeds and their mean; writes ``tradeoff.json``,
``tradeoff.md`` and ``tradeoff.png`` into ``--out``.

Examples::
    python -m seeclear_lite tradeoff --out results/plane                       # shipped model, corpus val clips
    python -m seeclear_lite tradeoff --checkpoint runs/x/checkpoints/best.pt --gt data/samples --steps 1 2 4 --out results/plane_x
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..config import NOISE_MODES, POSTERIOR_FORMS
from ..training.checkpoint import default_checkpoint
from ..utils.lock import FolderLock, LockedError, check_seed, output_option, refuse_overlap
from .tradeoff import corpus_validation, tradeoff


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = __doc__.split("\n\n")[0].split(": ", 1)[1] + " " + __doc__.split("\n\n")[1].replace("\n", " ")
    parser.epilog = __doc__.split("\n\n")[2].replace("``", "")
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--checkpoint", type=Path, default=None,
                        help="a run's checkpoint or an exported .pt (default: the shipped data/checkpoints/small.pt)")
    parser.add_argument("--gt", type=Path, default=None, help="BasicSR root (with GT/) or the GT folder itself "
                                                              "(default: the corpus's validation clips)")
    parser.add_argument("--lr", type=Path, default=None, help="LR folder (default: <gt>/BIx4, else BI on the fly)")
    parser.add_argument("--clips", nargs="+", default=None, help="only these clips")
    parser.add_argument("--max-frames", type=int, default=None, help="only the first N frames of each clip")
    parser.add_argument("--steps", type=int, nargs="+", default=None,
                        help="chain lengths to score, in network calls per clip (default: 1, 2, the default, T)")
    parser.add_argument("--mean-of", type=int, default=3, help="samples of the default chain averaged (default 3)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the first sample (default 0)")
    parser.add_argument("--form", choices=POSTERIOR_FORMS, default=None, help="reverse step (default: the checkpoint's)")
    parser.add_argument("--out", type=Path, required=True, help="results folder")
    parser.add_argument("--overwrite", action="store_true", help="replace earlier results in --out")
    parser.add_argument("--noise", choices=NOISE_MODES, default=None,
                        help="how each clip's noise is drawn: per frame (fresh, Algorithm 1), one draw shared by a "
                             "clip's frames (shared), or shared and the same for every clip (fixed); default: the "
                             "checkpoint's diffusion.noise")
    parser.add_argument("--no-dists", action="store_true", help="skip DISTS (it costs as much as LPIPS-VGG again)")
    parser.add_argument("--device", default=None, help="device (default: auto)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def main(args: argparse.Namespace) -> int:
    try:
        out = output_option(args.out, "--out")
        check_seed(args.seed)
        checkpoint = args.checkpoint if args.checkpoint is not None else default_checkpoint()
        gt = args.gt if args.gt is not None else corpus_validation(args.clips)[0]
        refuse_overlap(out, "--out", [("--gt", gt), ("--lr", args.lr), ("--checkpoint", checkpoint)])
        if out.exists() and not out.is_dir():
            raise NotADirectoryError(f"--out {out} is a file; give a folder.")
        with FolderLock(out, "--out", "tradeoff"):
            tradeoff(checkpoint, args.gt, out, lr=args.lr, clips=args.clips, max_frames=args.max_frames,
                     steps=args.steps, mean_of=args.mean_of, seed=args.seed, form=args.form, device=args.device,
                     overwrite=args.overwrite, progress=not args.no_progress, use_dists=not args.no_dists,
                     noise=args.noise)
    except (FileNotFoundError, FileExistsError, NotADirectoryError, ValueError, LockedError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0

