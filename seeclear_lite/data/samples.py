"""The small sample clips committed in the repository (``data/samples``), and how they are made.

They power the demo, the notebooks' ``smoke`` / ``cpu`` profiles and the tests, with no network. Layout
(BasicSR, like REDS4 / Vid4)::
    data/samples/GT/<clip>/00000000.png ...     HR frames, 8-bit RGB
    data/samples/BIx4/<clip>/00000000.png ...   x4 BI (MATLAB bicubic) LR frames, 8-bit RGB

:data:`VALIDATION_CLIP` is the held-out clip the notebooks validate on (its source, the city video, is in
the corpus's validation split). The clips are cut from the corpus by ``python -m seeclear_lite data samples``
(:func:`make_samples`, the recipe is :data:`SAMPLE_SPECS`); provenance and licences are in
``data/README.md``.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from ..degradation import degrade_uint8, imresize
from ..utils.io import atomic_write_text
from .corpus import load_manifest
from .io import list_frames, read_image, to_uint8, write_image

#: The clip the notebooks use for validation (source: cityCC0.mpg, CC0; validation split of the corpus).
VALIDATION_CLIP = "val_city"

_REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class SampleSpec:
    """One sample clip: ``num_frames`` frames from ``start`` of corpus clip ``source``, downscaled by
    ``downscale`` (MATLAB bicubic, antialiased; 1 = native pixels), then cropped at ``(top, left)`` to
    ``size`` (H, W) in the downscaled frame."""

    name: str
    source: str
    start: int
    num_frames: int
    downscale: int
    top: int
    left: int
    size: tuple[int, int]


SAMPLE_SPECS: tuple[SampleSpec, ...] = (
    SampleSpec("val_city", "city", 60, 8, 2, 8, 80, (192, 192)),
    SampleSpec("train_bbb", "bigbuckbunny", 20, 8, 2, 96, 232, (192, 192)),
    SampleSpec("train_coffee", "coffee", 0, 8, 1, 40, 80, (160, 192)),
    SampleSpec("train_astronaut", "astronaut", 0, 8, 1, 32, 64, (192, 160)),
)


def sample_root() -> Path:
    """Root of the committed sample clips (``<repo>/data/samples``, a BasicSR root with ``GT/``, ``BIx4/``)."""
    root = Path(os.environ.get("SEECLEAR_SAMPLES", _REPO_ROOT / "data" / "samples"))
    if not (root / "GT").is_dir():
        raise FileNotFoundError(
            f"The sample clips are not at {root} (no GT/ folder). They are committed in the repository under "
            f"data/samples: install the kit from a clone with `pip install -e .` (an installed wheel does "
            f"not carry data/), or set SEECLEAR_SAMPLES to a folder with the BasicSR layout."
        )
    return root


def list_sample_clips() -> list[str]:
    """Names of the committed sample clips, sorted (e.g. ``['train_astronaut', ..., 'val_city']``)."""
    return sorted(p.name for p in (sample_root() / "GT").iterdir() if p.is_dir() and not p.name.startswith("."))


def sample_clip_dir(name: str, kind: str = "GT") -> Path:
    """Folder of one sample clip (``kind`` = ``"GT"`` or ``"BIx4"``)."""
    folder = sample_root() / kind / name
    if not folder.is_dir():
        raise FileNotFoundError(f"No sample clip {name!r} under {sample_root() / kind}; "
                                f"available: {list_sample_clips()}.")
    return folder


def load_sample_clip(name: str = VALIDATION_CLIP, kind: str = "GT", max_frames: int | None = None):
    """Frames of a sample clip as a float32 tensor ``[T, 3, H, W]`` in [0, 1] (``kind``: "GT" or "BIx4")."""
    import torch

    return torch.stack([read_image(p) for p in list_frames(sample_clip_dir(name, kind))[:max_frames]])


def make_samples(corpus_root: str | os.PathLike, out: str | os.PathLike, scale: int = 4, log=print) -> dict:
    """Cut :data:`SAMPLE_SPECS` from a built corpus into ``out`` (``GT/`` + ``BIx4/`` + ``samples.json``)."""
    import torch

    corpus_root, out = Path(corpus_root), Path(out)
    manifest = load_manifest(corpus_root)
    record = {"scale": scale, "corpus_format": manifest.get("format"), "clips": {}}
    for spec in SAMPLE_SPECS:
        entry = manifest["clips"].get(spec.source)
        if entry is None:
            raise FileNotFoundError(f"The corpus at {corpus_root} has no clip {spec.source!r}; build it with "
                                    f"python -m seeclear_lite data build --cache {corpus_root}")
        frames = list_frames(corpus_root / "GT" / spec.source)[spec.start:spec.start + spec.num_frames]
        if len(frames) < spec.num_frames:
            raise ValueError(f"{spec.source} has too few frames for sample {spec.name}")
        hr = torch.stack([read_image(p) for p in frames]).double()
        if spec.downscale > 1:
            h, w = hr.shape[-2:]
            hr = imresize(hr, output_size=(h // spec.downscale, w // spec.downscale))
        t, l = spec.top, spec.left
        hr = hr[..., t:t + spec.size[0], l:l + spec.size[1]]
        if tuple(hr.shape[-2:]) != tuple(spec.size):
            raise ValueError(f"sample {spec.name}: crop {spec} falls outside the frame")
        gt = to_uint8(hr).permute(0, 2, 3, 1).numpy()  # the committed GT is 8-bit ...
        lr = degrade_uint8(gt, scale)  # ... and its BIx4 is made from exactly that, rounded to 8 bits
        for i in range(spec.num_frames):
            write_image(out / "GT" / spec.name / f"{i:08d}.png", gt[i], compress_level=9)
            write_image(out / "BIx4" / spec.name / f"{i:08d}.png", lr[i], compress_level=9)
        record["clips"][spec.name] = {**asdict(spec), "licence": entry["licence"],
                                      "attribution": entry["attribution"], "source_file": entry["source"]["file"],
                                      "source_package": f"{entry['source']['package']} {entry['source']['version']}",
                                      "source_frame_range": [spec.start, spec.start + spec.num_frames]}
        log(f"  {spec.name}: {spec.num_frames} frames {spec.size[1]}x{spec.size[0]} from {spec.source}")
    atomic_write_text(out / "samples.json", json.dumps(record, indent=1, sort_keys=True) + "\n")
    return record
