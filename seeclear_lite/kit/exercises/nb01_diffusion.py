"""Exercises of notebook 01 (patch blurring): the DCT-II matrix (Eq. 2), Lambda and the blur schedule.

Each check compares the student's function with ``seeclear_lite.diffusion`` in float64 and, when the
answer is wrong, first tries the usual mistakes (computed on the same inputs) and names the one that
matches; otherwise it reports the largest error and where it is.
"""

from __future__ import annotations

import math

import torch

from ...diffusion import BlurringResShift, blur_schedule, dct_matrix, heat_eigenvalues
from .core import (ExerciseError, as_float64, call, compare, diagnose, exercise, fresh_generator, passed, planted,
                   reference)

__all__ = ["check_dct_matrix", "check_heat_schedule", "check_patch_blur"]


# --------------------------------------------------------------------------------- 1.1 DCT-II matrix
def _dct_variants(p: int) -> list:
    """Typical wrong DCT-II matrices for size p, each with the explanation the student sees."""
    n = torch.arange(p, dtype=torch.float64)
    k = n[:, None]
    cos = torch.cos(math.pi * (n[None, :] + 0.5) * k / p)
    right = dct_matrix(p)
    row0 = torch.ones(p, 1, dtype=torch.float64)
    row0[0] = math.sqrt(0.5)                                       # s_0 / s_k
    no_row0 = cos * math.sqrt(2.0 / p)
    out = [
        (cos, "the cosines are not normalised: multiply row k by s_k = sqrt(2/p) (and row 0 by sqrt(1/p))."),
        (no_row0, "row 0 (the constant mode) must be scaled by sqrt(1/p), not sqrt(2/p); "
                  "otherwise C C^T != I."),
        (right.T, "your matrix is transposed: row k must be the k-th cosine mode, "
                  "C[k, n] = s_k cos(pi (n + 1/2) k / p)."),
        (math.sqrt(2.0 / p) * torch.cos(math.pi * n[None, :] * k / p) * row0,
         "the cosines are sampled at n instead of the pixel centres n + 1/2: use cos(pi (n + 1/2) k / p)."),
        (math.sqrt(2.0 / p) * torch.cos(math.pi * (2 * n[None, :] + 1) * k / p) * row0,
         "you used (2n + 1) k pi / p instead of (2n + 1) k pi / (2p): the angle is twice too large."),
        (right / math.sqrt(p), "every row has an extra factor 1/sqrt(p); the scalings are s_0 = sqrt(1/p), "
                               "s_k = sqrt(2/p)."),
    ]
    return [(w, m) for w, m in out if not torch.allclose(w, right, atol=1e-9)]


@exercise("1.1", "the DCT-II matrix", notebook="01_patch_blurring", minutes=10)
def check_dct_matrix(fn) -> None:
    """Checks ``fn(p) -> [p, p]`` float64, the orthonormal DCT-II matrix (rows = cosine modes),
    against ``seeclear_lite.diffusion.dct_matrix`` for p = 1, 2, 3, 4, 5, 8."""
    worst = 0.0
    for p in (4, 3, 2, 8, 5, 1):
        got = as_float64("1.1", call("1.1", fn, p), f"dct_matrix({p})")
        want = dct_matrix(p)
        diagnose("1.1", got, f"the matrix for p = {p}", _dct_variants(p), atol=1e-9)
        if tuple(got.shape) == (p, p):
            orth = (got @ got.T - torch.eye(p, dtype=torch.float64)).abs().max().item()
            hint = (f"it is not orthonormal (max |C C^T - I| = {orth:.2g})" if orth > 1e-9 else
                    "it is orthonormal but not the DCT-II: C[k, n] = s_k cos(pi (n + 1/2) k / p), "
                    "s_0 = sqrt(1/p), s_k = sqrt(2/p)")
        else:
            hint = ""
        worst = max(worst, compare("1.1", got, want, f"the matrix for p = {p}", atol=1e-12, hint=hint))
    passed("1.1", f"p = 1, 2, 3, 4, 5, 8; orthonormal; max error {worst:.1g}")


@reference("1.1")
def _dct_reference(p):
    return dct_matrix(p)


@planted("1.1", "row 0 scaled by sqrt(2/p)", expect="row 0 (the constant mode)")
def _dct_row0(p):
    n = torch.arange(p, dtype=torch.float64)
    return torch.cos(math.pi * (n[None, :] + 0.5) * n[:, None] / p) * math.sqrt(2.0 / p)


