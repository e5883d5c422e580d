"""The Semantic Distiller contract S (Sec. 3.2, Eqs. 8–9; Algorithm 1 line 7).

SeeClear runs a frozen open-vocabulary segmenter (OpenSeeD) once per clip on the **LR** frames and keeps
two things (Eq. 9):
- **semantic tokens** ``O`` — ``k`` vectors of width ``d`` per frame (high-level: "what is there");
- **segmentation features** ``P`` — a ``c``-channel pixel map per frame (pixel-level: "where it is"),
  which InCAM's modulation G turns into (γ, β) (Eq. 10).

Every distiller in this kit is a :class:`SemanticDistiller`::
    tokens, seg = distiller(lr_frames)      # lr_frames [B, N, 3, h, w] in [0, 1]
    tokens.shape == (B, N, distiller.k, distiller.d)
    seg.shape    == (B, N, distiller.c, h', w')   # h', w' are the distiller's choice; InCAM resizes P

The contract (checked by :meth:`SemanticDistiller.forward`, so a plug-in cannot silently break it):
1. **Frozen**: no parameter requires grad, the module stays in eval mode (``train()`` is a no-op) and the
   outputs carry no autograd graph (computed under ``torch.no_grad``).
2. **Deterministic**: the same frames give the same outputs (bit for bit on the same device).
3. **Per clip**: the N frames of one clip are passed together, so a distiller may (and the default one
   does) make segment ``j`` mean the same object in every frame of the clip.
4. **Once per clip**: Algorithm 1 calls S only at the first reverse step and reuses (O, P) for all later
   steps; since S sees only the LR frames, its outputs can also be cached for training. ``cache_size > 0``
   keeps the last results in memory keyed by a SHA-1 of each clip's frames; :func:`precompute_distilled`
   writes them to disk in the layout :class:`~seeclear_lite.semantics.precomputed.PrecomputedDistiller`
   reads.

**Plugging in a real OpenSeeD / CLIP model.** Subclass and implement :meth:`distill`::
    class OpenSeeDDistiller(SemanticDistiller):
        def __init__(self, model, text_embeddings, k=16):
            super().__init__(k=k, d=512, c=256)
            self.model, self.txt = model, text_embeddings        # frozen by the base class
        def distill(self, lr_frames):                            # already under torch.no_grad()
            B, N = lr_frames.shape[:2]
            x = lr_frames.flatten(0, 1)                           # OpenSeeD works on single images
            queries, mask_features = ...                          # decoder queries [BN, Q, 256], stride-4 map
            sim = (proj(queries) @ self.txt.T).amax(-1)           # Eq. 9: similarity to the vocabulary
            idx = sim.topk(self.k, dim=1).indices                 # top-k
            O = gather(proj(queries), idx)                        # [BN, k, 512]
            return O.unflatten(0, (B, N)), mask_features.unflatten(0, (B, N))

Note that a per-image segmenter does **not** give property 3 for free: its top-k order can differ from
frame to frame. InCAM's instance encoder-decoder (Eq. 14) is what relates tokens across frames.
"""

from __future__ import annotations

import hashlib
import os
from collections import OrderedDict
from pathlib import Path
from typing import Iterable

import numpy as np
import torch
from torch import nn

from ..utils.io import atomic_write_bytes, atomic_write_text


def check_lr_frames(lr_frames) -> None:
    """Raise a clear error unless ``lr_frames`` is a float tensor [B, N, 3, h, w] with values in [0, 1]."""
    if not isinstance(lr_frames, torch.Tensor):
        raise TypeError(f"lr_frames must be a torch.Tensor [B, N, 3, h, w], got {type(lr_frames).__name__}.")
    if lr_frames.dim() != 5 or lr_frames.shape[2] != 3:
        raise ValueError(
            f"lr_frames must have shape [B, N, 3, h, w] (a batch of clips of RGB frames), got "
            f"{tuple(lr_frames.shape)}. Add the batch axis with lr_frames[None] for a single clip.")
    if not lr_frames.is_floating_point():
        raise TypeError(f"lr_frames must be a float tensor in [0, 1], got dtype {lr_frames.dtype}; "
                        "divide uint8 frames by 255.")
    lo, hi = float(lr_frames.detach().min()), float(lr_frames.detach().max())
    if lo < -1e-3 or hi > 1 + 1e-3:
        raise ValueError(
            f"lr_frames must be in [0, 1] (the kit's image range), got values in [{lo:.3f}, {hi:.3f}]. "
            "Frames in the diffusion range [-1, 1] go back with seeclear_lite.utils.ranges.to_image_range.")


