#!/usr/bin/env python
"""Download Vid4 and arrange it in the BasicSR layout (GT/ and BIx4/).

Vid4 (Liu and Sun, "On Bayesian adaptive video super resolution", TPAMI 2014) has four clips: calendar
(41 frames, 720x576), city (34, 704x576), foliage (49, 720x480) and walk (47, 720x480). It is SeeClear's
second test set (Sec. 4.1, Table 1: PSNR/SSIM on the Y channel). The copy used by BasicSR / MMEditing
(``Vid4.zip``, Google Drive id ``1ZuvNNLgR85TV_whJoHM7uVb-XW1y70DW``) holds ``GT/`` and ``BIx4/``; a mirror
(PaddleGAN) holds ``GT/`` and ``BDx4/`` only. The script tries them in that order; when the archive has no
``BIx4/`` it makes the BI frames itself with the kit's MATLAB-compatible bicubic
(:func:`seeclear_lite.degradation.bi_degrade`, rounded to 8 bits), which is how ``BIx4`` was made.
The licence of the Vid4 frames is not stated by its distributors: research use only; do not redistribute.

Needs the internet (Google Drive may ask for a confirmation: if the download fails, fetch ``Vid4.zip`` with a
browser into ``--downloads`` and run the script again). Not run in CI.

Result (``--out datasets``)::

    datasets/Vid4/GT/{calendar,city,foliage,walk}/00000000.png ...
    datasets/Vid4/BIx4/{calendar,city,foliage,walk}/00000000.png ...

Then evaluate the bicubic baseline (Table 1: 23.78 dB / 0.6347 on Vid4, Y channel, no border crop)::

    python -m seeclear_lite evaluate --gt datasets/Vid4 --method bicubic --out results/vid4_bicubic

Usage: python scripts/download_vid4.py [--out datasets] [--downloads datasets/downloads] [--make-lr]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

CLIPS = ["calendar", "city", "foliage", "walk"]
URLS = [
    "https://drive.google.com/uc?export=download&confirm=t&id=1ZuvNNLgR85TV_whJoHM7uVb-XW1y70DW",
    "https://paddlegan.bj.bcebos.com/datasets/Vid4.zip",
]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Download Vid4 into the BasicSR layout (GT/, BIx4/).",
                                     epilog=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("datasets"), help="where Vid4/ is written")
    parser.add_argument("--downloads", type=Path, default=None, help="where Vid4.zip goes (default <out>/downloads)")
    parser.add_argument("--make-lr", action="store_true", help="always make BIx4 with the kit's bicubic")
    args = parser.parse_args(argv)

    import shutil
    import zipfile

    from seeclear_lite.data.download import copy_clip, download, extract, find_clip_root, make_bix4

    downloads = args.downloads or args.out / "downloads"
    archive = downloads / "Vid4.zip"
    errors = []
    for url in URLS:
        try:
            download(url, archive)
            if zipfile.is_zipfile(archive):
                break
            errors.append(f"{url}: not a zip (a confirmation page?)")
            archive.unlink()
        except RuntimeError as err:
            errors.append(str(err))
    if not archive.is_file():
        print("Could not download Vid4:\n  " + "\n  ".join(errors), file=sys.stderr)
        return 1
    tmp = args.out / "_extract_vid4"
    extract(archive, tmp)
    out = args.out / "Vid4"
    gt_src = find_clip_root(tmp, CLIPS)
    lr_src = None
    if not args.make_lr:
        try:
            candidates = [p for p in tmp.rglob("BIx4") if p.is_dir()]
            lr_src = find_clip_root(candidates[0], CLIPS) if candidates else None
        except FileNotFoundError:
            lr_src = None
    for clip in CLIPS:
        n = copy_clip(gt_src / clip, out / "GT" / clip)
        if lr_src is not None:
            copy_clip(lr_src / clip, out / "BIx4" / clip)
        print(f"Vid4 {clip}: {n} frames")
    if lr_src is None:
        print("no BIx4 in the archive: making it with the kit's MATLAB-compatible bicubic")
        make_bix4(out / "GT", out / "BIx4")
    shutil.rmtree(tmp, ignore_errors=True)
    print(f"done: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
