"""A plain, loop-based float64 numpy version of MATLAB's bicubic ``imresize``, for the tests.

It is written independently of :mod:`seeclear_lite.degradation.matlab_imresize` and follows ``imresize.m``
line by line with MATLAB's 1-based indexing, so that it is easy to compare with the MATLAB source.
Slow (Python loops over output pixels and taps), so use it on small images only.
"""

from __future__ import annotations

import math

import numpy as np


def cubic_np(t: float) -> float:
    """Keys' cubic kernel, a = -0.5, for one number."""
    t = abs(t)
    if t <= 1:
        return 1.5 * t**3 - 2.5 * t**2 + 1
    if t <= 2:
        return -0.5 * t**3 + 2.5 * t**2 - 4 * t + 2
    return 0.0


def mirror_index(j: int, n: int) -> int:
    """MATLAB's symmetric border: ``aux = [1..n, n..1]; aux(mod(j - 1, 2n) + 1)`` (1-based in and out)."""
    aux = list(range(1, n + 1)) + list(range(n, 0, -1))
    return aux[(j - 1) % (2 * n)]


def contributions_np(in_length: int, out_length: int, scale: float, antialiasing: bool = True):
    """MATLAB ``contributions``: lists of weights and **1-based** indices, one list per output pixel."""
    kernel_width = 4.0
    if scale < 1 and antialiasing:
        def h(t):
            return scale * cubic_np(scale * t)
        kernel_width = kernel_width / scale
    else:
        h = cubic_np
    taps = math.ceil(kernel_width) + 2
    all_w, all_j = [], []
    for x in range(1, out_length + 1):
        u = x / scale + 0.5 * (1 - 1 / scale)
        left = math.floor(u - kernel_width / 2)
        js = [left + p for p in range(taps)]
        ws = [h(u - j) for j in js]
        total = sum(ws)
        all_w.append([w / total for w in ws])
        all_j.append([mirror_index(j, in_length) for j in js])
    weights, indices = np.array(all_w), np.array(all_j)
    keep = np.any(weights != 0, axis=0)  # MATLAB: kill = find(~any(weights, 1))
    return weights[:, keep], indices[:, keep]


def resize_along_axis_np(img: np.ndarray, axis: int, out_length: int, scale: float,
                         antialiasing: bool = True) -> np.ndarray:
    """One 1-D pass of ``imresize`` along ``axis`` (loops over output pixels and taps)."""
    img = np.moveaxis(np.asarray(img, dtype=np.float64), axis, 0)
    weights, indices = contributions_np(img.shape[0], out_length, scale, antialiasing)
    out = np.zeros((out_length,) + img.shape[1:], dtype=np.float64)
    for i in range(out_length):
        for p in range(weights.shape[1]):
            out[i] += weights[i, p] * img[indices[i, p] - 1]
    return np.moveaxis(out, 0, axis)


def imresize_np(img: np.ndarray, scale=None, output_size=None, antialiasing: bool = True) -> np.ndarray:
    """Reference ``imresize(img, scale, 'bicubic')`` on the last two axes of a float64 array [..., H, W]."""
    img = np.asarray(img, dtype=np.float64)
    h, w = img.shape[-2:]
    if (scale is None) == (output_size is None):
        raise ValueError("give exactly one of scale or output_size")
    if scale is not None:
        sh, sw = scale if isinstance(scale, (tuple, list)) else (scale, scale)
        oh, ow = math.ceil(h * sh), math.ceil(w * sw)
    else:
        oh, ow = output_size
        sh, sw = oh / h, ow / w
    # smaller scale first, H first on ties (MATLAB's dimension order)
    passes = [(-2, oh, sh), (-1, ow, sw)]
    if sw < sh:
        passes.reverse()
    for axis, n_out, s in passes:
        img = resize_along_axis_np(img, img.ndim + axis, n_out, s, antialiasing)
    return img
