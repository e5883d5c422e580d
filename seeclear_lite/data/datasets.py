"""Clip datasets: windows of ``m = 5`` consecutive frames, HR crops aligned with x4 LR crops.

SeeClear super-resolves "an HR clip with 5 frames" at a time (Sec. 4.1) from its BI (bicubic x4) LR
frames. :class:`ClipDataset` serves exactly that from any :class:`FrameSource`:
- :class:`FolderClips`: the **BasicSR layout** of REDS4 / Vid4 (``<root>/GT/<clip>/%08d.png``, optional
  ``<root>/BIx4/<clip>/%08d.png``). Without ``BIx4`` the LR frames are made on the fly with
  :func:`seeclear_lite.degradation.bi_degrade` and rounded to 8 bits, as a ``BIx4`` folder stores them.
  The corpus cache (:mod:`.corpus`) has this layout too: :func:`corpus_dataset`.
- :class:`PackClips`: the compact corpus (:mod:`.pack`): :func:`pack_dataset`.

Each item is a dict ``{"lr": [m, 3, h, w], "gt": [m, 3, h*s, w*s], "clip", "start", "index"}`` (float32 in
[0, 1]). With ``gt_patch`` the LR crop of ``gt_patch / scale`` pixels is drawn on the LR grid and the GT
crop is the same region at ``scale`` times the size, so the pair stays aligned. With ``augment`` the pair
gets the usual VSR augmentation (BasicSR's ``augment``): horizontal flip, vertical flip, 90-degree
rotation (transpose) and temporal reversal, each with probability 1/2.

**Determinism.** Randomness comes only from ``numpy.random.default_rng([seed, epoch, index])``: no
global or shared RNG state, so items are identical whatever the number of DataLoader workers or the
order they are fetched in, and differ between epochs (call :meth:`ClipDataset.set_epoch`; with
``persistent_workers=True`` the workers keep their copy, so leave it off).

**Input checks** (at construction, reading only image headers; a frame that breaks the image contract of
:mod:`.io` is reported by name when it is loaded): missing or empty folders, clips whose GT and LR frame
counts or sizes disagree, frames whose size is not divisible by the scale, frames of different sizes in
one clip, clips shorter than ``m``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from ..degradation import DEFAULT_DEGRADATION, check_degradation, degrade_uint8
from .corpus import corpus_clips, default_corpus_dir
from .io import IMAGE_EXTENSIONS, list_frames, read_image_uint8, uint8_to_float
from .pack import CorpusPack, load_pack
from .samples import sample_root

#: Folder names of the BasicSR layout (REDS4, Vid4).
GT_DIRNAME, LR_DIRNAME = "GT", "BIx4"


def resolve_basicsr_root(path: str | os.PathLike, lr: str | os.PathLike | None = None) -> tuple[Path, Path | None]:
    """``(gt_dir, lr_dir)`` for a path that is either a BasicSR root (holding ``GT/`` and maybe ``BIx4/``)
    or the GT folder itself (holding one folder per clip). ``lr`` overrides the LR folder."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"Folder not found: {path}. Give a BasicSR root (<root>/GT/<clip>/%08d.png) or "
                                f"the GT folder itself (<GT>/<clip>/%08d.png).")
    if not path.is_dir():
        raise NotADirectoryError(f"{path} is a file; give a folder in the BasicSR layout "
                                 f"(<root>/GT/<clip>/%08d.png) or the GT folder itself.")
    if (path / GT_DIRNAME).is_dir():
        gt_dir = path / GT_DIRNAME
        lr_dir = path / LR_DIRNAME if (path / LR_DIRNAME).is_dir() else None
    else:
        gt_dir, lr_dir = path, None
    if lr is not None:
        lr_dir = Path(lr)
        if not lr_dir.is_dir():
            raise FileNotFoundError(f"LR folder not found: {lr_dir} (expected <LR>/<clip>/%08d.png).")
    return gt_dir, lr_dir


def _frame_size(path: Path) -> tuple[int, int]:
    """(H, W) from the image header only."""
    import imageio.v3 as iio

    try:
        shape = iio.improps(path).shape
    except Exception as err:
        raise ValueError(f"Could not read the image {path}: the file is corrupt or not an image "
                         f"({type(err).__name__}). Re-create or re-download it.") from err
    return int(shape[0]), int(shape[1])


