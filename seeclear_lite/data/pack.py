"""The compact corpus: one ``.npz`` of uint8 frames at training size, small enough to copy (< 64 MiB).

A GPU machine without network cannot run ``data build`` (it fetches packages), so ``python -m
seeclear_lite data pack`` turns a built corpus into a single file:
- each clip keeps its first ``max_frames`` frames (contiguous, so 5-frame windows stay real video);
- frames whose short side exceeds ``short_side`` are downscaled with MATLAB bicubic (antialiased),
  which also softens the source's compression artefacts, then centre-cropped to a multiple of 16;
- the x4 BI LR frames are stored too (computed from the uint8 HR, rounded to uint8, like ``BIx4/``);
- the manifest (licences, sources, split, what was done) is stored inside, as JSON.

Keys: ``manifest`` (uint8 bytes of the JSON), ``gt/<clip>`` uint8 ``[T, H, W, 3]``, ``lr/<clip>`` uint8
``[T, H/4, W/4, 3]``. :func:`load_pack` reads it back (no pickle) and
:func:`seeclear_lite.data.datasets.pack_dataset` serves 5-frame windows from it.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..degradation import degrade_uint8, imresize
from ..utils.io import atomic_write_bytes
from .corpus import SIZE_MULTIPLE, centre_crop_box, clip_is_complete, default_corpus_dir, load_manifest
from .io import list_frames, read_image_uint8

PACK_FORMAT = "seeclear-lite-pack/1"


@dataclass
class CorpusPack:
    """A loaded pack: ``manifest`` (dict), ``gt`` / ``lr`` (clip -> uint8 ``[T, H, W, 3]``), ``scale``."""

    manifest: dict
    gt: dict
    lr: dict
    scale: int

    def clips(self, split: str | None = None) -> list[str]:
        """Clip names, optionally of one split ("train" / "val")."""
        if split is not None and split not in ("train", "val"):
            raise ValueError(f"split must be 'train', 'val' or None; got {split!r}")
        return sorted(n for n, c in self.manifest["clips"].items() if split is None or c["split"] == split)


def _resize_uint8(frames: np.ndarray, out_hw: tuple[int, int], chunk: int = 8) -> np.ndarray:
    out = []
    for i in range(0, len(frames), chunk):
        x = torch.from_numpy(frames[i:i + chunk]).permute(0, 3, 1, 2).to(torch.float64) / 255.0
        y = imresize(x, output_size=out_hw)
        out.append((y.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy())
    return np.concatenate(out)


def default_pack_path(corpus_root=None) -> Path:
    """Where ``data pack`` writes (and ``data.source=pack`` reads) by default: ``<corpus>/pack.npz``."""
    return Path(corpus_root if corpus_root is not None else default_corpus_dir()) / "pack.npz"


def build_pack(corpus_root, out=None, short_side: int = 256, max_frames: int | None = None, scale: int = 4,
               budget_mib: float | None = None, progress: bool = True, log=print) -> dict:
    """Write the compact corpus of ``corpus_root`` to ``out`` (``.npz``; default :func:`default_pack_path`) and
    return its manifest. ``max_frames``: the first N frames of each clip (None = all). Raises ``ValueError``
    (and writes nothing) if the file would exceed ``budget_mib`` (None = no limit)."""
    out = default_pack_path(corpus_root) if out is None else out
    from tqdm.auto import tqdm

    corpus_root, out = Path(corpus_root), Path(out)
    manifest = load_manifest(corpus_root)
    if not manifest["clips"]:
        raise FileNotFoundError(f"No corpus at {corpus_root}; build it first: "
                                f"python -m seeclear_lite data build --cache {corpus_root}")
    arrays, clips = {}, {}
    for name, entry in tqdm(sorted(manifest["clips"].items()), desc="pack", unit="clip", disable=not progress):
        if not clip_is_complete(corpus_root, name, entry):
            raise ValueError(f"Corpus clip {name!r} is incomplete or modified; run "
                             f"python -m seeclear_lite data build --cache {corpus_root} first.")
        files = list_frames(corpus_root / "GT" / name)[:max_frames]
        gt = np.stack([read_image_uint8(f) for f in files])
        h, w = gt.shape[1:3]
        resized_to = None
        if min(h, w) > short_side:
            f = short_side / min(h, w)
            resized_to = (round(h * f), round(w * f))
            gt = _resize_uint8(gt, resized_to)
        t, l, ch, cw = centre_crop_box(*gt.shape[1:3], SIZE_MULTIPLE)
        gt = np.ascontiguousarray(gt[:, t:t + ch, l:l + cw])
        arrays[f"gt/{name}"] = gt
        arrays[f"lr/{name}"] = degrade_uint8(gt, scale)
        clips[name] = {"split": entry["split"], "licence": entry["licence"], "attribution": entry["attribution"],
                       "source": entry["source"], "corpus_size": entry["size"],
                       "frame_range": [0, len(files)], "resized_to": resized_to, "crop": [t, l, ch, cw],
                       "hr_size": [ch, cw], "lr_size": [ch // scale, cw // scale], "num_frames": len(files)}
    pack_manifest = {"format": PACK_FORMAT, "scale": scale, "short_side": short_side, "max_frames": max_frames,
                     "corpus_manifest_updated": manifest.get("updated"), "kit_version": manifest.get("kit_version"),
                     "resize": "MATLAB bicubic (antialiased), seeclear_lite.degradation.imresize",
                     "lr": f"BI x{scale}: seeclear_lite.degradation.bi_degrade of the uint8 HR, rounded to uint8",
                     "clips": clips}
    arrays["manifest"] = np.frombuffer(json.dumps(pack_manifest, sort_keys=True).encode("utf-8"), dtype=np.uint8)
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    size = buf.getbuffer().nbytes
    if budget_mib is not None and size > budget_mib * 2**20:
        raise ValueError(f"The pack would be {size / 2**20:.1f} MiB, over the {budget_mib} MiB budget. Use a "
                         f"smaller --short-side (now {short_side}) or --max-frames (now {max_frames}).")
    atomic_write_bytes(out, buf.getvalue())
    n = sum(c["num_frames"] for c in clips.values())
    log(f"wrote {out}: {len(clips)} clips, {n} HR frames (+ x{scale} LR), {size / 2**20:.1f} MiB")
    pack_manifest["file_size"] = size
    return pack_manifest


def load_pack(path: str | os.PathLike) -> CorpusPack:
    """Load a pack written by :func:`build_pack` (all frames in memory, as uint8)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Corpus pack not found: {path}. Make one on a machine with the corpus: "
                                f"python -m seeclear_lite data pack --out {path.name}")
    try:
        with np.load(path, allow_pickle=False) as z:
            manifest = json.loads(bytes(z["manifest"]).decode("utf-8"))
            if manifest.get("format") != PACK_FORMAT:
                raise ValueError(f"{path} is not a corpus pack of this kit (format {manifest.get('format')!r}).")
            gt = {n: z[f"gt/{n}"] for n in manifest["clips"]}
            lr = {n: z[f"lr/{n}"] for n in manifest["clips"]}
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as err:
        if isinstance(err, ValueError) and "corpus pack" in str(err):
            raise
        raise ValueError(f"Could not read the corpus pack {path} ({type(err).__name__}: {err}); "
                         f"it is corrupt or incomplete: make it again with data pack.") from err
    scale = int(manifest["scale"])
    for n in manifest["clips"]:
        if gt[n].dtype != np.uint8 or gt[n].shape[1] != lr[n].shape[1] * scale:
            raise ValueError(f"{path}: clip {n!r} has inconsistent GT/LR arrays")
    return CorpusPack(manifest=manifest, gt=gt, lr=lr, scale=scale)
