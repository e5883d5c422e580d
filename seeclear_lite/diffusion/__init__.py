"""Blurring ResShift, SeeClear's diffusion (Sec. 3.1, App. A, Algorithm 1).

- :mod:`.dct`                patch DCT (Eq. 2)
- :mod:`.schedules`          eta (ResShift), tau (IHDM blur), Lambda, all float64
- :mod:`.blurring_resshift`  the forward marginal (Eqs. 25, 29), the two posterior forms, the sampler
"""

from .blurring_resshift import BlurringResShift, POSTERIOR_FORMS, extract
from .dct import dct_matrix, patch_dct, patch_idct
from .schedules import blur_schedule, eta_schedule, heat_eigenvalues

__all__ = ["BlurringResShift", "POSTERIOR_FORMS", "extract", "dct_matrix", "patch_dct", "patch_idct",
           "eta_schedule", "blur_schedule", "heat_eigenvalues"]