@planted("1.1", "angle (2n+1) k pi / p", expect="(2n + 1) k pi / (2p)")
def _dct_angle(p):
    n = torch.arange(p, dtype=torch.float64)
    c = torch.cos(math.pi * (2 * n[None, :] + 1) * n[:, None] / p) * math.sqrt(2.0 / p)
    c[0] /= math.sqrt(2.0)
    return c


@planted("1.1", "transposed", expect="transposed")
def _dct_transposed(p):
    return dct_matrix(p).T


@planted("1.1", "float32", expect="float64")
def _dct_float32(p):
    return dct_matrix(p, dtype=torch.float32)


# ------------------------------------------------------------------- 1.2 Lambda and the blur schedule
def _schedule_variants(p: int, T: int, s2: float) -> list:
    """Typical wrong (Lambda, tau) answers, as (wrong Lambda or None, wrong tau or None, explanation)."""
    k = torch.arange(p, dtype=torch.float64)
    lam = heat_eigenvalues(p)
    tau = blur_schedule(T, s2)
    out = [
        (-lam, None, "Lambda has the wrong sign: heat flow damps every mode, "
                     "Lambda = -pi^2 (k_x^2 + k_y^2) / p^2 <= 0."),
        (lam / math.pi ** 2, None, "Lambda is missing the factor pi^2: Lambda = -pi^2 (k_x^2 + k_y^2) / p^2."),
        (lam * p, None, "Lambda is divided by p instead of p^2: Lambda = -pi^2 (k_x^2 + k_y^2) / p^2."),
        (-math.pi ** 2 * (k[:, None] + k[None, :]) ** 2 / p ** 2, None,
         "Lambda uses (k_x + k_y)^2; the eigenvalue of cos(pi k_x x/p) cos(pi k_y y/p) is "
         "-pi^2 (k_x^2 + k_y^2) / p^2."),
        (-math.pi ** 2 * (k[:, None] ** 2 + k[None, :] ** 2) / (2 * p) ** 2, None,
         "Lambda uses (2p)^2 in the denominator; on a patch of side p the modes are cos(pi k x / p), "
         "so Lambda = -pi^2 (k_x^2 + k_y^2) / p^2."),
    ]
    if s2 > 0:
        sigma = torch.exp(torch.linspace(math.log(0.5), 0.5 * math.log(s2), T, dtype=torch.float64))
        lin = torch.linspace(0.5, math.sqrt(s2), T, dtype=torch.float64)
        sig_var = torch.exp(torch.linspace(math.log(0.5), math.log(s2), T, dtype=torch.float64))
        z = torch.zeros(1, dtype=torch.float64)
        out += [
            (None, torch.cat([z, sigma ** 2]), "tau_t = sigma_t^2 is twice too large: a heat flow for time tau is a "
                                               "Gaussian blur of variance 2 tau, so tau_t = sigma_t^2 / 2."),
            (None, torch.cat([z, sigma / 2]), "tau_t = sigma_t / 2: square sigma first, tau_t = sigma_t^2 / 2."),
            (None, torch.cat([z, lin ** 2 / 2]), "sigma_t is spaced linearly; IHDM spaces it logarithmically: "
                                                 "sigma = exp(linspace(log 0.5, log sigma_B,max, T))."),
            (None, torch.cat([z, sig_var ** 2 / 2]), "the last sigma is sigma_B,max^2 instead of sigma_B,max: "
                                                     "sigma_b2_max is the *variance*, so end at sqrt(sigma_b2_max)."),
            (None, sigma ** 2 / 2, "tau has T entries; it needs T + 1 with tau[0] = tau_0 = 0 (no blur at t = 0)."),
            (None, torch.arange(T + 1, dtype=torch.float64),
             "tau_t = t is the paper's literal e^{Lambda t}; the kit reads it with IHDM's schedule, "
             "tau_t = sigma_t^2 / 2 (see the markdown above)."),
        ]
    out = [(a, b, m) for a, b, m in out
           if (a is None or not torch.allclose(a, lam, atol=1e-9)) and (b is None or b.shape != tau.shape
                                                                     or not torch.allclose(b, tau, atol=1e-9))]
    return out


