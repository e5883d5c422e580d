"""The BD degradation: Gaussian blur (sigma 1.6) then keep every 4th pixel.

BD is the second standard degradation of the video super-resolution literature (Vid4 / UDM10 "BD x4": e.g.
DUF, RBPN, BasicVSR report both BI and BD): the HR frame is blurred by a 13 x 13 Gaussian of standard deviation
1.6 and subsampled by taking every ``scale``-th pixel, starting at the first. Unlike BI (MATLAB's antialiased
bicubic, :mod:`.bi`) it aliases: a model trained on one degradation does poorly on the other, which is why the
kit makes it a setting (``data.degradation``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .matlab_imresize import check_image_tensor

#: BD's blur: the Gaussian of the BD x4 benchmarks.
BD_SIGMA, BD_KERNEL = 1.6, 13


def gaussian_kernel(size: int = BD_KERNEL, sigma: float = BD_SIGMA, dtype=torch.float64) -> torch.Tensor:
    """A normalised 2-D Gaussian ``[size, size]``."""
    r = torch.arange(size, dtype=dtype) - (size - 1) / 2
    g = torch.exp(-(r ** 2) / (2 * sigma ** 2))
    k = g[:, None] * g[None, :]
    return k / k.sum()


def bd_degrade(hr: torch.Tensor, scale: int = 4, sigma: float = BD_SIGMA) -> torch.Tensor:
    """BD degradation of ``hr [..., H, W]`` in [0, 1]: Gaussian blur (reflect padding), then ``[::scale]``.

    H and W must be divisible by ``scale``. Not clamped or rounded."""
    check_image_tensor(hr, "hr")
    if isinstance(scale, bool) or not isinstance(scale, int) or scale < 1:
        raise ValueError(f"scale must be a positive integer (the paper uses 4); got {scale!r}.")
    h, w = hr.shape[-2:]
    if h % scale or w % scale:
        raise ValueError(f"HR size {h}x{w} is not divisible by the scale {scale}: crop it first, e.g. "
                         f"seeclear_lite.degradation.mod_crop(hr, {scale}).")
    k = gaussian_kernel(BD_KERNEL, sigma, hr.dtype).to(hr.device)
    pad = BD_KERNEL // 2
    if min(h, w) <= pad:
        raise ValueError(f"BD needs frames larger than {pad} pixels (reflect padding of its 13 x 13 blur), "
                         f"got {h}x{w}.")
    x = hr.reshape(-1, 1, h, w)
    x = F.conv2d(F.pad(x, (pad, pad, pad, pad), mode="reflect"), k[None, None])
    return x[..., ::scale, ::scale].reshape(*hr.shape[:-2], h // scale, w // scale)

