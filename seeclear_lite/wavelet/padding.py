"""Reflect-pad frames to a multiple the network needs, and crop back.

The Pixel Condenser halves the resolution ``levels`` times (input DWT + wavelet downsamples) and then
cuts windows of ``window`` pixels, so the frame size must be a multiple of ``2**levels * window``.
Frames of any size are reflect-padded at the bottom/right and the output is cropped back.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def pad_to_multiple(x: torch.Tensor, multiple: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """Reflect-pad ``x [..., H, W]`` at the bottom and right so H and W are multiples of ``multiple``.

    Returns ``(padded, (H, W))``; pass the original size to :func:`crop_to`. When the padding is larger
    than the frame (tiny frames), reflection is applied repeatedly, so any size works.
    """
    if not isinstance(multiple, int) or multiple < 1:
        raise ValueError(f"multiple must be a positive int, got {multiple!r}.")
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    lead = x.shape[:-2]
    y = x.reshape(-1, 1, h, w) if x.dim() != 4 else x
    while ph or pw:  # reflect needs pad < size: grow in steps for tiny frames
        hh, ww = y.shape[-2:]
        sh, sw = min(ph, hh - 1), min(pw, ww - 1)
        if (sh, sw) == (0, 0):  # a 1-pixel frame cannot be reflected: replicate instead
            y = F.pad(y, (0, pw, 0, ph), mode="replicate")
            break
        y = F.pad(y, (0, sw, 0, sh), mode="reflect")
        ph, pw = ph - sh, pw - sw
    if x.dim() != 4:
        y = y.reshape(*lead, *y.shape[-2:])
    return y, (h, w)


def crop_to(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Crop ``x [..., H', W']`` back to the top-left ``size = (H, W)``."""
    h, w = size
    return x[..., :h, :w]
