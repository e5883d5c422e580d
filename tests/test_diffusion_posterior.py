"""Reverse step (Eqs. 30-36): "paper" = exact conditioning of Eq. 31 with Eq. 32; "consistent" = the
posterior whose chain keeps Eq. 29 at every t (ResShift's at sigma_B = 0)."""

import math

import numpy as np
import pytest
import torch

from seeclear_lite.diffusion import BlurringResShift

SHAPE = (2, 3, 8, 8)


def rand(seed, shape=SHAPE):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def sched(d, t):
    """eta_t, eta_{t-1}, alpha_t, D_t, D_{t-1} (per frequency, [8, 8]) as float64."""
    eta = d.eta
    lam = d.lam.repeat(2, 2)
    return (float(eta[t]), float(eta[t - 1]), float(eta[t] - eta[t - 1]),
            torch.exp(lam * d.tau[t]), torch.exp(lam * d.tau[t - 1]))


@pytest.mark.parametrize("sigma_b2_max", [0.0, 2.0, 3.0])
def test_paper_form_is_exact_gaussian_conditioning_of_eq31_and_eq32(sigma_b2_max):
    """Per frequency, build the joint of (u_{t-1}, u_t) from Eq. 32 (prior) and Eq. 31 (transition) as a
    2x2 covariance and condition on u_t; compare with posterior(form="paper") to 1e-10."""
    d = BlurringResShift(sigma_b2_max=sigma_b2_max)
    u_t, u_0, u_l = rand(1), rand(2), rand(3)
    k2 = d.kappa ** 2
    for t in range(2, 16):
        eta_t, eta_s, alpha_t, D_t, D_s = sched(d, t)
        lam = (1 - eta_t) / (1 - eta_s) * D_t / D_s                  # Eq. 36, e^Lambda := D_t / D_{t-1}
        a = (1 - eta_s) * D_s * u_0 + eta_s * u_l                      # Eq. 32 mean
        s2 = k2 * eta_s                                                # Eq. 32 variance
        b = lam * a - lam * eta_s * u_l + eta_t * u_l                  # E[u_t] under Eq. 31
        c11, c12, c22 = s2, lam * s2, lam ** 2 * s2 + k2 * alpha_t    # joint covariance
        mean_ref = a + c12 / c22 * (u_t - b)
        var_ref = c11 - c12 ** 2 / c22
        mean, var = d.posterior(u_t, u_0, u_l, t, form="paper")
        assert (mean - mean_ref).abs().max() < 1e-10
        assert (var.expand_as(mean) - var_ref.expand_as(mean)).abs().max() < 1e-10


def test_eq34_as_printed_has_a_sign_error():
    """The printed u_l coefficient (... - alpha_t eta_{t-1}) differs from exact conditioning; '+' matches."""
    d = BlurringResShift()
    u_t, u_0, u_l = rand(4), rand(5), rand(6)
    t = 8
    eta_t, eta_s, alpha_t, D_t, D_s = sched(d, t)
    lam = (1 - eta_t) / (1 - eta_s) * D_t / D_s
    den = lam ** 2 * eta_s + alpha_t

    def eq34(sign):
        return (lam * eta_s * u_t + alpha_t * (1 - eta_s) * D_s * u_0
                + (lam ** 2 * eta_s ** 2 - lam * eta_s * eta_t + sign * alpha_t * eta_s) * u_l) / den

    mean, _ = d.posterior(u_t, u_0, u_l, t, form="paper")
    assert (mean - eq34(+1)).abs().max() < 1e-12
    assert (mean - eq34(-1)).abs().max() > 0.05


