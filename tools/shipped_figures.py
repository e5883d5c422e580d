"""The README's figures of the shipped model: Fig. 5-style crops on held-out video.

Reads the ``evaluate --out`` folders bicubic/, checkpoint/ and, when there, baseline/ (same clips) and the GT,
writes PNGs:

    python -m seeclear_lite evaluate --gt ~/.cache/seeclear_lite/corpus --clips chelsea city --max-frames 30 \\
        --method bicubic --out runs/eval_val/bicubic
    python -m seeclear_lite evaluate ... --method checkpoint --out runs/eval_val/checkpoint
    python -m seeclear_lite evaluate ... --method checkpoint --checkpoint data/checkpoints/small_baseline.pt \\
        --out runs/eval_val/baseline                                               # optional column
    python tools/shipped_figures.py runs/eval_val ~/.cache/seeclear_lite/corpus data/checkpoints/small --first 10
"""

from __future__ import annotations

import argparse
from pathlib import Path

from seeclear_lite.evaluation.figures import comparison_figure
from seeclear_lite.utils.io import atomic_write_png


def _save(fig, path: Path) -> None:
    atomic_write_png(path, fig, dpi=72)
    print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KiB)")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("evals", type=Path, help="folder of evaluate --out folders: bicubic/, checkpoint/ (baseline/)")
    p.add_argument("gt", type=Path, help="BasicSR root of the GT (with GT/<clip>/)")
    p.add_argument("prefix", help="output prefix: <prefix>_<clip>_fig5.png")
    p.add_argument("--clips", nargs="+", default=None, help="clips (default: every clip of the evaluation)")
    p.add_argument("--first", type=int, default=0, help="first of the two frames shown")
    p.add_argument("--box", type=int, nargs=3, default=None, metavar=("Y", "X", "SIZE"), help="crop (HR pixels)")
    args = p.parse_args(argv)
    clips = args.clips or sorted(d.name for d in (args.evals / "checkpoint" / "SR").iterdir() if d.is_dir())
    for clip in clips:
        panels = {"bicubic": args.evals / "bicubic" / "SR" / clip}
        if (args.evals / "baseline" / "SR" / clip).is_dir():
            panels["baseline (no semantics)"] = args.evals / "baseline" / "SR" / clip
        panels.update({"SeeClear-lite small": args.evals / "checkpoint" / "SR" / clip, "GT": args.gt / "GT" / clip})
        n = min(len(list(Path(f).glob("*.png"))) for f in panels.values())
        _save(comparison_figure(panels, first=min(args.first, n - 2), box=args.box, panel_width=3.2),
              Path(f"{args.prefix}_{clip}_fig5.png"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