@exercise("1.2", "Lambda and the blur schedule", notebook="01_patch_blurring", minutes=15)
def check_heat_schedule(fn) -> None:
    """Checks ``fn(p, T, sigma_b2_max) -> (lam [p, p], tau [T + 1])`` (float64) against
    ``seeclear_lite.diffusion.heat_eigenvalues`` and ``blur_schedule`` on random p, T and sigma_B,max^2,
    including sigma_b2_max = 0 (no blur)."""
    g = fresh_generator()
    cases = [(4, 15, 2.0)]
    for _ in range(3):
        cases.append((int(torch.randint(2, 9, (1,), generator=g)), int(torch.randint(3, 25, (1,), generator=g)),
                      round(0.5 + 3.5 * torch.rand(1, generator=g, dtype=torch.float64).item(), 3)))
    cases.append((int(torch.randint(2, 9, (1,), generator=g)), 10, 0.0))
    worst = 0.0
    for p, T, s2 in cases:
        out = call("1.2", fn, p, T, s2)
        if not isinstance(out, (tuple, list)) or len(out) != 2:
            raise ExerciseError(f"Exercise 1.2: return a pair (lam, tau); got {type(out).__name__}"
                                f"{' of length ' + str(len(out)) if isinstance(out, (tuple, list)) else ''}.")
        lam, tau = out
        lam = as_float64("1.2", lam, f"lam (p = {p})")
        tau = as_float64("1.2", tau, f"tau (T = {T}, sigma_b2_max = {s2})")
        for wl, wt, why in _schedule_variants(p, T, s2):
            if wl is not None:
                diagnose("1.2", lam, f"lam for p = {p}", [(wl, why)], atol=1e-9)
            if wt is not None:
                diagnose("1.2", tau, f"tau for T = {T}, sigma_b2_max = {s2}", [(wt, why)], atol=1e-9)
        worst = max(worst, compare("1.2", lam, heat_eigenvalues(p), f"lam for p = {p}", atol=1e-12,
                                   hint="Lambda[k_x, k_y] = -pi^2 (k_x^2 + k_y^2) / p^2."))
        hint = ("sigma_b2_max = 0 means no blur: tau is all zeros (Table 4's sigma_B^2 = 0 ablation)." if s2 == 0 else
                "tau[0] = 0, tau[t] = sigma_t^2 / 2 with sigma log-spaced from 0.5 to sqrt(sigma_b2_max) "
                "over t = 1..T.")
        worst = max(worst, compare("1.2", tau, blur_schedule(T, s2), f"tau for T = {T}, sigma_b2_max = {s2}",
                                   atol=1e-12, hint=hint))
    passed("1.2", f"{len(cases)} random (p, T, sigma_b2_max) incl. no blur; max error {worst:.1g}")


@reference("1.2")
def _schedule_reference(p, T, sigma_b2_max):
    return heat_eigenvalues(p), blur_schedule(T, sigma_b2_max)


@planted("1.2", "tau = sigma^2", expect="twice too large")
def _schedule_no_half(p, T, sigma_b2_max):
    return heat_eigenvalues(p), 2 * blur_schedule(T, sigma_b2_max)


@planted("1.2", "Lambda positive", expect="wrong sign")
def _schedule_sign(p, T, sigma_b2_max):
    return -heat_eigenvalues(p), blur_schedule(T, sigma_b2_max)


@planted("1.2", "no tau_0", expect="T + 1")
def _schedule_no_tau0(p, T, sigma_b2_max):
    return heat_eigenvalues(p), blur_schedule(T, sigma_b2_max)[1:]


@planted("1.2", "linear sigma", expect="linearly")
def _schedule_linear(p, T, sigma_b2_max):
    sigma = torch.linspace(0.5, math.sqrt(sigma_b2_max), T, dtype=torch.float64)
    return heat_eigenvalues(p), torch.cat([torch.zeros(1, dtype=torch.float64), sigma ** 2 / 2])


@planted("1.2", "no-blur case crashes", expect="raised")
def _schedule_log0(p, T, sigma_b2_max):
    sigma = torch.exp(torch.linspace(math.log(0.5), 0.5 * math.log(sigma_b2_max), T, dtype=torch.float64))
    return heat_eigenvalues(p), torch.cat([torch.zeros(1, dtype=torch.float64), sigma ** 2 / 2])


# ----------------------------------------------------------------------------- 1.3 the patch blur D_t x
def _blur_with(x: torch.Tensor, tau: float, p: int, *, c: torch.Tensor | None = None, sign: float = 1.0,
               back: bool = True) -> torch.Tensor:
    """V exp(sign Lambda tau) V^T x per p x p patch with DCT matrix ``c`` (default the DCT-II); ``back=False``
    stops after scaling the coefficients (no inverse transform)."""
    c = dct_matrix(p) if c is None else c
    *lead, h, w = x.shape
    blocks = x.reshape(*lead, h // p, p, w // p, p).transpose(-3, -2)
    u = c @ blocks @ c.T * torch.exp(sign * heat_eigenvalues(p) * tau)
    out = c.T @ u @ c if back else u
    return out.transpose(-3, -2).reshape(x.shape)


def _global_blur(x: torch.Tensor, tau: float, p: int) -> torch.Tensor:
    """The heat flow on the whole frame (IHDM's global blur) with the patch's rate -pi^2 k^2 / p^2 per mode."""
    h, w = x.shape[-2:]
    ch, cw = dct_matrix(h), dct_matrix(w)
    kh, kw = torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64)
    decay = torch.exp(-math.pi ** 2 * (kh[:, None] ** 2 / h ** 2 + kw[None, :] ** 2 / w ** 2) * tau)
    return ch.T @ (ch @ x @ cw.T * decay) @ cw


