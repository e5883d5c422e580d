"""Schedules: ResShift's eta (reference_facts §1.1 values), IHDM's blur tau, Lambda (all float64)."""

import math

import numpy as np
import pytest
import torch

from seeclear_lite.diffusion import BlurringResShift, blur_schedule, eta_schedule, heat_eigenvalues

# reference_facts.md §1.1, computed from ResShift's get_named_eta_schedule (T=15, kappa=2, p=0.3)
SQRT_ETA_REF = [0.0200, 0.1172, 0.1763, 0.2336, 0.2916, 0.3510, 0.4124, 0.4759, 0.5417, 0.6099, 0.6807,
                0.7540, 0.8300, 0.9086, 0.9900]
ETA_REF = [0.0004, 0.0137, 0.0311, 0.0546, 0.0850, 0.1232, 0.1700, 0.2264, 0.2934, 0.3720, 0.4633,
           0.5685, 0.6888, 0.8256, 0.9801]


def resshift_exponential(T, kappa, power, min_noise_level, etas_end):
    """ResShift's formula written out independently, in numpy."""
    sqrt_eta_1 = min(min_noise_level / kappa, min_noise_level)
    increaser = math.exp(1 / (T - 1) * math.log(etas_end / sqrt_eta_1))
    base = np.ones(T) * increaser
    power_timestep = np.linspace(0, 1, T, endpoint=True) ** power * (T - 1)
    return (np.power(base, power_timestep) * sqrt_eta_1) ** 2


def test_eta_matches_reference_values_to_4_decimals():
    eta = eta_schedule(15, 2.0, 0.3)
    assert eta.dtype == torch.float64 and eta.shape == (15,)
    assert np.abs(eta.sqrt().numpy() - SQRT_ETA_REF).max() < 5e-5
    assert np.abs(eta.numpy() - ETA_REF).max() < 5e-5


@pytest.mark.parametrize("T,kappa,power,mn", [(15, 2.0, 0.3, 0.04), (4, 2.0, 0.3, 0.2), (10, 1.0, 0.5, 0.04)])
def test_eta_equals_resshift_formula(T, kappa, power, mn):
    eta = eta_schedule(T, kappa, power, mn, 0.99).numpy()
    assert np.abs(eta - resshift_exponential(T, kappa, power, mn, 0.99)).max() < 1e-15
    assert np.all(np.diff(eta) > 0)


def test_eta_T4_reference():
    assert np.abs(eta_schedule(4, 2.0, 0.3, 0.2).sqrt().numpy() - [0.100, 0.520, 0.761, 0.990]).max() < 5e-4


def test_class_schedules_and_alpha():
    d = BlurringResShift(T=15, kappa=2.0, power=0.3, patch_size=4, sigma_b2_max=2.0)
    assert d.eta.dtype == d.tau.dtype == d.lam.dtype == torch.float64
    # every table is indexed by the paper's step t, index 0 = the clean state
    assert d.eta.shape == d.alpha.shape == d.tau.shape == (16,) and d.lam.shape == (4, 4)
    assert float(d.eta[0]) == float(d.alpha[0]) == float(d.tau[0]) == 0.0
    assert abs(float(d.eta[1]) - 0.0004) < 1e-15 and abs(float(d.eta[15]) - 0.9801) < 1e-15
    assert torch.equal(d.eta[1:], eta_schedule(15, 2.0, 0.3))
    assert torch.allclose(d.alpha[1:], d.eta[1:] - d.eta[:-1], atol=0, rtol=0)


def test_blur_schedule_is_ihdm_log_spaced():
    tau = blur_schedule(15, 2.0)
    assert tau.dtype == torch.float64 and tau.shape == (16,) and tau[0] == 0
    sigma = (2 * tau[1:]).sqrt()
    assert abs(float(sigma[0]) - 0.5) < 1e-15 and abs(float(sigma[-1]) - math.sqrt(2)) < 1e-14
    ratios = sigma[1:] / sigma[:-1]                    # log-spaced = constant ratio
    assert float(ratios.max() - ratios.min()) < 1e-14
    assert abs(float(tau[1]) - 0.125) < 1e-15 and abs(float(tau[-1]) - 1.0) < 1e-14
    assert torch.equal(blur_schedule(15, 0.0), torch.zeros(16, dtype=torch.float64))
    assert abs(float(blur_schedule(15, 3.0)[-1]) - 1.5) < 1e-14


def test_lambda_and_attenuation_table():
    lam = heat_eigenvalues(4)
    assert abs(float(lam[1, 2]) + math.pi ** 2 * 5 / 16) < 1e-14 and lam[0, 0] == 0
    assert torch.equal(lam, lam.T)
    # reference_facts §1.2 attenuation table exp(Lambda tau) at p = 4, sigma_B^2 = 2 (tau = 1)
    att = torch.exp(lam * 1.0)
    assert np.abs(att[0].numpy() - [1.000, 0.540, 0.085, 0.004]).max() < 5e-4
    assert np.abs(att[1].numpy() - [0.540, 0.291, 0.046, 0.002]).max() < 5e-4


def test_bad_schedule_arguments():
    with pytest.raises(ValueError, match="T must be an int >= 2"):
        eta_schedule(1)
    with pytest.raises(ValueError, match="kappa must be > 0"):
        eta_schedule(15, 0.0)
    with pytest.raises(ValueError, match="sigma_b2_max = 0.1 is below"):
        blur_schedule(15, 0.1)
    with pytest.raises(ValueError, match="must be >= 0"):
        BlurringResShift(sigma_b2_max=-1.0)
    with pytest.raises(ValueError, match="patch_size must be a positive int"):
        BlurringResShift(patch_size=0)
