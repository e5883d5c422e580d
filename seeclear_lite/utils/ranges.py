"""The one boundary between image I/O range and diffusion range.

Image files, datasets and metrics use frames in **[0, 1]**. The diffusion (and every network) works in
**[-1, 1]**, as ResShift does (its kappa = 2 is set for that range). Convert only here.
"""

from __future__ import annotations


def to_diffusion_range(x):
    """[0, 1] image -> [-1, 1] diffusion range."""
    return x * 2.0 - 1.0


def to_image_range(x):
    """[-1, 1] diffusion range -> [0, 1] image (not clamped)."""
    return (x + 1.0) * 0.5