def _blur_variants(x: torch.Tensor, tau: float, p: int) -> list:
    h, w = x.shape[-2:]
    return [
        (_blur_with(x, tau, p, sign=-1.0), "you used exp(-Lambda tau): Lambda is already <= 0, so that amplifies the "
                                           "high frequencies (sharpens) instead of damping them."),
        (_blur_with(x, tau, p, back=False), "you returned the DCT coefficients D_t V^T x; transform back to pixels "
                                            "with the inverse C^T U C of every patch."),
        (_blur_with(x, tau, p, c=dct_matrix(p).T), "the DCT is transposed: the forward patch transform is C X C^T "
                                                   "(rows of C = cosine modes) and the inverse C^T U C."),
        (torch.exp(heat_eigenvalues(p) * tau).repeat(h // p, w // p) * x,
         "you multiplied the pixels by exp(Lambda tau); the decay acts on the DCT coefficients: "
         "x -> V exp(Lambda tau) V^T x (patch DCT, scale, inverse patch DCT)."),
        (_global_blur(x, tau, p), "you blurred the whole frame with one DCT (IHDM's global blur); SeeClear blurs "
                                  "inside every p x p patch separately (Eq. 2's V is the patch DCT)."),
        (_blur_with(x, tau ** 2, p), "you used exp(Lambda tau^2); the blur time enters linearly: exp(Lambda tau)."),
    ]


@exercise("1.3", "the patch blur D_t x", notebook="01_patch_blurring", minutes=15)
def check_patch_blur(fn) -> None:
    """Checks ``fn(x [..., H, W], tau, p) -> V exp(Lambda tau) V^T x`` (Eqs. 1, 2, 22: the heat flow for time tau
    inside every p x p patch, in pixels) against ``BlurringResShift.blur`` on random frames, steps and p."""
    g = fresh_generator()
    worst = 0.0
    leads = [(2, 3), (3,), (1, 2, 1), (2, 1)]
    for i, p in enumerate((4, 2, 4, 3)):
        d = BlurringResShift(T=15, patch_size=p, sigma_b2_max=round(1.0 + 2.0 * torch.rand(1, generator=g).item(), 3))
        t = int(torch.randint(2, 16, (1,), generator=g))
        h, w = p * int(torch.randint(2, 4, (1,), generator=g)), p * int(torch.randint(2, 5, (1,), generator=g))
        x = torch.randn(*leads[i], h, w, generator=g, dtype=torch.float64)
        tau = float(d.tau[t])
        got = call("1.3", fn, x.clone(), tau, p)
        want = d.blur(x, t)
        what = f"D x for x of shape {tuple(x.shape)}, p = {p}, tau = {tau:.4g}"
        if isinstance(got, torch.Tensor) and got.shape == want.shape and \
                not torch.allclose(got.to(torch.float64), want, atol=1e-10, rtol=0):
            diagnose("1.3", got, what, [v for v in _blur_variants(x, tau, p)
                                        if not torch.allclose(v[0], want, atol=1e-9, rtol=0)], atol=1e-9)
        worst = max(worst, compare("1.3", got, want, what, atol=1e-10,
                                   hint="per patch X: C^T (exp(Lambda tau) * (C X C^T)) C, elementwise product."))
    passed("1.3", f"4 random frames (p = 4, 2, 4, 3; several shapes and steps); max error {worst:.1g}")


@reference("1.3")
def _blur_reference(x, tau, p):
    return _blur_with(x, tau, p)


@planted("1.3", "exp(-Lambda tau)", expect="sharpens")
def _blur_sign(x, tau, p):
    return _blur_with(x, tau, p, sign=-1.0)


@planted("1.3", "no inverse DCT", expect="DCT coefficients")
def _blur_no_inverse(x, tau, p):
    return _blur_with(x, tau, p, back=False)


@planted("1.3", "global instead of patch DCT", expect="inside every p x p patch")
def _blur_global(x, tau, p):
    return _global_blur(x, tau, p)


@planted("1.3", "decay on pixels", expect="decay acts on the DCT coefficients")
def _blur_pixels(x, tau, p):
    return torch.exp(heat_eigenvalues(p) * tau).repeat(x.shape[-2] // p, x.shape[-1] // p) * x