def clip_hash(frames: torch.Tensor) -> str:
    """SHA-1 of one clip's frames [N, 3, h, w] (float32 bytes and shape): the cache key."""
    arr = np.ascontiguousarray(frames.detach().to("cpu", torch.float32).numpy())
    h = hashlib.sha1(str(arr.shape).encode())
    h.update(arr.tobytes())
    return h.hexdigest()


def _full_precision(x: torch.Tensor):
    """The distiller runs outside any autocast region: a frozen preprocessor must give the same (O, P) whether
    the network around it trains in bf16 or not (k-means distances in bf16 would move segment borders)."""
    return torch.autocast(x.device.type, enabled=False)


class SemanticDistiller(nn.Module):
    """Base class of every distiller S: ``(tokens O [B,N,k,d], seg P [B,N,c,h',w']) = S(lr_frames)``.

    Subclasses set ``k`` (tokens per frame), ``d`` (token width) and ``c`` (channels of P) through
    ``super().__init__`` and implement :meth:`distill`. Call the distiller, never ``distill`` directly:
    the call checks the input and output, runs without autograd and uses the cache.
    """

    def __init__(self, k: int, d: int, c: int, cache_size: int = 0):
        super().__init__()
        for name, v in (("k", k), ("d", d), ("c", c)):
            if not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive int, got {v!r}.")
        if not isinstance(cache_size, int) or cache_size < 0:
            raise ValueError(f"cache_size must be an int >= 0 (0 = no cache), got {cache_size!r}.")
        self.k, self.d, self.c = k, d, c
        self.cache_size = cache_size
        self._cache: OrderedDict[str, tuple[torch.Tensor, torch.Tensor]] = OrderedDict()
        self.cache_hits = 0
        super().train(False)

    # --- frozen -----------------------------------------------------------------------------------
    def train(self, mode: bool = True):
        """A distiller is frozen: it always stays in eval mode (Sec. 4.1, "frozen weights")."""
        return super().train(False)

    def freeze(self) -> "SemanticDistiller":
        for p in self.parameters():
            p.requires_grad_(False)
        return super().train(False)

    # --- to implement ---------------------------------------------------------------------------------
    def distill(self, lr_frames: torch.Tensor, **kwargs) -> tuple[torch.Tensor, torch.Tensor]:
        """Compute (tokens [B,N,k,d], seg [B,N,c,h',w']) from lr_frames [B,N,3,h,w] in [0, 1]."""
        raise NotImplementedError(f"{type(self).__name__} must implement distill(lr_frames).")

    def signature(self) -> str:
        """A string that changes whenever the outputs would (part of the cache key)."""
        return f"{type(self).__name__}(k={self.k}, d={self.d}, c={self.c})"

    # --- the call -----------------------------------------------------------------------------------
    def forward(self, lr_frames: torch.Tensor, **kwargs) -> tuple[torch.Tensor, torch.Tensor]:
        """``(O [B,N,k,d], P [B,N,c,h',w']) = S(lr_frames [B,N,3,h,w] in [0, 1])``, without autograd.

        With ``cache_size > 0`` each clip's result is kept (on the CPU) under the SHA-1 of its frames and
        :meth:`signature`; extra keyword arguments (e.g. the precomputed distiller's clip names) bypass it."""
        check_lr_frames(lr_frames)
        self.freeze()
        if self.cache_size == 0 or kwargs:
            with torch.no_grad(), _full_precision(lr_frames):
                out = self.distill(lr_frames, **kwargs)
            return self._check_output(out, lr_frames)
        keys = [self.signature() + clip_hash(clip) for clip in lr_frames]
        got = {i: self._cache[key] for i, key in enumerate(keys) if key in self._cache}
        missing = [i for i in range(len(keys)) if i not in got]
        self.cache_hits += len(got)
        for key in keys:
            if key in self._cache:
                self._cache.move_to_end(key)
        if missing:
            with torch.no_grad(), _full_precision(lr_frames):
                tokens, seg = self._check_output(self.distill(lr_frames[missing]), lr_frames[missing])
            for j, i in enumerate(missing):
                got[i] = (tokens[j], seg[j])
                self._cache[keys[i]] = (tokens[j].to("cpu"), seg[j].to("cpu"))
                while len(self._cache) > self.cache_size:
                    self._cache.popitem(last=False)
        dev = lr_frames.device
        return (torch.stack([got[i][0] for i in range(len(keys))]).to(dev),
                torch.stack([got[i][1] for i in range(len(keys))]).to(dev))

    def clear_cache(self) -> None:
        self._cache.clear()
        self.cache_hits = 0

    def _check_output(self, out, lr_frames):
        if not (isinstance(out, tuple) and len(out) == 2):
            raise TypeError(f"{type(self).__name__}.distill must return a tuple (tokens, seg).")
        tokens, seg = out
        B, N = lr_frames.shape[:2]
        if tuple(tokens.shape) != (B, N, self.k, self.d):
            raise ValueError(f"{type(self).__name__} returned tokens of shape {tuple(tokens.shape)}, "
                             f"expected [B, N, k, d] = {(B, N, self.k, self.d)}.")
        if seg.dim() != 5 or tuple(seg.shape[:3]) != (B, N, self.c):
            raise ValueError(f"{type(self).__name__} returned seg of shape {tuple(seg.shape)}, "
                             f"expected [B, N, c, h', w'] with (B, N, c) = {(B, N, self.c)}.")
        if tokens.requires_grad or seg.requires_grad:
            raise RuntimeError("a distiller's outputs must not require grad (it is frozen).")
        return tokens, seg