def test_paper_posterior_by_monte_carlo():
    """n = 200,000 joint draws (u_{t-1} from Eq. 32, u_t from Eq. 31) of one patch at t = 6: the residual
    r = u_{t-1} - mean(u_t) has mean 0, variance var and is uncorrelated with u_t (5 standard errors)."""
    d = BlurringResShift()
    n, t = 200_000, 6
    g = torch.Generator().manual_seed(0)
    u_0, u_l = rand(7, (1, 1, 4, 4)), rand(8, (1, 1, 4, 4))
    eta_t, eta_s, alpha_t, D_t, D_s = sched(d, t)
    D_t, D_s = D_t[:4, :4], D_s[:4, :4]
    lam = (1 - eta_t) / (1 - eta_s) * D_t / D_s
    u_s = (1 - eta_s) * D_s * u_0 + eta_s * u_l + 2 * math.sqrt(eta_s) * torch.randn(n, 1, 4, 4, generator=g,
                                                                                        dtype=torch.float64)
    u_t = lam * (u_s - eta_s * u_l) + eta_t * u_l + 2 * math.sqrt(alpha_t) * torch.randn(
        n, 1, 4, 4, generator=g, dtype=torch.float64)
    mean, var = d.posterior(u_t, u_0.expand(n, -1, -1, -1), u_l.expand(n, -1, -1, -1), t, form="paper")
    r = (u_s - mean).reshape(n, 16).numpy()
    v = var.expand(1, 1, 4, 4).reshape(16).numpy()
    assert np.abs(r.mean(0) / np.sqrt(v / n)).max() < 5
    assert np.abs(r.var(0) / v - 1).max() < 5 * math.sqrt(2 / n)
    ut = u_t.reshape(n, 16).numpy()
    corr = ((r - r.mean(0)) * (ut - ut.mean(0))).mean(0) / (r.std(0) * ut.std(0))
    assert np.abs(corr).max() < 5 / math.sqrt(n)


def test_consistent_form_is_resshift_with_blurred_means():
    d = BlurringResShift()
    u_t, u_0, u_l = rand(9), rand(10), rand(11)
    for t in range(2, 16):
        eta_t, eta_s, alpha_t, D_t, D_s = sched(d, t)
        m_t = (1 - eta_t) * D_t * u_0 + eta_t * u_l
        m_s = (1 - eta_s) * D_s * u_0 + eta_s * u_l
        mean, var = d.posterior(u_t, u_0, u_l, t, form="consistent")
        assert (mean - (m_s + eta_s / eta_t * (u_t - m_t))).abs().max() < 1e-13
        assert abs(float(var) - 4.0 * eta_s * alpha_t / eta_t) < 1e-15


def test_consistent_form_reduces_exactly_to_resshift_without_blur():
    d = BlurringResShift(sigma_b2_max=0.0)
    u_t, u_0, u_l = rand(12), rand(13), rand(14)
    paper_gap = []
    for t in range(2, 16):
        eta_t, eta_s, alpha_t, _, _ = sched(d, t)
        mean, var = d.posterior(u_t, u_0, u_l, t, form="consistent")
        resshift = eta_s / eta_t * u_t + alpha_t / eta_t * u_0           # ResShift q_posterior_mean_variance
        assert (mean - resshift).abs().max() < 1e-14
        assert abs(float(var) - 4.0 * eta_s * alpha_t / eta_t) < 1e-15
        mean_p, var_p = d.posterior(u_t, u_0, u_l, t, form="paper")
        paper_gap.append(float(var_p.max()) / float(var))
    # finding 3: the paper form does not reduce to ResShift (its lam = (1-eta_t)/(1-eta_{t-1}) < 1 even
    # without blur); its posterior variance is up to ~6x ResShift's (measured 5.93 at t = 15)
    assert max(paper_gap) > 2.0 and min(paper_gap) >= 1.0


def propagate(d, form, u_0, u_l):
    """Push Eq. 29 at t = T through the reverse chain analytically (mean and variance per frequency)."""
    mean, var = d.marginal_mean(u_0, u_l, d.T), torch.full_like(u_0, 4.0 * float(d.eta[-1]))
    out = {d.T: (mean, var)}
    for t in range(d.T, 1, -1):
        c_t, c_0, c_l, v = (c.expand_as(u_0) for c in d.posterior_coefficients(t, form, *u_0.shape[-2:]))
        mean, var = c_t * mean + c_0 * u_0 + c_l * u_l, c_t ** 2 * var + v
        out[t - 1] = (mean, var)
    return out


