"""Metrics of SeeClear's Table 1: PSNR / SSIM (RGB and Y), LPIPS, plus DISTS and temporal consistency.

All take frames ``[..., C, H, W]`` in [0, 1] and return one value per image (temporal metrics: per clip
``[..., N, C, H, W]``).
"""

from .dists import DISTS, dists, get_dists
from .lpips_model import LPIPS, get_lpips, lpips
from .psnr_ssim import psnr, ssim
from .temporal import temporal_error, temporal_lpips
from .ycbcr import rgb_to_y

__all__ = ["psnr", "ssim", "rgb_to_y", "LPIPS", "lpips", "get_lpips", "DISTS", "dists", "get_dists", "temporal_error",
           "temporal_lpips"]
