"""The dataset of a run: ``data`` (training) or ``val`` (validation) of a :class:`~seeclear_lite.config.TrainConfig`
as a :class:`~seeclear_lite.data.datasets.ClipDataset`, from the committed samples, a BasicSR root, the corpus
cache or its pack."""

from __future__ import annotations

from pathlib import Path

from ..config import TrainConfig
from . import datasets as ds
from .pack import default_pack_path
from .samples import VALIDATION_CLIP, list_sample_clips


def build_dataset(section, cfg: TrainConfig, *, train: bool):
    """The :class:`seeclear_lite.data.datasets.ClipDataset` of ``cfg.data`` (train) or ``cfg.val``; a pack
    without a root is the default pack of ``data pack`` (``<corpus cache>/pack.npz``). LR frames are made with
    ``cfg.data.degradation`` (training and validation alike); stored LR frames (a pack's, a ``BIx4`` folder's)
    are BI x4 and are read only when that is the degradation asked for."""
    m = cfg.data.clip_length
    kw = dict(clip_length=m * cfg.data.clips_per_sample if train else m, gt_patch=section.gt_patch if train else None,
              augment=cfg.data.augment if train else False, seed=cfg.seed,
              stride=cfg.data.stride if train else m, degradation=cfg.data.degradation)
    clips = section.clips
    which = "data" if train else "val"
    if section.source == "basicsr" and section.root is None:
        raise ValueError(f"{which}.source=basicsr needs {which}.root: the BasicSR root (<root>/GT/<clip>/%08d.png), "
                         f"e.g. {which}.root=/data/REDS4.")
    if section.source == "samples":
        if clips is None:
            names = list_sample_clips()
            clips = [c for c in names if c != VALIDATION_CLIP] if train else [VALIDATION_CLIP]
        return ds.sample_dataset(clips=clips, **kw)
    if section.source == "basicsr":
        return ds.basicsr_dataset(section.root, clips=clips, **kw)
    split = section.split if train else "val"    # the corpus / pack hold a "val" split of held-out sources
    if section.source == "corpus":
        return ds.corpus_dataset(section.root, split=split, clips=clips, **kw)
    root = section.root if section.root is not None else default_pack_path()
    if not Path(root).is_file():
        raise FileNotFoundError(f"{which}.source=pack: no pack at {root}; make it with `python -m seeclear_lite data "
                                f"build && python -m seeclear_lite data pack`, or set {which}.root=<file.npz>.")
    return ds.pack_dataset(root, split=split, clips=clips, **kw)
