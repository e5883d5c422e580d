"""The degradation as a setting: one mapping from a name (``data.degradation``, ``evaluate --degradation``) to the
function that makes LR frames, and :func:`degrade_uint8`, the one place that applies it to 8-bit frames."""

from __future__ import annotations

import numpy as np
import torch

from .bd import bd_degrade
from .bi import bi_degrade

#: name -> (function hr [..., H, W] in [0, 1] -> LR, scale). ``bi_x4``: MATLAB bicubic (the paper's, Sec. 4.1);
#: ``bd_x4``: Gaussian blur sigma 1.6, then every 4th pixel.
DEGRADATIONS = {"bi_x4": (bi_degrade, 4), "bd_x4": (bd_degrade, 4)}
#: The paper's degradation, that of REDS4 / Vid4 ``BIx4`` folders and of the kit's packs and sample clips.
DEFAULT_DEGRADATION = "bi_x4"


def check_degradation(name: str, scale: int = 4) -> None:
    """One line naming the choices when ``name`` is not a degradation of ``scale``."""
    if name not in DEGRADATIONS:
        raise ValueError(f"unknown degradation {name!r}: choose one of {', '.join(DEGRADATIONS)}.")
    if DEGRADATIONS[name][1] != scale:
        raise ValueError(f"{name} is a x{DEGRADATIONS[name][1]} degradation, but the scale is {scale}.")


def degrade_uint8(gt, scale: int = 4, degradation: str = DEFAULT_DEGRADATION):
    """uint8 ``[T, H, W, 3]`` (numpy) -> its LR frames made by ``degradation`` (default BI x``scale``, what a
    ``BIx4/`` folder stores), rounded to uint8. BI takes any integer scale; the others their own."""
    if degradation != "bi_x4":                 # BI resizes by any integer factor
        check_degradation(degradation, scale)
    hr = torch.from_numpy(np.ascontiguousarray(gt)).permute(0, 3, 1, 2).to(torch.float64) / 255.0
    lr = DEGRADATIONS[degradation][0](hr, scale)
    return (lr.clamp(0, 1) * 255.0).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
