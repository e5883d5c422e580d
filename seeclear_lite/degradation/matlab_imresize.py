"""MATLAB-compatible bicubic ``imresize`` in torch (batched, any device, differentiable).

The BI degradation of the video super-resolution literature (REDS4, Vid4, Vimeo-90K test sets; SeeClear
Sec. 4.1) is MATLAB's ``imresize(HR, 1/4, 'bicubic')``. ``torch.nn.functional.interpolate`` does *not*
reproduce it: it has no antialiasing matched to MATLAB's kernel stretching and handles borders
differently, which costs several dB of PSNR on benchmark numbers. This module re-derives MATLAB's
algorithm (``imresize.m``, function ``contributions``):
* Kernel: Keys' cubic convolution with ``a = -0.5`` (:func:`cubic`), support ``[-2, 2]``.
* Antialiasing when downscaling (``scale < 1``): the kernel is stretched, ``h(x) = s * cubic(s * x)``,
  and its width becomes ``4 / s``.
* Output pixel ``x = 1..out`` (1-based) sits at input coordinate ``u = x / s + 0.5 * (1 - 1 / s)``
  (pixel centres aligned); it reads ``P = ceil(width) + 2`` input pixels starting at
  ``left = floor(u - width / 2)``, with weights ``h(u - j)`` normalised to sum to one.
* Borders: indices outside ``1..n`` are mirrored *symmetrically* (edge pixel repeated:
  ``0 -> 1, -1 -> 2, n + 1 -> n``), i.e. through the table ``[1..n, n..1]`` indexed modulo ``2n``.
* Taps whose weight is zero for every output pixel are dropped (speed only).
* Output size ``ceil(n * s)``; with an explicit output size, ``s = out / n`` per dimension.
* The image is resized one dimension at a time (the operation is separable), the dimension with the
  smaller scale first, as MATLAB does.

Each 1-D pass is a product with a banded ``[out, in]`` matrix (:func:`resize_matrix`), so it works on
any device and dtype, batched, and is differentiable. It never clamps or rounds: a float input gives
the float result (MATLAB on ``double`` input; MATLAB on ``uint8`` input also rounds after each pass,
which moves a pixel by at most one 8-bit level). The readable loop version used by the tests lives in
:mod:`seeclear_lite.degradation.imresize_reference`.
"""

from __future__ import annotations

import math
from functools import lru_cache
from numbers import Real

import torch

#: Support width of the un-stretched cubic kernel.
KERNEL_WIDTH = 4.0


def cubic(x: torch.Tensor) -> torch.Tensor:
    """Keys' (1981) cubic-convolution kernel with ``a = -0.5`` (MATLAB ``imresize`` ``cubic``)::
        1.5|x|^3 - 2.5|x|^2 + 1            for |x| <= 1
        -0.5|x|^3 + 2.5|x|^2 - 4|x| + 2    for 1 < |x| <= 2
        0                                  otherwise
    """
    ax = x.abs()
    ax2, ax3 = ax * ax, ax * ax * ax
    inner = (1.5 * ax3 - 2.5 * ax2 + 1.0) * (ax <= 1)
    outer = (-0.5 * ax3 + 2.5 * ax2 - 4.0 * ax + 2.0) * ((ax > 1) & (ax <= 2))
    return inner + outer


@lru_cache(maxsize=256)
def contributions(in_length: int, out_length: int, scale: float, antialiasing: bool = True):
    """Weights and (0-based) input indices of MATLAB's ``contributions`` for one dimension.

    Returns ``(weights, indices)``, both ``[out_length, P]`` CPU tensors (float64 / int64): output pixel
    ``i`` is ``sum_p weights[i, p] * input[indices[i, p]]``. Cached: the same sizes reuse the tables.
    """
    kernel_width = KERNEL_WIDTH
    stretch = scale < 1 and antialiasing
    if stretch:  # antialiasing: widen the kernel by 1/s and lower it by s
        kernel_width = kernel_width / scale

    x = torch.arange(1, out_length + 1, dtype=torch.float64)  # MATLAB's 1-based output coordinates
    u = x / scale + 0.5 * (1.0 - 1.0 / scale)  # where output pixel x sits in input coordinates
    left = torch.floor(u - kernel_width / 2.0)
    taps = math.ceil(kernel_width) + 2
    j = left[:, None] + torch.arange(taps, dtype=torch.float64)[None, :]  # 1-based input positions
    dist = u[:, None] - j
    weights = scale * cubic(scale * dist) if stretch else cubic(dist)
    weights = weights / weights.sum(dim=1, keepdim=True)

    # symmetric mirroring through [1..n, n..1] (1-based), then to 0-based indices
    mirror = torch.cat([torch.arange(in_length), torch.arange(in_length - 1, -1, -1)])
    indices = mirror[torch.remainder(j.long() - 1, 2 * in_length)]

    keep = (weights != 0).any(dim=0)  # drop taps that are zero for every output pixel
    return weights[:, keep].contiguous(), indices[:, keep].contiguous()


