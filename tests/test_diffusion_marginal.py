"""Forward marginal (Eqs. 3-4, 25, 29): u_t = (1 - eta_t) D_t u_0 + eta_t u_l + kappa sqrt(eta_t) eps."""

import math

import numpy as np
import pytest
import scipy.fft
import torch

from seeclear_lite.diffusion import BlurringResShift


def frames(shape, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(*shape, generator=g, dtype=torch.float64) * 2 - 1


def test_q_sample_without_noise_is_eq25_mean_computed_with_scipy():
    d = BlurringResShift()
    x0, y = frames((2, 3, 8, 8), 0), frames((2, 3, 8, 8), 1)
    for t in (1, 6, 15):
        got = d.q_sample(x0, y, t, noise=torch.zeros_like(x0)).numpy()
        eta, tau = float(d.eta[t]), float(d.tau[t])
        lam = d.lam.numpy()
        ref = np.empty_like(got)
        for i in range(0, 8, 4):
            for j in range(0, 8, 4):
                sl = (..., slice(i, i + 4), slice(j, j + 4))
                u0 = scipy.fft.dctn(x0.numpy()[sl], norm="ortho", axes=(-2, -1))
                ul = scipy.fft.dctn(y.numpy()[sl], norm="ortho", axes=(-2, -1))
                ut = (1 - eta) * np.exp(lam * tau) * u0 + eta * ul               # Eq. 25 (Eq. 29's mean)
                ref[sl] = scipy.fft.idctn(ut, norm="ortho", axes=(-2, -1))
        assert np.abs(got - ref).max() < 1e-13


def test_q_sample_noise_scale_and_per_sample_t():
    d = BlurringResShift()
    x0, y = frames((3, 2, 2, 4, 4), 2), frames((3, 2, 2, 4, 4), 3)     # [B, N, C, H, W]
    noise = frames((3, 2, 2, 4, 4), 4)
    t = torch.tensor([1, 9, 15])
    got = d.q_sample(x0, y, t, noise=noise)
    for i in range(3):
        ti = int(t[i])
        mean = d.q_sample(x0[i:i + 1], y[i:i + 1], ti, noise=torch.zeros_like(x0[i:i + 1]))
        ref = mean + 2.0 * math.sqrt(float(d.eta[ti])) * noise[i:i + 1]
        assert (got[i:i + 1] - ref).abs().max() < 1e-14


def test_marginal_by_monte_carlo():
    """n = 40,000 draws of one 4x4 patch at t = 3, 10, 15: the frequency-domain mean is m_t (within 5 standard
    errors) and the covariance is kappa^2 eta_t I (diagonal within 5 standard errors, off-diagonal ~ 0)."""
    d = BlurringResShift()
    n = 40_000
    g = torch.Generator().manual_seed(0)
    x0, y = frames((1, 1, 4, 4), 5), frames((1, 1, 4, 4), 6)
    for t in (3, 10, 15):
        noise = torch.randn(n, 1, 4, 4, generator=g, dtype=torch.float64)
        u = d.to_freq(d.q_sample(x0.expand(n, -1, -1, -1), y.expand(n, -1, -1, -1), t, noise=noise))
        u = u.reshape(n, 16).numpy()
        m_ref = d.marginal_mean(d.to_freq(x0), d.to_freq(y), t).reshape(16).numpy()
        var = 4.0 * float(d.eta[t])
        se_mean = math.sqrt(var / n)
        assert np.abs(u.mean(0) - m_ref).max() < 5 * se_mean
        cov = np.cov(u, rowvar=False)
        assert np.abs(np.diag(cov) / var - 1).max() < 5 * math.sqrt(2 / n)
        assert np.abs(cov - np.diag(np.diag(cov))).max() / var < 5 / math.sqrt(n)


def test_marginal_end_points():
    d = BlurringResShift()
    u0, ul = frames((1, 3, 8, 8), 7), frames((1, 3, 8, 8), 8)
    assert (d.marginal_mean(u0, ul, 0) - u0).abs().max() == 0            # m_0 = u_0 (eta_0 = 0, tau_0 = 0)
    m_T = d.marginal_mean(u0, ul, 15)                  # 1 - eta_T = 1 - 0.99^2 = 1.99% of the residual remains
    assert ((m_T - ul) - 0.0199 * (d.decay(15, u0) * u0 - ul)).abs().max() < 1e-14


def test_q_sample_bad_input():
    d = BlurringResShift()
    x = torch.zeros(1, 3, 8, 8)
    with pytest.raises(ValueError, match=r"t must lie in 1..15"):
        d.q_sample(x, x, 0)
    with pytest.raises(ValueError, match="same shape"):
        d.q_sample(x, torch.zeros(1, 3, 8, 4), 1)
    with pytest.raises(ValueError, match=r"\[B, C, H, W\] or \[B, N, C, H, W\]"):
        d.q_sample(x[0], x[0], 1)
    with pytest.raises(ValueError, match="multiples of the patch size"):
        d.q_sample(torch.zeros(1, 3, 9, 8), torch.zeros(1, 3, 9, 8), 1)
    with pytest.raises(TypeError, match="floating-point"):
        d.q_sample(x.to(torch.uint8), x.to(torch.uint8), 1)
    with pytest.raises(TypeError, match="int or an integer LongTensor"):
        d.q_sample(x, x, 1.5)
