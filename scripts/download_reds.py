#!/usr/bin/env python
"""Download REDS (sharp, x4 bicubic) and arrange REDS4 and the REDS training set in the BasicSR layout.

REDS (Nah et al., "NTIRE 2019 challenge on video deblurring and super-resolution: dataset and study",
CVPRW 2019; https://seungjunnah.github.io/Datasets/reds.html) is SeeClear's training set; **REDS4**, the
clips 000, 011, 015 and 020 of the original training set (100 frames of 1280x720 each), is its test set
(Sec. 4.1, Table 1: PSNR/SSIM on RGB). The BI LR frames are the official ``*_sharp_bicubic/X4``
(MATLAB bicubic x4). REDS is released under CC BY 4.0 (see the dataset page); check it before you
redistribute anything.

Needs the internet (the SNU CVLab server; the Google Drive links on the dataset page are an alternative:
download the zips by hand into ``--downloads`` and run this script again). Not run in CI.

Result (``--out datasets``)::

    datasets/REDS4/GT/{000,011,015,020}/00000000.png ... 00000099.png     1280x720
    datasets/REDS4/BIx4/{000,011,015,020}/00000000.png ...                320x180
    datasets/REDS/train/GT/<clip>/...  and  BIx4/<clip>/...   (with --train: 000-239 without REDS4, plus the
                                                              official validation clips renamed 240-269)

The zips are large (train_sharp.zip holds 24,000 frames of 1280x720: tens of GB); REDS4 alone still
needs the two train zips, since its clips are inside them (only those clips are extracted).

Then evaluate the bicubic baseline (Table 1: 26.14 dB / 0.7292 on REDS4, RGB, no border crop)::

    python -m seeclear_lite evaluate --gt datasets/REDS4 --method bicubic --out results/reds4_bicubic

Usage: python scripts/download_reds.py [--out datasets] [--downloads datasets/downloads] [--train]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

BASE_URL = "http://data.cv.snu.ac.kr:8008/webdav/dataset/REDS/"
REDS4 = ["000", "011", "015", "020"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Download REDS / REDS4 into the BasicSR layout (GT/, BIx4/).",
                                     epilog=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("datasets"), help="where REDS4/ and REDS/ are written")
    parser.add_argument("--downloads", type=Path, default=None, help="where the zips go (default <out>/downloads)")
    parser.add_argument("--train", action="store_true", help="also arrange the training set (adds val_sharp*)")
    parser.add_argument("--keep-extracted", action="store_true", help="keep the unzipped archives")
    args = parser.parse_args(argv)

    from seeclear_lite.data.download import copy_clip, download, extract, find_clip_root

    downloads = args.downloads or args.out / "downloads"
    tmp = args.out / "_extract"
    zips = ["train_sharp.zip", "train_sharp_bicubic.zip"] + (["val_sharp.zip", "val_sharp_bicubic.zip"]
                                                              if args.train else [])
    for name in zips:
        download(BASE_URL + name, downloads / name)
    only = None if args.train else [f"/{c}/" for c in REDS4]
    extract(downloads / "train_sharp.zip", tmp / "train_sharp", only)
    extract(downloads / "train_sharp_bicubic.zip", tmp / "train_sharp_bicubic", only)
    gt_src = find_clip_root(tmp / "train_sharp", REDS4)
    lr_src = find_clip_root(tmp / "train_sharp_bicubic", REDS4)
    for clip in REDS4:
        n = copy_clip(gt_src / clip, args.out / "REDS4" / "GT" / clip, rename=False)
        m = copy_clip(lr_src / clip, args.out / "REDS4" / "BIx4" / clip, rename=False)
        print(f"REDS4 {clip}: {n} GT frames, {m} LR frames")
    if args.train:
        train = args.out / "REDS" / "train"
        for clip in sorted(p.name for p in gt_src.iterdir() if p.is_dir() and p.name not in REDS4):
            copy_clip(gt_src / clip, train / "GT" / clip, rename=False)
            copy_clip(lr_src / clip, train / "BIx4" / clip, rename=False)
        extract(downloads / "val_sharp.zip", tmp / "val_sharp")
        extract(downloads / "val_sharp_bicubic.zip", tmp / "val_sharp_bicubic")
        vgt = find_clip_root(tmp / "val_sharp", ["000", "029"])
        vlr = find_clip_root(tmp / "val_sharp_bicubic", ["000", "029"])
        for k in range(30):  # BasicSR's regrouping: validation clip k becomes clip 240 + k
            copy_clip(vgt / f"{k:03d}", train / "GT" / f"{240 + k:03d}", rename=False)
            copy_clip(vlr / f"{k:03d}", train / "BIx4" / f"{240 + k:03d}", rename=False)
        print(f"REDS training set: {sum(1 for _ in (train / 'GT').iterdir())} clips in {train}")
    if not args.keep_extracted:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    print(f"done: {args.out / 'REDS4'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