@lru_cache(maxsize=256)
def resize_matrix(in_length: int, out_length: int, scale: float, antialiasing: bool = True) -> torch.Tensor:
    """The dense ``[out_length, in_length]`` float64 matrix ``A`` of one 1-D pass: ``y = A @ x``.

    Row ``i`` holds the weights of output pixel ``i`` scattered onto the (mirrored) input pixels; a
    mirrored index that appears twice in a row gets the sum of its weights. A 2-D resize is
    ``A_h @ X @ A_w.T``, one matrix product per dimension (BLAS-fast and differentiable).
    """
    weights, indices = contributions(in_length, out_length, scale, antialiasing)
    matrix = torch.zeros(out_length, in_length, dtype=torch.float64)
    return matrix.scatter_add_(1, indices, weights)


def _resize_dim(x: torch.Tensor, dim: int, out_length: int, scale: float, antialiasing: bool):
    """Resize ``x`` along ``dim`` (-2 or -1) with MATLAB's weights."""
    matrix = resize_matrix(x.shape[dim], out_length, scale, antialiasing).to(device=x.device, dtype=x.dtype)
    if dim == -2:
        return torch.matmul(matrix, x)  # [out, H] @ [..., H, W]
    return torch.matmul(x, matrix.T)  # [..., H, W] @ [W, out]


def _as_pair(value, name):
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{name} must be a number or a pair (H, W); got {value!r}.")
        return tuple(value)
    return (value, value)


def resolve_sizes(in_size: tuple[int, int], scale=None, output_size=None):
    """MATLAB's rule for the output size and per-dimension scales: returns ``(out_hw, scale_hw)``.

    With ``scale``: ``out = ceil(n * scale)``. With ``output_size``: ``scale = out / n``.
    """
    if (scale is None) == (output_size is None):
        raise ValueError("imresize needs exactly one of `scale` (e.g. 0.25) or `output_size` (H, W).")
    if scale is not None:
        scales = _as_pair(scale, "scale")
        for s in scales:
            if isinstance(s, bool) or not isinstance(s, Real) or not math.isfinite(s) or s <= 0:
                raise ValueError(
                    f"scale must be a positive finite number (e.g. 0.25 to downscale x4, 4 to upscale); "
                    f"got {scale!r}."
                )
        scales = tuple(float(s) for s in scales)
        out = tuple(math.ceil(n * s) for n, s in zip(in_size, scales))
        return out, scales
    out = _as_pair(output_size, "output_size")
    for o in out:
        if isinstance(o, bool) or not isinstance(o, int) or o < 1:
            raise ValueError(f"output_size must be a pair of positive integers (H, W); got {output_size!r}.")
    return tuple(out), tuple(o / n for o, n in zip(out, in_size))


def check_image_tensor(x, name="x"):
    """Shared input check: a floating torch tensor with at least two dims [..., H, W]."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(
            f"{name} must be a torch.Tensor [..., H, W]; got {type(x).__name__}. For a numpy HWC image use "
            f"torch.from_numpy(img).permute(2, 0, 1)."
        )
    if not (x.is_floating_point()):
        raise TypeError(
            f"{name} must be a floating tensor with values in [0, 1]; got dtype {x.dtype}. Convert 8-bit "
            f"frames with x.float() / 255."
        )
    if x.ndim < 2:
        raise ValueError(f"{name} must have at least 2 dims [..., H, W]; got shape {tuple(x.shape)}.")
    if x.shape[-1] < 1 or x.shape[-2] < 1:
        raise ValueError(f"{name} has an empty spatial size {tuple(x.shape[-2:])}; H and W must be >= 1.")


def imresize(x: torch.Tensor, scale=None, output_size=None, antialiasing: bool = True) -> torch.Tensor:
    """MATLAB ``imresize(x, scale, 'bicubic')`` on the last two dims of ``x`` ([..., H, W]).

    Args:
        x: floating tensor ``[..., H, W]`` (channels and batch are leading dims), any device/dtype.
        scale: a positive number (same for H and W) or a pair ``(s_h, s_w)``; output ``ceil(n * s)``.
        output_size: ``(H_out, W_out)`` instead of ``scale`` (then ``s = out / n`` per dimension).
        antialiasing: MATLAB's default ``True`` (stretch the kernel when downscaling).

    Returns the resized tensor, same dtype and device, neither clamped nor rounded.
    """
    check_image_tensor(x)
    out_hw, scales = resolve_sizes(tuple(x.shape[-2:]), scale, output_size)
    # MATLAB resizes the dimension with the smaller scale first (stable order: H before W on ties).
    order = sorted([0, 1], key=lambda d: scales[d])
    for d in order:
        # (scale 1 needs no special case: its weights are one-hot, cubic(0) = 1 and cubic(+-1, +-2) = 0)
        x = _resize_dim(x, -2 + d, out_hw[d], scales[d], antialiasing)
    return x
