"""Patch DCT (Eq. 2): an orthonormal DCT-II applied to every non-overlapping p x p patch.

``u_0 = V^T I^HR`` in the paper. Each patch's p x p coefficients stay in the place of the patch, so the
frequency tensor has the same shape as the image and position ``(i, j)`` of the image holds in-patch
frequency ``(i mod p, j mod p)`` of its patch. Per patch the transform is ``C X C^T`` with ``C`` the
orthonormal DCT-II matrix; it is computed for all patches at once (any leading dimensions, any device,
differentiable), and its inverse ``C^T U C`` is exact because ``C`` is orthonormal.
"""

from __future__ import annotations

import functools
import math

import torch

__all__ = ["dct_matrix", "patch_dct", "patch_idct", "check_patch_shape"]


def dct_matrix(p: int, dtype: torch.dtype = torch.float64, device=None) -> torch.Tensor:
    """The orthonormal DCT-II matrix ``C`` of size p x p: ``C[k, n] = s_k cos(pi (n + 1/2) k / p)`` with
    ``s_0 = sqrt(1/p)`` and ``s_k = sqrt(2/p)`` for k > 0, so ``C @ C.T == I`` (the same transform as
    ``scipy.fft.dct(..., norm='ortho')``). Row k is the k-th cosine mode; built in float64, then cast."""
    if not isinstance(p, int) or p < 1:
        raise ValueError(f"patch size must be a positive int, got {p!r}.")
    n = torch.arange(p, dtype=torch.float64)
    k = n[:, None]
    c = torch.cos(math.pi * (n[None, :] + 0.5) * k / p) * math.sqrt(2.0 / p)
    c[0] = c[0] / math.sqrt(2.0)
    return c.to(dtype=dtype, device=device)


def check_patch_shape(x: torch.Tensor, p: int) -> None:
    """Raise a ValueError that says what to do if ``x``'s last two sizes are not multiples of ``p``."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"expected a torch.Tensor, got {type(x).__name__}.")
    if x.dim() < 2:
        raise ValueError(f"expected a tensor [..., H, W], got shape {tuple(x.shape)}.")
    h, w = x.shape[-2:]
    if h % p or w % p:
        raise ValueError(
            f"height and width must be multiples of the patch size p={p} for the patch DCT, got H={h}, W={w}. "
            f"Pad (e.g. torch.nn.functional.pad(x, (0, {(-w) % p}, 0, {(-h) % p}), mode='reflect')) "
            f"or crop the frames to H={h - h % p}, W={w - w % p} first."
        )


@functools.lru_cache(maxsize=32)
def _kron_dct(p: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """K = C (x) C, the 2-D DCT of a row-major flattened p x p patch as one p^2 x p^2 matrix (cached)."""
    c = dct_matrix(p)
    return torch.kron(c, c).to(dtype=dtype, device=device)


def _to_rows(x: torch.Tensor, p: int) -> torch.Tensor:
    """[..., H, W] -> [(... * H/p * W/p), p*p]: one row per patch, row-major inside the patch."""
    h, w = x.shape[-2:]
    return x.reshape(-1, h // p, p, w // p, p).permute(0, 1, 3, 2, 4).reshape(-1, p * p)


def _from_rows(rows: torch.Tensor, shape: torch.Size, p: int) -> torch.Tensor:
    """Inverse of :func:`_to_rows`."""
    h, w = shape[-2:]
    return rows.reshape(-1, h // p, w // p, p, p).permute(0, 1, 3, 2, 4).reshape(shape)


#: Up to this patch size the 2-D DCT of a patch is one (p^2 x p^2) matrix product of all patches at once;
#: above it (e.g. a whole-frame DCT, p = H) the separable form C X C^T is cheaper.
_KRON_MAX_P = 8


def _patches(x: torch.Tensor, p: int) -> torch.Tensor:
    """[..., H, W] -> [..., H/p, W/p, p, p] (a view)."""
    *lead, h, w = x.shape
    return x.reshape(*lead, h // p, p, w // p, p).transpose(-3, -2)


def _unpatches(x: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """[..., H/p, W/p, p, p] -> [..., H, W]."""
    return x.transpose(-3, -2).reshape(shape)


def patch_dct(x: torch.Tensor, p: int = 4) -> torch.Tensor:
    """Eq. 2: ``u = V^T x`` with ``V^T`` the orthonormal 2-D DCT-II of every p x p patch (in place).

    Per patch this is ``C X C^T``. For small patches it is computed as one matrix product of all patches
    (as rows) with ``(C kron C)^T``, much faster than many tiny p x p products."""
    check_patch_shape(x, p)
    if p <= _KRON_MAX_P:
        return _from_rows(_to_rows(x, p) @ _kron_dct(p, x.dtype, x.device).T, x.shape, p)
    c = dct_matrix(p, x.dtype, x.device)
    return _unpatches(c @ _patches(x, p) @ c.T, x.shape)


def patch_idct(u: torch.Tensor, p: int = 4) -> torch.Tensor:
    """Inverse of :func:`patch_dct`: ``x = V u`` (``C^T U C`` per patch; exact since V is orthonormal)."""
    check_patch_shape(u, p)
    if p <= _KRON_MAX_P:
        return _from_rows(_to_rows(u, p) @ _kron_dct(p, u.dtype, u.device), u.shape, p)
    c = dct_matrix(p, u.dtype, u.device)
    return _unpatches(c.T @ _patches(u, p) @ c, u.shape)
