"""Patch blur D_t = exp(Lambda tau_t) (Eqs. 1, 21-22): the Neumann heat equation inside each patch."""

import math

import numpy as np
import pytest
import scipy.linalg
import torch

from seeclear_lite.diffusion import BlurringResShift, dct_matrix

P = 4


def neumann_second_difference(n):
    """The discrete Laplacian on n cells with reflecting (zero-flux, Neumann) boundaries."""
    L = -2 * np.eye(n) + np.eye(n, k=1) + np.eye(n, k=-1)
    L[0, 0] = L[-1, -1] = -1
    return L


def spectral_laplacian_2d(p):
    """L = V diag(Lambda) V^T on one p x p patch (row-major vectorised), the generator of the patch blur."""
    c = dct_matrix(p).numpy()
    V = np.kron(c, c).T                                  # columns = 2-D DCT basis images
    lam = (-(math.pi ** 2) * (np.arange(p)[:, None] ** 2 + np.arange(p)[None, :] ** 2) / p ** 2).ravel()
    return V @ np.diag(lam) @ V.T


def test_blur_at_t0_is_identity_and_int_equals_tensor_t():
    d = BlurringResShift()
    x = torch.randn(3, 2, 8, 8, dtype=torch.float64)
    assert (d.blur(x, 0) - x).abs().max() < 1e-14
    t = torch.tensor([1, 7, 15])
    per_t = torch.stack([d.blur(x[i:i + 1], int(t[i]))[0] for i in range(3)])
    assert (d.blur(x, t) - per_t).abs().max() < 1e-14


def test_generator_is_a_symmetric_nsd_laplacian_that_kills_constants():
    L = spectral_laplacian_2d(P)
    assert np.abs(L - L.T).max() < 1e-13
    assert np.abs(L @ np.ones(P * P)).max() < 1e-13         # constants do not diffuse (zero flux)
    ev = np.linalg.eigvalsh(L)
    assert ev.max() < 1e-12 and abs(ev.max()) < 1e-12       # NSD with a single zero mode
    assert (np.abs(ev) < 1e-12).sum() == 1


@pytest.mark.parametrize("t", [1, 8, 15])
def test_blur_equals_matrix_exponential_of_the_generator(t):
    d = BlurringResShift(sigma_b2_max=3.0)
    x = torch.randn(1, 1, P, P, dtype=torch.float64, generator=torch.Generator().manual_seed(t))
    ref = scipy.linalg.expm(float(d.tau[t]) * spectral_laplacian_2d(P)) @ x.numpy().ravel()
    assert np.abs(d.blur(x, t).numpy().ravel() - ref).max() < 1e-12


def test_each_cosine_mode_decays_at_rate_pi2_k2_over_p2():
    d = BlurringResShift(sigma_b2_max=2.0)
    c = dct_matrix(P)
    for kx in range(P):
        for ky in range(P):
            mode = torch.outer(c[kx], c[ky])[None, None]    # pixel-domain cosine mode (kx, ky)
            out = d.blur(mode, 15)                          # tau_15 = sigma_B^2 / 2 = 1
            rate = math.pi ** 2 * (kx ** 2 + ky ** 2) / P ** 2
            assert (out - math.exp(-rate * 1.0) * mode).abs().max() < 1e-14


def test_dct_basis_diagonalises_the_discrete_neumann_laplacian():
    """The DCT-II vectors are the Neumann eigenvectors; Lambda is the continuous limit of their eigenvalues."""
    c = dct_matrix(P).numpy()
    D = c @ neumann_second_difference(P) @ c.T
    k = np.arange(P)
    assert np.abs(D - np.diag(np.diag(D))).max() < 1e-13
    assert np.abs(np.diag(D) + 4 * np.sin(math.pi * k / (2 * P)) ** 2).max() < 1e-13


def test_blur_equals_continuous_neumann_heat_solution_on_a_fine_grid():
    """Solve u_t = Laplace(u) on the patch [0, p]^2 with zero-flux walls by finite differences on a grid
    33x finer (no DCT involved), sample at the pixel centres and compare with the patch blur."""
    d = BlurringResShift(sigma_b2_max=2.0)
    m = 33                                                   # fine cells per pixel (odd: a centre at n + 1/2)
    n_f = P * m
    h = 1.0 / m
    xf = (np.arange(n_f) + 0.5) * h                          # fine cell centres in [0, p]
    rng = np.random.default_rng(0)
    a = rng.normal(size=(P, P))
    f = sum(a[i, j] * np.outer(np.cos(math.pi * i * xf / P), np.cos(math.pi * j * xf / P))
            for i in range(P) for j in range(P))             # a band-limited initial state
    tau = float(d.tau[15])
    E = scipy.linalg.expm(tau * neumann_second_difference(n_f) / h ** 2)
    fine = E @ f @ E.T                                       # separable 2-D heat flow
    centres = np.arange(P) * m + m // 2
    x0 = torch.from_numpy(f[np.ix_(centres, centres)].copy())[None, None]
    got = d.blur(x0, 15)[0, 0].numpy()
    err = np.abs(got - fine[np.ix_(centres, centres)]).max()
    assert err < 3e-4, err      # measured 8.6e-5: O(h^2) error of the fine grid (7.8e-4 at 11x, 9.5e-6 at 99x)


def test_blur_keeps_patch_means_and_ends_at_the_patch_mean():
    x = torch.randn(2, 3, 8, 12, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    patch_mean = torch.nn.functional.avg_pool2d(x.flatten(0, 1), P).reshape(2, 3, 2, 3)
    patch_mean = patch_mean.repeat_interleave(P, -2).repeat_interleave(P, -1)
    d = BlurringResShift(sigma_b2_max=2.0)
    for t in (1, 8, 15):
        b = d.blur(x, t)
        m = torch.nn.functional.avg_pool2d(b.flatten(0, 1), P).reshape(2, 3, 2, 3)
        assert (m.repeat_interleave(P, -2).repeat_interleave(P, -1) - patch_mean).abs().max() < 1e-14
    far = BlurringResShift(sigma_b2_max=1e4)                 # tau_T = 5000: every non-DC mode is gone
    assert (far.blur(x, 15) - patch_mean).abs().max() < 1e-12
    assert (d.blur(x, 15) - patch_mean).abs().max() > 0.05   # at sigma_B^2 = 2 the patch is not flat yet


def test_patches_do_not_talk_to_each_other():
    d = BlurringResShift()
    x = torch.zeros(1, 1, 8, 8, dtype=torch.float64)
    x[..., 1, 2] = 1.0                                       # a spike in the top-left patch
    b = d.blur(x, 15)
    assert b[..., :4, :4].abs().sum() > 0.99 and b[..., 4:, :].abs().max() == 0 and b[..., :, 4:].abs().max() == 0


def test_no_blur_when_sigma_b2_max_is_zero():
    d = BlurringResShift(sigma_b2_max=0.0)
    x = torch.randn(1, 3, 8, 8, dtype=torch.float64)
    assert (d.blur(x, 15) - x).abs().max() < 1e-14


def test_blur_bad_t():
    d = BlurringResShift()
    x = torch.zeros(2, 1, 4, 4)
    with pytest.raises(ValueError, match=r"t must lie in 0..15"):
        d.blur(x, 16)
    with pytest.raises(TypeError, match="integer steps"):
        d.blur(x, torch.tensor([1.0, 2.0]))
    with pytest.raises(ValueError, match="one step per sample"):
        d.blur(x, torch.tensor([1, 2, 3]))
    with pytest.raises(ValueError, match="per-sample t"):
        d.blur(x[0, 0], torch.tensor([1, 2, 3, 4]))
