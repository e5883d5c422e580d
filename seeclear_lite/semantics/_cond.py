"""How InCAM's parts read the per-clip condition.

SeeClear runs a clip of N frames through its 2-D layers as B·N images, so every InCAM part receives
``f [B·N, C, h, w]`` and ``cond`` (a :class:`seeclear_lite.models.Condition`, or any object with the same
attributes): ``n_frames`` (N), ``tokens`` O ``[B, N, k, d]``, ``seg`` P ``[B, N, c, h', w']`` (resized here to
f's h, w) and ``clip_tokens`` O_c ``[B, K, d_c]`` or None.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def clip_shape(f: torch.Tensor, cond) -> tuple[int, int]:
    """(B, N) for features f [B·N, C, h, w]; a clear error when f and cond disagree."""
    if f.dim() != 4:
        raise ValueError(f"InCAM takes features [B*N, C, h, w], got shape {tuple(f.shape)}.")
    n = getattr(cond, "n_frames", None)
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"cond.n_frames must be a positive int (frames per clip), got {n!r}.")
    if f.shape[0] % n:
        raise ValueError(f"f has {f.shape[0]} images, not a multiple of cond.n_frames={n}: the condenser must "
                         "stack each clip's frames as B*N images (clip-major).")
    return f.shape[0] // n, n


def require(cond, name: str, B: int, N: int | None, ndim: int, who: str) -> torch.Tensor:
    """``cond.<name>`` checked to be a tensor with leading dims (B, N) (or (B,) when N is None)."""
    x = getattr(cond, name, None)
    if x is None:
        raise ValueError(f"{who} needs cond.{name}, but it is None. Run the Semantic Distiller (tokens, seg) "
                         "or the ClipTokenBuilder (clip_tokens) first, or switch this component off.")
    lead = (B,) if N is None else (B, N)
    if x.dim() != ndim or tuple(x.shape[: len(lead)]) != lead:
        raise ValueError(f"{who}: cond.{name} has shape {tuple(x.shape)}, expected {ndim} dims starting "
                         f"with {lead} (B clips, N frames).")
    return x


def resize_seg(seg: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """P [B·N, c, h', w'] -> [B·N, c, h, w]: bilinear, antialiased when shrinking, unchanged if equal."""
    if tuple(seg.shape[-2:]) == tuple(size):
        return seg
    shrink = seg.shape[-2] > size[0] or seg.shape[-1] > size[1]
    # in float32: antialiased resizing has no half / bfloat16 kernel on every device (P is a constant anyway)
    out = F.interpolate(seg.float(), size=tuple(size), mode="bilinear", align_corners=False, antialias=shrink)
    return out.to(seg.dtype)
