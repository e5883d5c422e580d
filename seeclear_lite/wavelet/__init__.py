"""Haar wavelet transform (Sec. 3.1, Eq. 7): the lossless replacement of the latent autoencoder."""

from .haar import BANDS, PYWT_NAMES, dwt2, idwt2, split_bands, wavedec2, waverec2
from .padding import crop_to, pad_to_multiple

__all__ = ["BANDS", "PYWT_NAMES", "dwt2", "idwt2", "split_bands", "wavedec2", "waverec2",
           "pad_to_multiple", "crop_to"]
