"""Helpers of the benchmark download scripts (``scripts/download_reds.py``, ``scripts/download_vid4.py``).

They need the internet (not only a package registry), so the kit never runs them in CI; they are for
users who want the real REDS4 / Vid4 numbers of SeeClear's Table 1. Each writes the BasicSR layout that
:func:`seeclear_lite.data.datasets.basicsr_dataset` and ``python -m seeclear_lite evaluate`` read.
"""

from __future__ import annotations

import os
import shutil
import urllib.request
import zipfile
from pathlib import Path

from ..degradation import degrade_uint8
from .io import list_frames, read_image_uint8, write_image


def download(url: str, dest: Path, chunk: int = 1 << 20) -> Path:
    """Download ``url`` to ``dest`` (skipped if it exists; written to ``dest.part`` then renamed)."""
    from tqdm.auto import tqdm

    dest = Path(dest)
    if dest.is_file():
        print(f"already downloaded: {dest}")
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    req = urllib.request.Request(url, headers={"User-Agent": "seeclear-lite"})
    try:
        with urllib.request.urlopen(req, timeout=60) as r, open(part, "wb") as fh:
            total = int(r.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=dest.name) as bar:
                while block := r.read(chunk):
                    fh.write(block)
                    bar.update(len(block))
    except OSError as err:
        raise RuntimeError(f"Download of {url} failed ({err}). Check the connection, or download the file by "
                           f"hand (browser) and place it at {dest}, then run the script again.") from err
    os.replace(part, dest)
    return dest


def find_clip_root(root: Path, clip_names: list[str]) -> Path:
    """The folder under ``root`` that holds sub-folders named like ``clip_names`` (searched depth-first)."""
    root = Path(root)
    for dirpath, dirnames, _ in os.walk(root):
        if all(c in dirnames for c in clip_names):
            return Path(dirpath)
    raise FileNotFoundError(f"No folder under {root} holds the clip folders {clip_names}; the archive layout "
                            f"differs from the expected one: arrange the frames by hand as <root>/GT/<clip>/.")


def copy_clip(src: Path, dst: Path, rename: bool = True) -> int:
    """Copy a clip's PNG frames, renamed ``%08d.png`` in sorted order; returns the frame count."""
    frames = sorted(p for p in Path(src).iterdir() if p.suffix.lower() == ".png")
    if not frames:
        raise FileNotFoundError(f"No PNG frames in {src}")
    dst.mkdir(parents=True, exist_ok=True)
    for i, f in enumerate(frames):
        shutil.copyfile(f, dst / (f"{i:08d}.png" if rename else f.name))
    return len(frames)


def extract(archive: Path, dest: Path, members_containing: list[str] | None = None) -> Path:
    """Extract a zip (optionally only the members whose path contains one of ``members_containing``)."""
    dest.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(archive) as zf:
        names = zf.namelist()
        if members_containing:
            names = [n for n in names if any(s in n for s in members_containing)]
        zf.extractall(dest, names)
    return dest


def make_bix4(gt_root: Path, lr_root: Path, scale: int = 4) -> None:
    """Write ``lr_root/<clip>/%08d.png``: the BI x``scale`` degradation (MATLAB bicubic) of every GT frame."""
    from tqdm.auto import tqdm

    for clip in sorted(p for p in Path(gt_root).iterdir() if p.is_dir()):
        for f in tqdm(list_frames(clip), desc=f"BIx{scale} {clip.name}", leave=False):
            lr = degrade_uint8(read_image_uint8(f)[None], scale)[0]
            write_image(Path(lr_root) / clip.name / f.name, lr)
