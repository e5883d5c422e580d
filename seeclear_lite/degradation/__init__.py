"""Degradations: MATLAB-compatible bicubic resize and the BI x4 degradation (SeeClear Sec. 4.1)."""

from .bi import bi_degrade, bicubic_upsample, mod_crop, quantize_uint8
from .matlab_imresize import contributions, cubic, imresize
from .imresize_reference import imresize_np

__all__ = ["imresize", "imresize_np", "cubic", "contributions", "bi_degrade", "bicubic_upsample",
           "mod_crop", "quantize_uint8"]