def test_consistent_chain_keeps_eq29_at_every_t():
    d = BlurringResShift()
    u_0, u_l = rand(15, (8, 8)), rand(16, (8, 8))
    for t, (mean, var) in propagate(d, "consistent", u_0, u_l).items():
        assert (mean - d.marginal_mean(u_0, u_l, t)).abs().max() < 1e-12
        assert (var - 4.0 * float(d.eta[t])).abs().max() < 1e-12
    # forward transition u_t = u_{t-1} + m_t - m_{t-1} + kappa sqrt(alpha_t) eps from u_0: means telescope to
    # m_t and variances add up to kappa^2 sum(alpha) = kappa^2 eta_t
    assert abs(float(d.alpha.cumsum(0)[-1] - d.eta[-1])) < 1e-15


def test_paper_chain_does_not_keep_eq29():
    """Finding 2: Eq. 31 does not reproduce the marginal Eq. 29. Its means telescope correctly, but its
    variance is kappa^2 (lambda_t^2 eta_{t-1} + alpha_t) < kappa^2 eta_t, so a reverse chain started at Eq. 29 and
    driven by the true u_0 drifts away from Eq. 29 (measured: up to 9.4x the variance at t = 7)."""
    d = BlurringResShift()
    u_0, u_l = rand(17, (8, 8)), rand(18, (8, 8))
    ratios = []
    for t, (mean, var) in propagate(d, "paper", u_0, u_l).items():
        assert (mean - d.marginal_mean(u_0, u_l, t)).abs().max() < 1e-12          # the means are fine
        ratios.append(float((var / (4.0 * float(d.eta[t]))).max()))
    assert max(ratios) > 5.0
    eta_t, eta_s, alpha_t, D_t, D_s = sched(d, 15)
    lambda_t = (1 - eta_t) / (1 - eta_s) * D_t / D_s
    assert float(((lambda_t ** 2 * eta_s + alpha_t) / eta_t).max()) < 0.2                 # measured 0.169 at t = T


def test_consistent_chain_by_monte_carlo():
    """n = 20,000 chains of one patch from u_T ~ Eq. 29 with the true u_0: at t = 10, 5, 1 the sample
    mean/variance per frequency match Eq. 29 (5 standard errors)."""
    d = BlurringResShift()
    n = 20_000
    g = torch.Generator().manual_seed(1)
    u_0, u_l = rand(19, (1, 1, 4, 4)).expand(n, 1, 4, 4), rand(20, (1, 1, 4, 4)).expand(n, 1, 4, 4)
    u = d.marginal_mean(u_0, u_l, 15) + 2 * math.sqrt(float(d.eta[-1])) * torch.randn(
        n, 1, 4, 4, generator=g, dtype=torch.float64)
    for t in range(15, 1, -1):
        mean, var = d.posterior(u, u_0, u_l, t, form="consistent")
        u = mean + var.sqrt() * torch.randn(n, 1, 4, 4, generator=g, dtype=torch.float64)
        if t - 1 in (10, 5, 1):
            v = 4.0 * float(d.eta[t - 1])
            m = d.marginal_mean(u_0[:1], u_l[:1], t - 1)
            assert float(((u.mean(0) - m[0]).abs() / math.sqrt(v / n)).max()) < 5
            assert float((u.var(0) / v - 1).abs().max()) < 5 * math.sqrt(2 / n)


