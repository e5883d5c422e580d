"""The luma (Y) channel of MATLAB's ``rgb2ycbcr``, as used for Y-channel PSNR/SSIM (Vid4 in SeeClear).

MATLAB (and BasicSR's ``rgb2ycbcr(..., y_only=True)``) use ITU-R BT.601 studio swing on the 0..255 scale::
    Y = 16 + 65.481 R + 128.553 G + 24.966 B      with R, G, B in [0, 1], so Y in [16, 235]

Here Y is returned divided by 255 (in [16/255, 235/255]) so that it lives on the same [0, 1] scale as the
RGB frames; PSNR with ``data_range=1`` then equals BasicSR's on 0..255, and SSIM rescales by 255 itself.
"""

from __future__ import annotations

import torch

#: BT.601 luma weights of MATLAB's rgb2ycbcr for R, G, B in [0, 1], giving Y on the 0..255 scale.
Y_WEIGHTS = (65.481, 128.553, 24.966)
#: Black level of studio-swing Y on the 0..255 scale.
Y_OFFSET = 16.0


def rgb_to_y(x: torch.Tensor) -> torch.Tensor:
    """Y of MATLAB ``rgb2ycbcr`` for RGB frames ``[..., 3, H, W]`` in [0, 1]; returns ``[..., 1, H, W]`` / 255."""
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise TypeError(f"rgb_to_y expects a floating torch tensor [..., 3, H, W] in [0, 1]; got "
                        f"{type(x).__name__}{'' if not isinstance(x, torch.Tensor) else ' of dtype ' + str(x.dtype)}.")
    if x.ndim < 3 or x.shape[-3] != 3:
        raise ValueError(f"rgb_to_y needs RGB input with 3 channels at dim -3 ([..., 3, H, W]); got shape "
                         f"{tuple(x.shape)}.")
    r, g, b = x.unbind(dim=-3)
    y = (Y_WEIGHTS[0] * r + Y_WEIGHTS[1] * g + Y_WEIGHTS[2] * b + Y_OFFSET) / 255.0
    return y.unsqueeze(-3)
