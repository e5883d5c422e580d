"""A Semantic Distiller that reads (O, P) from files: run OpenSeeD (or anything) elsewhere, plug it in here.

File layout (one file per frame; :func:`~seeclear_lite.semantics.distiller.precompute_distilled` writes it)::
    <root>/meta.json                    optional: {"k": 16, "d": 512, "c": 256, ...}
    <root>/<clip>/<frame_id>.npz        arrays  tokens [k, d]  and  seg [c, h', w']   (float)
    <root>/<clip>/<frame_id>.pt         or a torch.save'd dict {"tokens": [k, d], "seg": [c, h', w']}

``k``, ``d``, ``c`` come from the constructor or from ``meta.json``; every file is checked against them
and all frames of a call must share one ``h', w'``. The call names which files to read::
    S = PrecomputedDistiller("semantics/")
    tokens, seg = S(lr_frames, clips=["000", "011"], frame_ids=[["00000000", ..., "00000004"], [...]])

``frame_ids`` may be left out when each clip folder holds exactly N frame files (read in sorted order).
The frames themselves are only checked for shape and range, not compared with the files: it is the
caller's job to pass matching names.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import torch

from .distiller import SemanticDistiller

FORMATS = ("npz", "pt")


class PrecomputedDistiller(SemanticDistiller):
    """Reads per-frame tokens ``[k, d]`` and segmentation features ``[c, h', w']`` (module docstring)."""

    def __init__(self, root: str | os.PathLike, k: int | None = None, d: int | None = None,
                 c: int | None = None, cache_size: int = 0):
        root = Path(root)
        if not root.is_dir():
            raise FileNotFoundError(
                f"precomputed semantics folder {str(root)!r} does not exist. Write it with "
                "seeclear_lite.semantics.precompute_distilled(distiller, clips, root).")
        meta = {}
        if (root / "meta.json").is_file():
            meta = json.loads((root / "meta.json").read_text())
        dims = {}
        for name, given in (("k", k), ("d", d), ("c", c)):
            if given is not None and name in meta and int(meta[name]) != given:
                raise ValueError(f"{name}={given} was passed but {root / 'meta.json'} says {name}={meta[name]}.")
            dims[name] = given if given is not None else meta.get(name)
            if dims[name] is None:
                raise ValueError(f"PrecomputedDistiller needs {name}: pass k=, d=, c= or put them in "
                                 f"{root / 'meta.json'} (precompute_distilled writes it).")
        super().__init__(k=int(dims["k"]), d=int(dims["d"]), c=int(dims["c"]), cache_size=cache_size)
        self.root = root

    def signature(self) -> str:
        return f"PrecomputedDistiller({str(self.root)!r}, k={self.k}, d={self.d}, c={self.c})"

    def frame_files(self, clip: str) -> list[Path]:
        folder = self.root / str(clip)
        if not folder.is_dir():
            raise FileNotFoundError(f"no precomputed semantics for clip {clip!r}: folder {str(folder)!r} "
                                    "does not exist. Precompute it first (precompute_distilled).")
        return sorted(p for p in folder.iterdir() if p.suffix.lstrip(".") in FORMATS)

    def load_frame(self, clip: str, frame_id: str) -> tuple[torch.Tensor, torch.Tensor]:
        """Read and check one frame's ``tokens [k, d]`` and ``seg [c, h', w']``."""
        folder = self.root / str(clip)
        path = next((folder / f"{frame_id}.{ext}" for ext in FORMATS if (folder / f"{frame_id}.{ext}").is_file()),
                    None)
        if path is None:
            raise FileNotFoundError(
                f"missing precomputed semantics for clip {clip!r}, frame {frame_id!r}: expected "
                f"{str(folder / (str(frame_id) + '.npz'))!r} (or .pt). Precompute every frame of the clip.")
        if path.suffix == ".npz":
            with np.load(path) as z:
                data = {key: torch.from_numpy(z[key].copy()) for key in z.files}
        else:
            data = torch.load(path, map_location="cpu", weights_only=True)
            if not isinstance(data, dict):
                raise ValueError(f"{path} must hold a dict with 'tokens' and 'seg', got {type(data).__name__}.")
        for key in ("tokens", "seg"):
            if key not in data:
                raise ValueError(f"{path} has no array {key!r} (it has {sorted(data)}); each frame file "
                                 "needs tokens [k, d] and seg [c, h, w].")
        tokens, seg = torch.as_tensor(data["tokens"]).float(), torch.as_tensor(data["seg"]).float()
        if tuple(tokens.shape) != (self.k, self.d):
            raise ValueError(f"{path}: tokens have shape {tuple(tokens.shape)}, expected [k, d] = "
                             f"{(self.k, self.d)}. Re-export the file or construct the distiller with its k, d.")
        if seg.dim() != 3 or seg.shape[0] != self.c:
            raise ValueError(f"{path}: seg has shape {tuple(seg.shape)}, expected [c, h', w'] with c = {self.c}.")
        return tokens, seg

    def distill(self, lr_frames: torch.Tensor, clips=None, frame_ids=None) -> tuple[torch.Tensor, torch.Tensor]:
        B, N = lr_frames.shape[:2]
        if clips is None:
            raise ValueError("PrecomputedDistiller needs the clip names: call it as "
                             "S(lr_frames, clips=[...], frame_ids=[[...], ...]).")
        if isinstance(clips, (str, bytes)) or len(clips) != B:
            raise ValueError(f"clips must be a list of {B} clip names (one per clip in the batch), got {clips!r}.")
        if frame_ids is None:
            frame_ids = []
            for clip in clips:
                files = self.frame_files(clip)
                if len(files) != N:
                    raise ValueError(f"clip {clip!r} has {len(files)} frame files but lr_frames has N={N} "
                                     "frames: pass frame_ids=[[...]] to choose which frames to read.")
                frame_ids.append([p.stem for p in files])
        if len(frame_ids) != B or any(len(ids) != N for ids in frame_ids):
            raise ValueError(f"frame_ids must be {B} lists of N={N} frame names, got lengths "
                             f"{[len(ids) for ids in frame_ids]}.")
        tokens, segs = [], []
        for clip, ids in zip(clips, frame_ids):
            for fid in ids:
                t, s = self.load_frame(clip, fid)
                if segs and s.shape != segs[0].shape:
                    raise ValueError(f"clip {clip!r} frame {fid!r}: seg has shape {tuple(s.shape)} but earlier "
                                     f"frames have {tuple(segs[0].shape)}; all frames need the same h', w'.")
                tokens.append(t)
                segs.append(s)
        dev, dt = lr_frames.device, lr_frames.dtype
        return (torch.stack(tokens).reshape(B, N, self.k, self.d).to(dev, dt),
                torch.stack(segs).reshape(B, N, *segs[0].shape).to(dev, dt))