# --- writing a dataset's distilled semantics to disk -----------------------------------------------------

def save_distilled(root: str | os.PathLike, clip: str, frame_ids: Iterable[str], tokens: torch.Tensor,
                   seg: torch.Tensor, fmt: str = "npz") -> list[Path]:
    """Write one clip's outputs as ``<root>/<clip>/<frame_id>.<fmt>`` (``tokens [k,d]``, ``seg [c,h,w]``).

    ``tokens`` is [N, k, d] and ``seg`` [N, c, h, w] for the N ``frame_ids``. ``fmt`` is ``"npz"`` (NumPy,
    float32 arrays named ``tokens`` and ``seg``) or ``"pt"`` (a ``torch.save``d dict with the same keys).
    Files are written atomically.
    """
    import io

    frame_ids = [str(f) for f in frame_ids]
    if fmt not in ("npz", "pt"):
        raise ValueError(f"fmt must be 'npz' or 'pt', got {fmt!r}.")
    if tokens.dim() != 3 or seg.dim() != 4 or tokens.shape[0] != len(frame_ids) or seg.shape[0] != len(frame_ids):
        raise ValueError(f"expected tokens [N, k, d] and seg [N, c, h, w] for N={len(frame_ids)} frame ids, "
                         f"got {tuple(tokens.shape)} and {tuple(seg.shape)}.")
    paths = []
    for i, fid in enumerate(frame_ids):
        t = tokens[i].detach().to("cpu", torch.float32)
        s = seg[i].detach().to("cpu", torch.float32)
        buf = io.BytesIO()
        if fmt == "npz":
            np.savez(buf, tokens=t.numpy(), seg=s.numpy())
        else:
            torch.save({"tokens": t.clone(), "seg": s.clone()}, buf)
        paths.append(atomic_write_bytes(Path(root) / str(clip) / f"{fid}.{fmt}", buf.getvalue()))
    return paths


def precompute_distilled(distiller: SemanticDistiller, clips, root: str | os.PathLike,
                         fmt: str = "npz") -> Path:
    """Run ``distiller`` once per clip and save everything under ``root`` (for training or a remote model).

    ``clips`` yields ``(clip_name, frame_ids, frames)`` with ``frames`` [N, 3, h, w] in [0, 1]. Also writes
    ``<root>/meta.json`` with ``k``, ``d``, ``c`` and the distiller's signature, which
    :class:`~seeclear_lite.semantics.precomputed.PrecomputedDistiller` reads.
    """
    import json

    root = Path(root)
    for clip, frame_ids, frames in clips:
        tokens, seg = distiller(frames[None])
        save_distilled(root, clip, frame_ids, tokens[0], seg[0], fmt=fmt)
    meta = {"k": distiller.k, "d": distiller.d, "c": distiller.c, "format": fmt,
            "distiller": distiller.signature()}
    atomic_write_text(root / "meta.json", json.dumps(meta, indent=2))
    return root
