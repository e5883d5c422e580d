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
import sys
from pathlib import Path

from ..config import ConfigError
from ..data.samples import sample_root
from ..utils.io import atomic_write_text
from ..utils.lock import FolderLock, LockedError, output_option, refuse_overlap
# This module is the command; the studies and their run sizes are kit/studies.py (the sizes themselves:
# config.STUDY_SIZES), training and scoring kit/study_run.py, the statistics kit/study_stats.py, the tables
# kit/study_tables.py. Their public names are re-exported here, where notebooks 06 and 09 import them.
from .studies import CLAIMS_DIR, DIGITS, METRICS, README_METRICS, SIZES, STUDIES, Size, Study  # noqa: F401
from .study_run import evaluate_model, held_out, run_config, run_one, run_study  # noqa: F401
from .study_stats import (interval, outside_interval, paired, paired_power, paper_delta, power_rows,  # noqa: F401
                          seeds_for_power, summarize, verdicts)
from .study_tables import markdown, verdict_sentences  # noqa: F401


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
