"""Orthonormal 2-D Haar DWT / IDWT in torch (Sec. 3.1 "DWT", Eq. 7, App. C).

SeeClear drops the latent autoencoder of latent diffusion and works on wavelet sub-bands instead:
every frame is split by a 2-D discrete wavelet transform into four sub-bands LL, LH, HL, HH of half
the size, concatenated along channels (Eq. 7). The transform is linear, orthonormal and exactly
invertible, so it loses nothing, unlike an autoencoder.

Convention (identical to ``pywt.dwt2(x, 'haar')``, tested to 1e-12 in float64)
--------------------------------------------------------------------------------
For each 2x2 block ``[[a, b], [c, d]]`` (``a`` top-left, ``b`` top-right, ``c`` bottom-left,
``d`` bottom-right)::
    LL = (a + b + c + d) / 2      pywt cA  (approximation)
    LH = (a + b - c - d) / 2      pywt cH  (horizontal detail: high-pass along H, low-pass along W)
    HL = (a - b + c - d) / 2      pywt cV  (vertical detail:   low-pass along H, high-pass along W)
    HH = (a - b - c + d) / 2      pywt cD  (diagonal detail)

Orthonormal: the sum of squares is preserved, so LL is twice the 2x2 mean (not the mean). With the Haar
filter (length 2) and even sizes pywt's ``'periodization'`` and ``'symmetric'`` modes give the same
coefficients; the kit states ``'periodization'`` (no boundary extension at all) as its reference mode.
Odd sizes are rejected: pad first (the Pixel Condenser reflect-pads, see ``models/condenser.py``).

Channel layout (band-major)
---------------------------
``dwt2`` maps ``[..., C, H, W]`` to ``[..., 4C, H/2, W/2]`` with the bands outermost:
channels ``[0:C]`` = LL of every input channel, ``[C:2C]`` = LH, ``[2C:3C]`` = HL, ``[3C:4C]`` = HH.
So ``out[:, :C]`` is always the low-pass image. ``levels=k`` applies the single level ``k`` times to the
*whole* tensor (a full wavelet-packet split: all 4^k bands have size H/2^k and the most recent split is
outermost), which is what the network concatenates along channels. ``wavedec2``/``waverec2`` give the
classic Mallat pyramid (only LL split again), matching ``pywt.wavedec2``/``pywt.waverec2``.

Everything is plain tensor arithmetic: batched over any leading dims, any dtype/device, autograd-safe.
"""

from __future__ import annotations

import torch

#: Sub-band names in channel order (band-major), with pywt's names.
BANDS = ("LL", "LH", "HL", "HH")
PYWT_NAMES = {"LL": "cA", "LH": "cH", "HL": "cV", "HH": "cD"}


def _check(x: torch.Tensor, what: str) -> None:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{what} expects a torch.Tensor, got {type(x).__name__}.")
    if x.dim() < 3:
        raise ValueError(f"{what} expects a tensor [..., C, H, W] with at least 3 dims, got shape "
                         f"{tuple(x.shape)}; add a channel dim with x.unsqueeze(-3).")


