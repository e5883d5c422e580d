"""Schedules of Blurring ResShift, all in float64.

- :func:`eta_schedule`: ResShift's shifting sequence eta_t (its code's ``get_named_eta_schedule``,
  ``'exponential'`` case), used in Eqs. 3, 25, 29 and 31-36, and alpha_t = eta_t - eta_{t-1}.
- :func:`blur_schedule`: the blur "time" tau_t of D_t = exp(Lambda tau_t) (Eqs. 1, 22), after IHDM:
  sigma_t log-spaced from sigma_min = 0.5 to sigma_B,max over t = 1..T, tau_t = sigma_t^2 / 2, tau_0 = 0.
- :func:`heat_eigenvalues`: Lambda(x, y) = -pi^2 (x^2 + y^2) / p^2, the in-patch eigenvalues of the
  Neumann Laplacian in the DCT basis (Sec. 3.1, App. A).

The paper writes D_t = e^{Lambda t} with the integer step t; with the IHDM schedule it says it follows
(and Table 4's sigma_B^2 <= 3) that has to be read as e^{Lambda tau_t} (reference_facts §1.4 item 5).
"""

from __future__ import annotations

import math

import torch

__all__ = ["eta_schedule", "blur_schedule", "heat_eigenvalues"]


def eta_schedule(T: int = 15, kappa: float = 2.0, power: float = 0.3, min_noise_level: float = 0.04,
                 etas_end: float = 0.99) -> torch.Tensor:
    """ResShift's exponential shifting schedule, float64 tensor ``[T]`` with ``eta[t-1] = eta_t``.

    In sqrt-space: sqrt(eta_1) = min(min_noise_level / kappa, min_noise_level), sqrt(eta_T) = etas_end,
    sqrt(eta_t) = sqrt(eta_1) * b ** (((t-1)/(T-1)) ** power * (T-1)) with b chosen so that the last value
    is etas_end. T=15, kappa=2, power=0.3 gives eta = [0.0004, 0.0137, ..., 0.9801].
    """
    if not isinstance(T, int) or T < 2:
        raise ValueError(f"T must be an int >= 2 (number of diffusion steps), got {T!r}.")
    if kappa <= 0:
        raise ValueError(f"kappa must be > 0 (noise scale), got {kappa!r}.")
    if power <= 0:
        raise ValueError(f"power must be > 0, got {power!r}.")
    sqrt_eta_1 = min(min_noise_level / kappa, min_noise_level)
    if not 0 < sqrt_eta_1 < etas_end < 1:
        raise ValueError(
            f"need 0 < sqrt(eta_1) = {sqrt_eta_1} < etas_end = {etas_end} < 1: choose min_noise_level > 0 "
            f"and etas_end (sqrt(eta_T)) in (sqrt(eta_1), 1)."
        )
    b = math.exp(math.log(etas_end / sqrt_eta_1) / (T - 1))
    steps = torch.linspace(0.0, 1.0, T, dtype=torch.float64) ** power * (T - 1)
    return (sqrt_eta_1 * b ** steps) ** 2


def blur_schedule(T: int = 15, sigma_b2_max: float = 2.0, sigma_min: float = 0.5) -> torch.Tensor:
    """Blur times, float64 tensor ``[T+1]`` with ``tau[t] = tau_t`` and ``tau[0] = 0`` (no blur at t = 0).

    IHDM's schedule: sigma_t = exp(linspace(log sigma_min, log sigma_B,max, T)) for t = 1..T and
    tau_t = sigma_t^2 / 2 (a Gaussian blur of variance 2 tau_t = sigma_t^2, App. A). ``sigma_b2_max`` is
    sigma_B,max^2 (Table 4: 0, 2 or 3; the full model uses 2). ``sigma_b2_max = 0`` means no blur at all
    (tau = 0 everywhere), which turns Blurring ResShift into plain ResShift.
    """
    if not isinstance(T, int) or T < 1:
        raise ValueError(f"T must be a positive int, got {T!r}.")
    tau = torch.zeros(T + 1, dtype=torch.float64)
    if sigma_b2_max == 0:
        return tau
    if sigma_b2_max < sigma_min ** 2:
        raise ValueError(
            f"sigma_b2_max = {sigma_b2_max} is below sigma_min^2 = {sigma_min ** 2}: the IHDM schedule grows "
            f"log-spaced from sigma_min = {sigma_min} to sqrt(sigma_b2_max). Use sigma_b2_max = 0 for no blur "
            f"or a value >= {sigma_min ** 2} (the paper uses 2)."
        )
    sigma = torch.exp(torch.linspace(math.log(sigma_min), 0.5 * math.log(sigma_b2_max), T, dtype=torch.float64))
    tau[1:] = sigma ** 2 / 2
    return tau


def heat_eigenvalues(p: int = 4) -> torch.Tensor:
    """Lambda, float64 ``[p, p]``: Lambda[x, y] = -pi^2 (x^2 + y^2) / p^2 (Sec. 3.1; IHDM's
    ``frequencies_squared`` with N = p). Mode (x, y) of a patch decays as exp(Lambda[x, y] tau)."""
    if not isinstance(p, int) or p < 1:
        raise ValueError(f"patch size must be a positive int, got {p!r}.")
    k = torch.arange(p, dtype=torch.float64)
    return 0.0 - math.pi ** 2 * (k[:, None] ** 2 + k[None, :] ** 2) / p ** 2   # 0.0 - : no -0.0 at (0, 0)