def test_posterior_shapes_dtypes_and_batched_t():
    d = BlurringResShift()
    u_t, u_0, u_l = rand(21), rand(22), rand(23)
    t = torch.tensor([3, 14])
    for form in ("paper", "consistent"):
        mean, var = d.posterior(u_t, u_0, u_l, t, form=form)
        assert mean.shape == u_t.shape and torch.broadcast_shapes(var.shape, mean.shape) == mean.shape
        for i in range(2):
            m_i, v_i = d.posterior(u_t[i:i + 1], u_0[i:i + 1], u_l[i:i + 1], int(t[i]), form=form)
            assert (mean[i:i + 1] - m_i).abs().max() < 1e-14
            assert (var[i:i + 1].expand_as(m_i) - v_i.expand_as(m_i)).abs().max() < 1e-15
        m32, v32 = d.posterior(u_t.float(), u_0.float(), u_l.float(), t, form=form)
        assert m32.dtype == v32.dtype == torch.float32 and (m32.double() - mean).abs().max() < 1e-5
    video = rand(24, (2, 5, 3, 8, 8))
    mean, var = d.posterior(video, video, video, t, form="paper")
    assert mean.shape == video.shape and var.shape == (2, 1, 1, 8, 8)


def test_posterior_bad_input():
    d = BlurringResShift()
    u = rand(25)
    with pytest.raises(ValueError, match=r"t must lie in 2..15"):
        d.posterior(u, u, u, 1)
    with pytest.raises(ValueError, match="form must be one of"):
        d.posterior(u, u, u, 3, form="ddpm")
    with pytest.raises(ValueError, match="same shape"):
        d.posterior(u, u[:1], u, 3)


@pytest.mark.parametrize("sigma_b2_max", [0.0, 2.0])
def test_repaired_form_is_exact_conditioning_of_eq31_with_its_noise_repaired(sigma_b2_max):
    """The third form: Eq. 31's lambda_t kept, fresh noise kappa^2 beta_t with beta_t = eta_t - lambda_t^2 eta_{t-1}.
    Per frequency, condition the 2x2 joint of (u_{t-1} ~ Eq. 29, u_t) on u_t; compare to 1e-10. The transition
    keeps Eq. 29 in the forward direction too: E and Var of u_t are Eq. 29's at t."""
    d = BlurringResShift(sigma_b2_max=sigma_b2_max)
    u_t, u_0, u_l = rand(21), rand(22), rand(23)
    k2 = d.kappa ** 2
    for t in range(2, 16):
        eta_t, eta_s, alpha_t, D_t, D_s = sched(d, t)
        lambda_t = (1 - eta_t) / (1 - eta_s) * D_t / D_s
        beta_t = eta_t - lambda_t ** 2 * eta_s
        assert float(beta_t.min()) >= alpha_t                                 # lambda_t < 1: more fresh noise
        a, s2 = (1 - eta_s) * D_s * u_0 + eta_s * u_l, k2 * eta_s            # u_{t-1} ~ Eq. 29
        b = lambda_t * (a - eta_s * u_l) + eta_t * u_l                       # E[u_t]
        c22 = lambda_t ** 2 * s2 + k2 * beta_t                               # Var[u_t]
        assert (b - d.marginal_mean(u_0, u_l, t)).abs().max() < 1e-12
        assert (c22 - k2 * eta_t).abs().max() < 1e-12
        mean_ref, var_ref = a + lambda_t * s2 / c22 * (u_t - b), s2 - (lambda_t * s2) ** 2 / c22
        mean, var = d.posterior(u_t, u_0, u_l, t, form="repaired")
        assert (mean - mean_ref).abs().max() < 1e-10
        assert (var.expand_as(mean) - var_ref).abs().max() < 1e-10


def test_repaired_chain_keeps_eq29_and_differs_from_consistent():
    """Like the consistent chain, the repaired one lands on Eq. 29 at every t (training fixes only the
    marginals); the two are different reverse steps, even without blur (lambda_t < 1)."""
    for s2 in (0.0, 2.0):
        d = BlurringResShift(sigma_b2_max=s2)
        u_0, u_l = rand(24, (8, 8)), rand(25, (8, 8))
        for t, (mean, var) in propagate(d, "repaired", u_0, u_l).items():
            assert (mean - d.marginal_mean(u_0, u_l, t)).abs().max() < 1e-12
            assert (var - 4.0 * float(d.eta[t])).abs().max() < 1e-12
        c_rep = d.posterior_coefficients(8, "repaired")[0]
        c_con = d.posterior_coefficients(8, "consistent")[0]
        assert float((c_rep - c_con).abs().max()) > 0.01
