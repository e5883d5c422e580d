"""Degradations: MATLAB-compatible bicubic resize and the BI x4 degradation (SeeClear Sec. 4.1)."""

from .bi import bi_degrade, bicubic_upsample, degrade_uint8, mod_crop, quantize_uint8
from .imresize_reference import imresize_np
from .matlab_imresize import contributions, cubic, imresize

__all__ = ["imresize", "imresize_np", "cubic", "contributions", "bi_degrade", "bicubic_upsample", "degrade_uint8",
           "mod_crop", "quantize_uint8"]