def _dwt2_once(x: torch.Tensor) -> torch.Tensor:
    _check(x, "dwt2")
    *lead, c, h, w = x.shape
    if h % 2 or w % 2:
        raise ValueError(f"dwt2 needs an even height and width, got {h}x{w}; pad the frame first "
                         f"(e.g. seeclear_lite.wavelet.pad_to_multiple(x, 2)).")
    blocks = x.reshape(*lead, c, h // 2, 2, w // 2, 2)
    a = blocks[..., :, 0, :, 0]
    b = blocks[..., :, 0, :, 1]
    cc = blocks[..., :, 1, :, 0]
    d = blocks[..., :, 1, :, 1]
    s_ab, d_ab = a + b, a - b
    s_cd, d_cd = cc + d, cc - d
    ll = (s_ab + s_cd) * 0.5
    lh = (s_ab - s_cd) * 0.5
    hl = (d_ab + d_cd) * 0.5
    hh = (d_ab - d_cd) * 0.5
    return torch.cat([ll, lh, hl, hh], dim=-3)


def _idwt2_once(y: torch.Tensor) -> torch.Tensor:
    _check(y, "idwt2")
    *lead, c4, h, w = y.shape
    if c4 % 4:
        raise ValueError(f"idwt2 needs a channel count divisible by 4 (bands LL, LH, HL, HH), got {c4}.")
    ll, lh, hl, hh = torch.chunk(y, 4, dim=-3)
    # The Haar synthesis is the transpose (= inverse) of the analysis above.
    s_ab = (ll + lh) * 0.5
    s_cd = (ll - lh) * 0.5
    d_ab = (hl + hh) * 0.5
    d_cd = (hl - hh) * 0.5
    a, b = s_ab + d_ab, s_ab - d_ab
    cc, d = s_cd + d_cd, s_cd - d_cd
    top = torch.stack([a, b], dim=-1)       # [..., c, h, w, 2]
    bottom = torch.stack([cc, d], dim=-1)
    blocks = torch.stack([top, bottom], dim=-3)  # [..., c, h, 2, w, 2]
    return blocks.reshape(*lead, c4 // 4, 2 * h, 2 * w)


def dwt2(x: torch.Tensor, levels: int = 1) -> torch.Tensor:
    """Haar DWT (Eq. 7): ``[..., C, H, W] -> [..., 4^levels * C, H / 2^levels, W / 2^levels]``.

    Band-major channel order ``[LL, LH, HL, HH]`` (see the module docstring). ``levels > 1`` splits all
    bands again (wavelet packet); H and W must be divisible by ``2**levels``.
    """
    if not isinstance(levels, int) or levels < 0:
        raise ValueError(f"levels must be a non-negative int, got {levels!r}.")
    for _ in range(levels):
        x = _dwt2_once(x)
    return x


def idwt2(y: torch.Tensor, levels: int = 1) -> torch.Tensor:
    """Inverse of :func:`dwt2` with the same ``levels``: exact up to floating-point rounding."""
    if not isinstance(levels, int) or levels < 0:
        raise ValueError(f"levels must be a non-negative int, got {levels!r}.")
    for _ in range(levels):
        y = _idwt2_once(y)
    return y


def split_bands(y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Split a one-level :func:`dwt2` output ``[..., 4C, h, w]`` into ``(LL [..., C], highs [..., 3C])``."""
    c4 = y.shape[-3]
    if c4 % 4:
        raise ValueError(f"split_bands needs a channel count divisible by 4, got {c4}.")
    return y[..., : c4 // 4, :, :], y[..., c4 // 4:, :, :]


def wavedec2(x: torch.Tensor, levels: int = 1) -> list:
    """Mallat pyramid, same structure as ``pywt.wavedec2(x, 'haar', level=levels)``:
    ``[LL_k, (LH_k, HL_k, HH_k), ..., (LH_1, HL_1, HH_1)]`` (coarsest first)."""
    if not isinstance(levels, int) or levels < 1:
        raise ValueError(f"levels must be a positive int, got {levels!r}.")
    details = []
    ll = x
    for _ in range(levels):
        y = _dwt2_once(ll)
        ll, lh, hl, hh = torch.chunk(y, 4, dim=-3)
        details.append((lh, hl, hh))
    return [ll] + details[::-1]


def waverec2(coeffs: list) -> torch.Tensor:
    """Inverse of :func:`wavedec2` (same structure as ``pywt.waverec2``)."""
    if not coeffs or not isinstance(coeffs, (list, tuple)):
        raise ValueError("waverec2 expects the list returned by wavedec2: [LL, (LH, HL, HH), ...].")
    ll = coeffs[0]
    for lh, hl, hh in coeffs[1:]:
        ll = _idwt2_once(torch.cat([ll, lh, hl, hh], dim=-3))
    return ll
