"""The BI degradation (bicubic x4 down) and its inverse baseline (bicubic x4 up).

"BI" is the degradation of REDS4 / Vid4 / Vimeo-90K-T in the video super-resolution literature used by
SeeClear (Sec. 4.1): the low-resolution frame is MATLAB's ``imresize(HR, 1/4, 'bicubic')``. The bicubic
upsampling of the LR frame is the "Bicubic" baseline row of every results table.
"""

from __future__ import annotations

import numpy as np
import torch

from .matlab_imresize import check_image_tensor, imresize


def _check_scale(scale):
    if isinstance(scale, bool) or not isinstance(scale, int) or scale < 1:
        raise ValueError(f"scale must be a positive integer (the paper uses 4); got {scale!r}.")


def mod_crop(x: torch.Tensor, scale: int = 4) -> torch.Tensor:
    """Crop the bottom/right so that H and W are divisible by ``scale`` (BasicSR's ``mod_crop``)."""
    _check_scale(scale)
    check_image_tensor(x, "frames")
    h, w = x.shape[-2:]
    return x[..., : h - h % scale, : w - w % scale]


def bi_degrade(hr: torch.Tensor, scale: int = 4) -> torch.Tensor:
    """BI degradation: MATLAB bicubic downsampling by ``scale`` of ``hr`` [..., H, W] in [0, 1].

    H and W must be divisible by ``scale`` (so that upsampling the LR gives back the HR size); crop with
    :func:`mod_crop` first otherwise. Not clamped or rounded; see :func:`quantize_uint8` for the 8-bit
    LR frames that benchmark folders store.
    """
    _check_scale(scale)
    check_image_tensor(hr, "hr")
    h, w = hr.shape[-2:]
    if h % scale or w % scale:
        raise ValueError(
            f"HR size {h}x{w} is not divisible by the scale {scale}: crop it first, e.g. "
            f"seeclear_lite.degradation.mod_crop(hr, {scale})."
        )
    # output_size (not scale=1/scale) so that out = n / scale exactly, and MATLAB's scale = out / n
    return imresize(hr, output_size=(h // scale, w // scale))


def bicubic_upsample(lr: torch.Tensor, scale: int = 4) -> torch.Tensor:
    """MATLAB bicubic upsampling by ``scale`` (the 'Bicubic' baseline); output ``[..., H*scale, W*scale]``."""
    _check_scale(scale)
    check_image_tensor(lr, "lr")
    h, w = lr.shape[-2:]
    return imresize(lr, output_size=(h * scale, w * scale))


def quantize_uint8(x: torch.Tensor) -> torch.Tensor:
    """Round frames in [0, 1] to the 8-bit grid and back: ``round(clamp(x, 0, 1) * 255) / 255``.

    This is what saving a PNG does (BasicSR's ``tensor2img``), so metrics on quantized frames match
    numbers computed from image files. Rounding is half-to-even (torch/numpy), MATLAB rounds half away
    from zero; exact ties do not occur in practice for resized float data.
    """
    check_image_tensor(x)
    return torch.round(x.clamp(0.0, 1.0) * 255.0) / 255.0
