"""Synthetic camera motion: turn a still photograph into a short, smooth video clip.

A virtual camera looks at the photo through a window of ``out_size`` pixels. From frame 0 to the last
frame it pans (its centre moves on a straight line), zooms (each output pixel covers ``s`` photo pixels,
``s`` between 1.0 and 1.2, so the photo is never upsampled) and rotates slightly (at most 3 degrees), all
at constant speed, like a slow handheld move. Output pixel ``(u, v)`` (centred coordinates) samples the
photo at ``c(t) + s(t) R(theta(t)) (u, v)`` with cubic-spline interpolation. The trajectory is drawn
from a generator seeded by the clip name (CRC-32), so a clip is the same on every machine, and it is
kept inside the photo (no border padding ever enters a frame).

Real VSR data (REDS) has motion between frames that the network must align; this gives the photo clips
exactly that, with sub-pixel shifts.
"""

from __future__ import annotations

import math
import zlib

import numpy as np

MAX_ROTATION_DEG = 3.0
ZOOM_RANGE = (1.0, 1.2)


def window_size(photo_hw: tuple[int, int], fraction: float = 0.6, multiple: int = 16,
                max_side: int = 512) -> tuple[int, int]:
    """Output (H, W): ``fraction`` of the photo, capped at ``max_side``, rounded down to ``multiple``."""
    out = []
    for n in photo_hw:
        m = min(int(n * fraction), max_side) // multiple * multiple
        if m < multiple:
            raise ValueError(f"photo of size {photo_hw} is too small for a {multiple}-multiple window")
        out.append(m)
    return tuple(out)


def trajectory(name: str, photo_hw: tuple[int, int], out_hw: tuple[int, int], num_frames: int) -> dict:
    """The camera path for clip ``name``: per-frame centre (y, x), zoom ``s`` and angle (radians)."""
    rng = np.random.default_rng(zlib.crc32(name.encode("utf-8")))
    s0, s1 = rng.uniform(*ZOOM_RANGE, size=2)
    a0, a1 = np.deg2rad(rng.uniform(-MAX_ROTATION_DEG, MAX_ROTATION_DEG, size=2))
    # conservative half-extent of the rotated, zoomed window (largest zoom and angle of the path)
    s_max, a_max = max(s0, s1), max(abs(a0), abs(a1))
    h, w = out_hw
    half_y = s_max * (math.cos(a_max) * (h - 1) / 2 + math.sin(a_max) * (w - 1) / 2) + 2
    half_x = s_max * (math.sin(a_max) * (h - 1) / 2 + math.cos(a_max) * (w - 1) / 2) + 2
    H, W = photo_hw
    lo = np.array([half_y, half_x])
    hi = np.array([H - 1 - half_y, W - 1 - half_x])
    if np.any(hi < lo):
        raise ValueError(f"window {out_hw} does not fit in the photo {photo_hw} with zoom {s_max:.2f}")
    c0 = rng.uniform(lo, hi)
    c1 = rng.uniform(lo, hi)
    # limit the pan to about 1.5 output pixels per frame, like a slow camera move
    max_pan = 1.5 * (num_frames - 1)
    d = c1 - c0
    if np.linalg.norm(d) > max_pan:
        c1 = c0 + d * (max_pan / np.linalg.norm(d))
    t = np.linspace(0.0, 1.0, num_frames)
    return {
        "center": c0[None] + t[:, None] * (c1 - c0)[None],
        "zoom": s0 + t * (s1 - s0),
        "angle": a0 + t * (a1 - a0),
    }


def render_clip(photo: np.ndarray, name: str, num_frames: int, out_hw: tuple[int, int] | None = None):
    """Yield ``num_frames`` uint8 ``[H, W, 3]`` frames of the synthetic camera move over ``photo``."""
    from scipy.ndimage import map_coordinates, spline_filter

    if photo.ndim != 3 or photo.shape[-1] != 3 or photo.dtype != np.uint8:
        raise ValueError(f"photo must be uint8 [H, W, 3], got {photo.dtype} {photo.shape}")
    out_hw = out_hw or window_size(photo.shape[:2])
    path = trajectory(name, photo.shape[:2], out_hw, num_frames)
    h, w = out_hw
    v, u = np.meshgrid(np.arange(h) - (h - 1) / 2, np.arange(w) - (w - 1) / 2, indexing="ij")
    coeffs = [spline_filter(photo[..., c].astype(np.float64), order=3, mode="mirror") for c in range(3)]
    for i in range(num_frames):
        (cy, cx), s, a = path["center"][i], path["zoom"][i], path["angle"][i]
        ys = cy + s * (math.cos(a) * v + math.sin(a) * u)
        xs = cx + s * (-math.sin(a) * v + math.cos(a) * u)
        frame = np.stack([map_coordinates(cf, [ys, xs], order=3, mode="mirror", prefilter=False)
                          for cf in coeffs], axis=-1)
        yield np.clip(np.round(frame), 0, 255).astype(np.uint8)
