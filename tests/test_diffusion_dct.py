"""Patch DCT (Eq. 2): orthonormal, exact inverse, equal to scipy's per-patch DCT-II, in-place layout."""

import numpy as np
import pytest
import scipy.fft
import torch

from seeclear_lite.diffusion import BlurringResShift, dct_matrix, patch_dct, patch_idct


@pytest.mark.parametrize("p", [1, 2, 4, 8])
def test_dct_matrix_is_orthonormal_and_equals_scipy(p):
    c = dct_matrix(p).numpy()
    assert np.abs(c @ c.T - np.eye(p)).max() < 1e-14
    # scipy's orthonormal DCT-II applied to the unit vectors gives the same matrix (columns = transforms)
    assert np.abs(c - scipy.fft.dct(np.eye(p), norm="ortho", axis=0)).max() < 1e-14


def test_patch_dct_matches_scipy_dctn_on_every_patch():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 8, 12, generator=g, dtype=torch.float64)
    u = patch_dct(x, 4).numpy()
    xn = x.numpy()
    for i in range(0, 8, 4):
        for j in range(0, 12, 4):
            ref = scipy.fft.dctn(xn[..., i:i + 4, j:j + 4], norm="ortho", axes=(-2, -1))
            assert np.abs(u[..., i:i + 4, j:j + 4] - ref).max() < 1e-13


@pytest.mark.parametrize("shape", [(2, 3, 8, 8), (1, 5, 3, 16, 12), (4, 4)])
def test_inverse_is_exact_and_norm_is_kept(shape):
    x = torch.randn(*shape, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    u = patch_dct(x, 4)
    assert u.shape == x.shape
    assert (patch_idct(u, 4) - x).abs().max() < 1e-14
    assert abs(float(u.norm() - x.norm())) < 1e-12          # Parseval: V is orthonormal


def test_layout_constant_image_has_only_dc_per_patch():
    x = torch.full((1, 1, 8, 8), 0.5, dtype=torch.float64)
    u = patch_dct(x, 4)
    dc = u[..., ::4, ::4]
    assert torch.allclose(dc, torch.full_like(dc, 0.5 * 4), atol=1e-14)   # DC = p * mean
    u[..., ::4, ::4] = 0
    assert u.abs().max() < 1e-14


def test_float32_and_autograd():
    x = torch.randn(1, 2, 4, 8, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda v: patch_dct(v, 4), (x,))
    x32 = torch.randn(1, 2, 4, 8)
    u32 = patch_dct(x32, 4)
    assert u32.dtype == torch.float32
    assert (patch_idct(u32, 4) - x32).abs().max() < 1e-5


def test_class_methods_are_the_patch_dct():
    d = BlurringResShift(patch_size=4)
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64)
    assert torch.equal(d.to_freq(x), patch_dct(x, 4))
    assert torch.equal(d.from_freq(x), patch_idct(x, 4))


def test_bad_shapes_raise_clear_errors():
    with pytest.raises(ValueError, match="multiples of the patch size p=4.*[Pp]ad.*crop"):
        patch_dct(torch.zeros(1, 3, 10, 8), 4)
    with pytest.raises(ValueError, match="multiples of the patch size"):
        BlurringResShift().to_freq(torch.zeros(1, 3, 8, 6))
    with pytest.raises(TypeError, match="torch.Tensor"):
        patch_dct(np.zeros((4, 4)), 4)
    with pytest.raises(ValueError, match="positive int"):
        dct_matrix(0)


@pytest.mark.parametrize("p", [2, 8, 16])
def test_small_and_large_patch_paths_agree_with_scipy(p):
    """Patches up to 8 use one Kronecker matrix product, larger ones (e.g. a whole-frame DCT) C X C^T."""
    x = torch.randn(2, 2 * p, 3 * p, dtype=torch.float64, generator=torch.Generator().manual_seed(p))
    u = patch_dct(x, p).numpy()
    ref = scipy.fft.dctn(x.numpy()[:, :p, p:2 * p], norm="ortho", axes=(-2, -1))
    assert np.abs(u[:, :p, p:2 * p] - ref).max() < 1e-12
    assert (patch_idct(patch_dct(x, p), p) - x).abs().max() < 1e-13
