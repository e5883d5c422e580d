"""Degradations: MATLAB-compatible bicubic resize, the BI x4 degradation (SeeClear Sec. 4.1) and BD x4.

A LR frame is made by one named degradation, the setting ``data.degradation`` (``evaluate --degradation``):
:data:`DEGRADATIONS` maps each name to its function, and :func:`degrade_uint8` is the one place that applies it.
"""

from .bd import bd_degrade
from .bi import bi_degrade, bicubic_upsample, mod_crop, quantize_uint8
from .imresize_reference import imresize_np
from .matlab_imresize import contributions, cubic, imresize
from .named import DEFAULT_DEGRADATION, DEGRADATIONS, check_degradation, degrade_uint8

__all__ = ["imresize", "imresize_np", "cubic", "contributions", "bi_degrade", "bd_degrade", "bicubic_upsample",
           "degrade_uint8", "mod_crop", "quantize_uint8", "DEGRADATIONS", "DEFAULT_DEGRADATION",
           "check_degradation"]
