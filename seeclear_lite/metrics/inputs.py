"""Input checks shared by the metrics: one convention, clear errors.

Convention: frames are torch tensors ``[..., C, H, W]`` with values in **[0, 1]** (RGB when C = 3);
every leading dim is a batch dim and metrics return one value per image (a tensor of the leading shape).
A numpy HWC image ``img`` becomes ``torch.from_numpy(img).permute(2, 0, 1)``.
"""

from __future__ import annotations

import torch


def metric_dtype(device: torch.device) -> torch.dtype:
    """Metrics are computed in float64 (MPS has no float64, so float32 there)."""
    return torch.float32 if device.type == "mps" else torch.float64


def check_frames(x, name: str, channels3: bool = False) -> None:
    """Type, dims, channels, finiteness and value range of one metric input."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(
            f"{name} must be a torch.Tensor [..., C, H, W] in [0, 1]; got {type(x).__name__}. For a numpy HWC "
            f"image use torch.from_numpy(img).permute(2, 0, 1) (and / 255 for uint8)."
        )
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a floating tensor in [0, 1]; got dtype {x.dtype}. Use x.float() / 255 "
                        f"for 8-bit frames.")
    if x.ndim < 3:
        raise ValueError(f"{name} must have at least 3 dims [..., C, H, W]; got shape {tuple(x.shape)}. Add the "
                         f"channel dim with x[None] for a single-channel [H, W] image.")
    if channels3 and x.shape[-3] != 3:
        raise ValueError(f"y_channel=True needs RGB input with 3 channels at dim -3; {name} has shape "
                         f"{tuple(x.shape)} ({x.shape[-3]} channels).")
    if x.numel() == 0:
        raise ValueError(f"{name} is empty (shape {tuple(x.shape)}).")
    if not torch.isfinite(x).all():
        raise ValueError(f"{name} contains NaN or inf values: check the model output before computing metrics.")
    lo, hi = x.min().item(), x.max().item()
    if hi > 1.5 or lo < -0.5:
        raise ValueError(
            f"{name} has values in [{lo:.3g}, {hi:.3g}] but metrics expect frames in [0, 1]: divide 0..255 "
            f"frames by 255, or map [-1, 1] network outputs with seeclear_lite.utils.ranges.to_image_range."
        )


def check_pair(a, b, crop_border: int = 0, y_channel: bool = False, min_size: int = 1):
    """Check a metric's two inputs, crop the border and return them in the metric dtype."""
    check_frames(a, "a", y_channel)
    check_frames(b, "b", y_channel)
    if a.shape != b.shape:
        raise ValueError(f"shape mismatch: a has shape {tuple(a.shape)} but b has {tuple(b.shape)}; compare "
                         f"frames of the same size (crop or resize the SR output to the GT size).")
    if isinstance(crop_border, bool) or not isinstance(crop_border, int) or crop_border < 0:
        raise ValueError(f"crop_border must be a non-negative integer; got {crop_border!r}.")
    h, w = a.shape[-2:]
    if min(h, w) - 2 * crop_border < min_size:
        raise ValueError(
            f"frames of size {h}x{w} are too small for crop_border={crop_border}: at least {min_size} pixel(s) "
            f"must remain on each side after cropping (SSIM needs {11}x{11})."
        )
    if crop_border:
        a = a[..., crop_border:-crop_border, crop_border:-crop_border]
        b = b[..., crop_border:-crop_border, crop_border:-crop_border]
    dtype = metric_dtype(a.device)
    return a.to(dtype), b.to(device=a.device, dtype=dtype)