class FolderClips:
    """Clips in the BasicSR layout: ``gt_dir/<clip>/*.png`` and optionally ``lr_dir/<clip>/*.png``.

    Args:
        gt_dir: folder with one sub-folder of frames per clip.
        lr_dir: same for the LR frames (``None``: made on the fly by the dataset).
        scale: super-resolution factor (4 in the paper).
        clips: restrict to these clip names (default: every sub-folder).
        max_frames: use at most the first ``max_frames`` frames of each clip.
    """

    def __init__(self, gt_dir, lr_dir=None, scale: int = 4, clips=None, max_frames: int | None = None):
        self.gt_dir = Path(gt_dir)
        self.lr_dir = Path(lr_dir) if lr_dir is not None else None
        self.scale = int(scale)
        if not self.gt_dir.is_dir():
            raise FileNotFoundError(f"GT folder not found: {self.gt_dir}. Expected the BasicSR layout "
                                    f"<root>/GT/<clip>/%08d.png.")
        names = sorted(p.name for p in self.gt_dir.iterdir() if p.is_dir() and not p.name.startswith("."))  # not .ipynb_checkpoints
        if clips is not None:
            missing = sorted(set(clips) - set(names))
            if missing:
                raise FileNotFoundError(f"Clip folder(s) {missing} not found in {self.gt_dir} (it has {names}).")
            names = [n for n in names if n in set(clips)]
        if not names:
            loose = [p.name for p in self.gt_dir.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS][:3]
            hint = (f" It holds image files ({', '.join(loose)}...) directly: put each clip's frames in its own "
                    f"sub-folder, <GT>/<clip>/%08d.png.") if loose else ""
            raise ValueError(f"No clip folders in {self.gt_dir}: it is empty.{hint}")
        self.names = names
        self.gt_files: dict[str, list[Path]] = {}
        self.lr_files: dict[str, list[Path]] = {}
        self.sizes: dict[str, tuple[int, int]] = {}
        for name in names:
            gt = list_frames(self.gt_dir / name)[:max_frames]
            if not gt:
                raise ValueError(f"Clip folder {self.gt_dir / name} has no image files "
                                 f"(expected %08d.png frames).")
            size = self._check_sizes(gt, f"GT clip {name!r}")
            self.gt_files[name] = gt
            self.sizes[name] = size
            if self.lr_dir is not None:
                if not (self.lr_dir / name).is_dir():
                    raise FileNotFoundError(f"LR clip folder {self.lr_dir / name} is missing (GT has clip "
                                            f"{name!r}); every GT clip needs its LR clip, or remove the LR folder "
                                            f"to make LR frames on the fly.")
                lr = list_frames(self.lr_dir / name)[:max_frames]
                if len(lr) != len(gt):
                    raise ValueError(f"Clip {name!r}: GT has {len(gt)} frames but LR has {len(lr)} "
                                     f"({self.gt_dir / name} vs {self.lr_dir / name}); they must match one to one.")
                bad = next(((g, l) for g, l in zip(gt, lr) if g.stem != l.stem), None)
                if bad is not None:
                    raise ValueError(f"Clip {name!r}: LR frame {bad[1].name} is paired with GT frame {bad[0].name} "
                                     f"(frames are paired by name): give the LR frames the GT frames' names.")
                lr_size = self._check_sizes(lr, f"LR clip {name!r}")
                want = (size[0] // self.scale, size[1] // self.scale)
                if lr_size != want:
                    raise ValueError(f"Clip {name!r}: LR frames are {lr_size[0]}x{lr_size[1]} (HxW) but GT frames "
                                     f"{size[0]}x{size[1]} at scale {self.scale} need LR {want[0]}x{want[1]}.")
                self.lr_files[name] = lr

    def verify_readable(self) -> None:
        """Decode every frame once (a truncated or corrupt file raises ValueError naming it) before a command
        writes anything."""
        for name in self.names:
            for f in self.gt_files[name] + self.lr_files.get(name, []):
                try:
                    read_image_uint8(f)
                except (OSError, ValueError, SyntaxError) as err:
                    raise ValueError(f"{f} cannot be decoded ({type(err).__name__}: {str(err).splitlines()[0]}): "
                                     f"re-create or re-download it.") from None

    def _check_sizes(self, files: list[Path], what: str) -> tuple[int, int]:
        size = _frame_size(files[0])
        for f in files[1:]:
            if _frame_size(f) != size:
                raise ValueError(f"{what}: frame {f} is {_frame_size(f)} (HxW) but {files[0].name} is {size}; "
                                 f"all frames of a clip must have the same size.")
        if what.startswith("GT") and (size[0] % self.scale or size[1] % self.scale):
            raise ValueError(f"{what}: frame size {size[0]}x{size[1]} (HxW) is not divisible by the scale "
                             f"{self.scale}; crop the frames (e.g. seeclear_lite.degradation.mod_crop) first.")
        return size

    @property
    def has_lr(self) -> bool:
        return self.lr_dir is not None

    def num_frames(self, name: str) -> int:
        return len(self.gt_files[name])

    def _load(self, files: list[Path], idx, size: tuple[int, int]) -> np.ndarray:
        out = []
        for i in idx:
            img = read_image_uint8(files[i])
            if img.shape[:2] != size:
                raise ValueError(f"{files[i]} is {img.shape[0]}x{img.shape[1]} but the clip's frames are "
                                 f"{size[0]}x{size[1]}.")
            out.append(img)
        return np.stack(out)

    def load_gt(self, name: str, idx) -> np.ndarray:
        return self._load(self.gt_files[name], idx, self.sizes[name])

    def load_lr(self, name: str, idx) -> np.ndarray | None:
        if not self.has_lr:
            return None
        h, w = self.sizes[name]
        return self._load(self.lr_files[name], idx, (h // self.scale, w // self.scale))


class PackClips:
    """Clips of a compact corpus (:func:`seeclear_lite.data.pack.load_pack`), one split."""

    def __init__(self, pack, split: str | None = "train", scale: int = 4, clips=None):
        self.pack = pack if isinstance(pack, CorpusPack) else load_pack(pack)
        if scale != self.pack.scale:
            raise ValueError(f"the pack holds x{self.pack.scale} LR frames, not x{scale}")
        self.scale = scale
        self.names = _only(self.pack.clips(split), clips, f"the pack's {split!r} split")
        if not self.names:
            raise ValueError(f"The pack has no clip in split {split!r} (it has {self.pack.clips(None)}).")
        self.sizes = {n: tuple(self.pack.gt[n].shape[1:3]) for n in self.names}

    has_lr = True

    def num_frames(self, name: str) -> int:
        return int(self.pack.gt[name].shape[0])

    def load_gt(self, name, idx):
        return self.pack.gt[name][list(idx)]

    def load_lr(self, name, idx):
        return self.pack.lr[name][list(idx)]


#: LR margin (in LR pixels) around a crop when the LR is made on the fly: MATLAB's antialiased x4 kernel
#: reaches 2 LR pixels (8 HR pixels) out, BD's 13 x 13 Gaussian 1.5, so the degraded crop equals the crop of the
#: degraded frame.
_LR_MARGIN = 3


class ClipDataset(Dataset):
    """Windows of ``clip_length`` consecutive frames of every clip of ``source`` (see module docstring).

    Args:
        source: a :class:`FolderClips` or :class:`PackClips`.
        clip_length: frames per item, ``m`` (5 in the paper).
        scale: super-resolution factor (4).
        gt_patch: HR crop size (a multiple of ``scale``); ``None`` = whole frames.
        augment: random flips, 90-degree rotation and temporal reversal.
        seed: base seed of the per-item generators.
        stride: step between window starts (1: every window; ``clip_length``: non-overlapping).
        degradation: how LR frames are made from the GT (``seeclear_lite.degradation.DEGRADATIONS``); a source's
            stored LR frames (BI x4) are read only for ``bi_x4``.
    """

    def __init__(self, source, clip_length: int = 5, scale: int = 4, gt_patch: int | None = None,
                 augment: bool = False, seed: int = 0, stride: int = 1, degradation: str = DEFAULT_DEGRADATION):
        if clip_length < 1 or stride < 1:
            raise ValueError(f"clip_length and stride must be >= 1, got {clip_length}, {stride}")
        if scale != source.scale:
            raise ValueError(f"scale {scale} differs from the source's scale {source.scale}")
        if gt_patch is not None and (gt_patch <= 0 or gt_patch % scale):
            raise ValueError(f"gt_patch must be a positive multiple of the scale {scale}; got {gt_patch}.")
        if degradation != DEFAULT_DEGRADATION:
            check_degradation(degradation, scale)
        self.degradation = degradation
        self.source, self.m, self.scale = source, int(clip_length), int(scale)
        self.gt_patch, self.augment, self.seed, self.epoch = gt_patch, bool(augment), int(seed), 0
        self.windows: list[tuple[str, int]] = []
        for name in source.names:
            n = source.num_frames(name)
            if n < self.m:
                raise ValueError(f"Clip {name!r} has {n} frames, fewer than clip_length={self.m}; "
                                 f"use a shorter clip_length or drop the clip.")
            h, w = source.sizes[name]
            if gt_patch is not None and (gt_patch > h or gt_patch > w):
                raise ValueError(f"gt_patch {gt_patch} is larger than clip {name!r} ({h}x{w}).")
            self.windows += [(name, s) for s in range(0, n - self.m + 1, stride)]

    def __len__(self) -> int:
        return len(self.windows)

    def set_epoch(self, epoch: int) -> None:
        """Draw different crops/augmentations in each epoch (still deterministic given seed and epoch)."""
        self.epoch = int(epoch)

    def rng(self, index: int) -> np.random.Generator:
        """The generator of item ``index`` in the current epoch (independent of workers and order)."""
        return np.random.default_rng([self.seed, self.epoch, int(index)])

    def __getitem__(self, index: int) -> dict:
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} windows")
        rng = self.rng(index)
        name, start = self.windows[index]
        idx = range(start, start + self.m)
        gt = self.source.load_gt(name, idx)
        lr = self.source.load_lr(name, idx) if self.degradation == DEFAULT_DEGRADATION else None
        s = self.scale
        H, W = gt.shape[1:3]
        if self.gt_patch is not None:
            p = self.gt_patch // s
            y = int(rng.integers(0, H // s - p + 1))
            x = int(rng.integers(0, W // s - p + 1))
            if lr is None:  # degrade the crop plus a margin, then drop the margin (exact; see _LR_MARGIN)
                y0, x0 = max(y - _LR_MARGIN, 0), max(x - _LR_MARGIN, 0)
                y1, x1 = min(y + p + _LR_MARGIN, H // s), min(x + p + _LR_MARGIN, W // s)
                lr = degrade_uint8(gt[:, y0 * s:y1 * s, x0 * s:x1 * s], s, self.degradation)[
                    :, y - y0:y - y0 + p, x - x0:x - x0 + p]
            else:
                lr = lr[:, y:y + p, x:x + p]
            gt = gt[:, y * s:(y + p) * s, x * s:(x + p) * s]
        elif lr is None:
            lr = degrade_uint8(gt, s, self.degradation)
        if self.augment:
            hflip, vflip, rot, rev = rng.random(4) < 0.5
            gt, lr = (augment_frames(a, hflip, vflip, rot, rev) for a in (gt, lr))
        return {"lr": uint8_to_float(lr), "gt": uint8_to_float(gt), "clip": name, "start": start,
                "index": int(index)}


def augment_frames(frames: np.ndarray, hflip: bool, vflip: bool, rot90: bool, reverse: bool) -> np.ndarray:
    """Apply the same flips / transpose / time reversal to ``[T, H, W, C]`` frames (BasicSR's ``augment``)."""
    if hflip:
        frames = frames[:, :, ::-1]
    if vflip:
        frames = frames[:, ::-1]
    if rot90:
        frames = frames.transpose(0, 2, 1, 3)
    if reverse:
        frames = frames[::-1]
    return np.ascontiguousarray(frames)


def basicsr_dataset(root, lr=None, scale: int = 4, clips=None, max_frames=None, **kwargs) -> ClipDataset:
    """A :class:`ClipDataset` over a BasicSR root (or its GT folder); see :func:`resolve_basicsr_root`."""
    gt_dir, lr_dir = resolve_basicsr_root(root, lr)
    return ClipDataset(FolderClips(gt_dir, lr_dir, scale, clips, max_frames), scale=scale, **kwargs)


def _only(names: list[str], clips, where: str) -> list[str]:
    """``names`` restricted to ``clips`` (None: all); a clip that is not there is an error naming what is."""
    if clips is None:
        return names
    missing = sorted(set(clips) - set(names))
    if missing:
        raise ValueError(f"clip(s) {missing} are not in {where} (it has {names}): fix data.clips / val.clips.")
    return [n for n in names if n in set(clips)]


def corpus_dataset(root=None, split: str = "train", scale: int = 4, clips=None, **kwargs) -> ClipDataset:
    """A :class:`ClipDataset` over one split of the corpus cache built by ``data build`` (``clips``: only these)."""
    root = Path(root) if root is not None else default_corpus_dir()
    names = _only(corpus_clips(root, split), clips, f"the corpus's {split!r} split")
    if not names:
        raise ValueError(f"The corpus at {root} has no clip in split {split!r}.")
    return ClipDataset(FolderClips(root / GT_DIRNAME, None, scale, names), scale=scale, **kwargs)


def pack_dataset(pack, split: str = "train", scale: int = 4, clips=None, **kwargs) -> ClipDataset:
    """A :class:`ClipDataset` over one split of a compact corpus (``.npz`` path or loaded pack; ``clips``: only
    these)."""
    return ClipDataset(PackClips(pack, split, scale, clips), scale=scale, **kwargs)


def sample_dataset(clips=None, use_lr_files: bool = True, scale: int = 4, **kwargs) -> ClipDataset:
    """A :class:`ClipDataset` over the committed sample clips (``data/samples``; no network). With
    ``use_lr_files=False`` the committed ``BIx4`` frames are ignored and LR is made on the fly."""
    root = sample_root()
    lr_dir = root / LR_DIRNAME if use_lr_files else None
    return ClipDataset(FolderClips(root / GT_DIRNAME, lr_dir, scale, clips), scale=scale, **kwargs)
