"""PSNR and SSIM with the conventions of BasicSR's ``calculate_psnr`` / ``calculate_ssim``.

These are the numbers of SeeClear's Table 1 (PSNR/SSIM on RGB for REDS4, on Y for Vid4). Conventions:
* inputs ``[..., C, H, W]`` in [0, 1] (see :mod:`.inputs`); one value per image (leading shape);
* ``crop_border`` pixels are removed on each side first; ``y_channel=True`` then takes MATLAB's Y
  (:func:`~seeclear_lite.metrics.ycbcr.rgb_to_y`);
* PSNR: ``10 log10(data_range^2 / MSE)`` with the MSE over all channels and pixels of one image
  (``inf`` for identical images, as BasicSR);
* SSIM (Wang et al. 2004, the reference MATLAB ``ssim_index``): on the 0..255 scale, 11x11 Gaussian
  window with sigma = 1.5, ``C1 = (0.01 * 255)^2``, ``C2 = (0.03 * 255)^2``, 'valid' filtering (no
  padding), mean of the SSIM map, and for RGB the mean over the three channels.

Computed in float64. No rounding: quantize SR frames to 8 bit first
(:func:`seeclear_lite.degradation.quantize_uint8`) to match numbers computed from saved PNG files.
"""

from __future__ import annotations


import torch

from .inputs import check_pair
from .ycbcr import rgb_to_y

#: SSIM window (Wang et al. 2004): Gaussian, 11 taps, sigma 1.5.
SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
#: SSIM stabilising constants on the 0..255 scale: (K1 L)^2, (K2 L)^2 with K1 = 0.01, K2 = 0.03, L = 255.
SSIM_C1 = (0.01 * 255) ** 2
SSIM_C2 = (0.03 * 255) ** 2


def psnr(a: torch.Tensor, b: torch.Tensor, crop_border: int = 0, y_channel: bool = False,
         data_range: float = 1.0) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB per image, ``10 log10(data_range^2 / MSE)``.

    ``a``, ``b``: ``[..., C, H, W]`` in [0, 1] (``C = 3`` RGB when ``y_channel``). Returns a float64 tensor
    of shape ``a.shape[:-3]``.
    """
    if not (isinstance(data_range, (int, float)) and not isinstance(data_range, bool) and data_range > 0):
        raise ValueError(f"data_range must be a positive number (1.0 for frames in [0, 1]); got {data_range!r}.")
    a, b = check_pair(a, b, crop_border, y_channel)
    if y_channel:
        a, b = rgb_to_y(a), rgb_to_y(b)
    mse = (a - b).pow(2).mean(dim=(-3, -2, -1))
    return 10.0 * torch.log10(data_range**2 / mse)  # mse = 0 -> inf, as BasicSR


def gaussian_window_1d(size: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA, dtype=torch.float64, device=None):
    """Normalised 1-D Gaussian ``exp(-(i - c)^2 / (2 sigma^2))`` (== OpenCV's ``getGaussianKernel``)."""
    i = torch.arange(size, dtype=dtype, device=device) - (size - 1) / 2
    g = torch.exp(-(i**2) / (2 * sigma**2))
    return g / g.sum()


def _filter_valid(x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """Separable Gaussian filter of ``[..., H, W]`` with 'valid' output (shrinks by ``len(g) - 1``).

    Written as a weighted sum of shifted views (first along H, then along W): on a CPU this is several
    times faster than a float64 depthwise ``conv2d`` and gives the same numbers to ~1e-16.
    """
    k = len(g)
    h, w = x.shape[-2] - k + 1, x.shape[-1] - k + 1
    taps = g.tolist()
    y = taps[0] * x[..., 0:h, :]
    for i in range(1, k):
        y = y.add_(x[..., i:i + h, :], alpha=taps[i])
    z = taps[0] * y[..., :, 0:w]
    for i in range(1, k):
        z = z.add_(y[..., :, i:i + w], alpha=taps[i])
    return z


def ssim_map(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """SSIM map of ``[..., H, W]`` images on the 0..255 scale ('valid' size ``H-10 x W-10``).

    ``SSIM = (2 mu_a mu_b + C1)(2 sigma_ab + C2) / ((mu_a^2 + mu_b^2 + C1)(sigma_a^2 + sigma_b^2 + C2))``
    with Gaussian-weighted local means, variances and covariance (Wang et al. 2004, Eq. 13).
    """
    g = gaussian_window_1d(dtype=a.dtype, device=a.device)
    mu_a, mu_b = _filter_valid(a, g), _filter_valid(b, g)
    var_a = _filter_valid(a * a, g) - mu_a**2
    var_b = _filter_valid(b * b, g) - mu_b**2
    cov = _filter_valid(a * b, g) - mu_a * mu_b
    num = (2 * mu_a * mu_b + SSIM_C1) * (2 * cov + SSIM_C2)
    den = (mu_a**2 + mu_b**2 + SSIM_C1) * (var_a + var_b + SSIM_C2)
    return num / den


def ssim(a: torch.Tensor, b: torch.Tensor, crop_border: int = 0, y_channel: bool = False) -> torch.Tensor:
    """Structural similarity per image (BasicSR ``calculate_ssim``): mean SSIM map, mean over channels.

    ``a``, ``b``: ``[..., C, H, W]`` in [0, 1], at least 11x11 after cropping. Returns float64, shape
    ``a.shape[:-3]``.
    """
    a, b = check_pair(a, b, crop_border, y_channel, min_size=SSIM_WINDOW)
    if y_channel:
        a, b = rgb_to_y(a), rgb_to_y(b)
    lead = a.shape[:-3]
    a = a.reshape(-1, *a.shape[-3:]) * 255.0
    b = b.reshape(-1, *b.shape[-3:]) * 255.0
    per_channel = ssim_map(a, b).mean(dim=(-2, -1))  # [N, C]
    return per_channel.mean(dim=-1).reshape(lead)


__all__ = ["psnr", "ssim", "ssim_map", "gaussian_window_1d", "SSIM_C1", "SSIM_C2"]
