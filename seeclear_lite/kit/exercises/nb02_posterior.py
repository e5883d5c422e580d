"""Exercises of notebook 02 (Blurring ResShift): the forward marginal sample (Eqs. 25, 29), Eq. 34 derived by
completing the square, the paper's posterior (Eqs. 34-36, with Eq. 34's sign corrected) and the ``"consistent"``
posterior, each checked against ``seeclear_lite.diffusion.BlurringResShift``.

The numeric exercises take the schedules as the package stores them (float64, indexed by the paper's step t):
``eta`` [T+1] with ``eta[t] = eta_t`` (``eta[0] = 0``), ``tau`` [T+1] with ``tau[t] = tau_t`` (``tau[0] = 0``),
``lam`` [p, p] = Lambda, and frequency-domain tensors ``[..., H, W]`` (H, W multiples of p; in-patch frequency
(i mod p, j mod p)).
"""

from __future__ import annotations

import math

import torch

from ...diffusion import BlurringResShift
from .core import ExerciseError, call, compare, diagnose, exercise, fresh_generator, passed, planted, reference

__all__ = ["check_marginal_sample", "check_complete_square", "check_posterior_paper", "check_posterior"]


def _decay(lam: torch.Tensor, tau_t, h: int, w: int) -> torch.Tensor:
    """D_t = exp(Lambda tau_t) tiled over an H x W frequency tensor."""
    p = lam.shape[-1]
    return torch.exp(lam * tau_t).repeat(h // p, w // p)


def _cases(g: torch.Generator, t_lo: int, n: int = 4):
    """Random problems: (BlurringResShift, t, {name: tensor}); several shapes incl. [B, N, C, H, W]."""
    shapes = [(2, 3), (1, 2, 3), (3, 1), (2, 2, 1)]
    out = []
    for i in range(n):
        T = int(torch.randint(5, 21, (1,), generator=g))
        kappa = round(0.5 + 2.5 * torch.rand(1, generator=g, dtype=torch.float64).item(), 3)
        s2 = 0.0 if i == n - 1 else round(0.5 + 2.5 * torch.rand(1, generator=g, dtype=torch.float64).item(), 3)
        p = (4, 2, 4, 2)[i % 4]
        d = BlurringResShift(T=T, kappa=kappa, power=0.3, patch_size=p, sigma_b2_max=s2)
        t = int(torch.randint(t_lo, T + 1, (1,), generator=g))      # t_lo..T
        h, w = p * int(torch.randint(2, 4, (1,), generator=g)), p * int(torch.randint(2, 5, (1,), generator=g))
        shape = (*shapes[i % 4], h, w)
        tensors = {k: torch.randn(shape, generator=g, dtype=torch.float64) for k in ("u_t", "u_0", "u_l", "noise")}
        out.append((d, t, tensors))
    return out


def _describe(d: BlurringResShift, t: int, x: torch.Tensor) -> str:
    return (f"T = {d.T}, kappa = {d.kappa}, sigma_b2_max = {d.sigma_b2_max}, p = {d.patch_size}, t = {t}, "
            f"shape {tuple(x.shape)}")


# ------------------------------------------------------------------ 2.1 the forward marginal sample
def _marginal_variants(d, t, u_0, u_l, noise):
    e, k = d.eta[t], d.kappa
    h, w = u_0.shape[-2:]
    dt = _decay(d.lam, d.tau[t], h, w)
    right = (1 - e) * dt * u_0 + e * u_l
    std = k * e.sqrt()
    return [
        (right + k * e * noise, "the noise is scaled by kappa * eta_t; its standard deviation is kappa * sqrt(eta_t) "
                                "(the variance of Eq. 29 is kappa^2 eta_t)."),
        (right + k ** 2 * e * noise, "the noise is scaled by the variance kappa^2 eta_t; scale it by the standard "
                                     "deviation kappa * sqrt(eta_t)."),
        (right + e.sqrt() * noise, "the noise is missing the factor kappa: its std is kappa * sqrt(eta_t)."),
        ((1 - e) * u_0 + e * u_l + std * noise, "u_0 is not blurred: Eq. 25 has (1 - eta_t) D_t u_0 with "
                                                "D_t = exp(Lambda tau_t) per frequency."),
        (dt * ((1 - e) * u_0 + e * u_l) + std * noise, "D_t also multiplies u_l; only u_0 is blurred: "
                                                       "m_t = (1 - eta_t) D_t u_0 + eta_t u_l."),
        (dt * u_0 + e * u_l + std * noise, "the factor (1 - eta_t) on D_t u_0 is missing."),
        ((1 - e) * _decay(d.lam, -d.tau[t], h, w) * u_0 + e * u_l + std * noise,
         "you used exp(-Lambda tau_t): Lambda is already <= 0, so that sharpens instead of blurring."),
        ((1 - d.eta[t - 1]) * dt * u_0 + d.eta[t - 1] * u_l + k * d.eta[t - 1].sqrt() * noise,
         "eta_t is eta[t] (eta[0] = eta_0 = 0, like tau); you used eta[t - 1] = eta_{t-1}."),
        ((1 - e) * _decay(d.lam, d.tau[t - 1], h, w) * u_0 + e * u_l + std * noise,
         "tau_t is tau[t] (tau[0] = tau_0 = 0); you used tau[t - 1] = tau_{t-1}."),
    ]


@exercise("2.1", "the forward marginal sample", notebook="02_blurring_resshift_posterior", minutes=10)
def check_marginal_sample(fn) -> None:
    """Checks ``fn(u_0, u_l, noise, t, eta, tau, lam, kappa) -> u_t`` (Eqs. 25, 29, frequency domain:
    u_t = (1 - eta_t) D_t u_0 + eta_t u_l + kappa sqrt(eta_t) noise) against
    ``BlurringResShift.marginal_mean`` + ``marginal_std`` on random schedules, steps and shapes."""
    worst = 0.0
    for d, t, x in _cases(fresh_generator(), 1):
        u_0, u_l, noise = x["u_0"], x["u_l"], x["noise"]
        got = call("2.1", fn, u_0, u_l, noise, t, d.eta.clone(), d.tau.clone(), d.lam.clone(), d.kappa)
        want = d.marginal_mean(u_0, u_l, t) + d.marginal_std(t, u_0) * noise
        what = f"u_t ({_describe(d, t, u_0)})"
        if isinstance(got, torch.Tensor) and not (tuple(got.shape) == tuple(want.shape)
                                                  and torch.allclose(got.to(want.dtype), want, atol=1e-10, rtol=0)):
            diagnose("2.1", got, what, [v for v in _marginal_variants(d, t, u_0, u_l, noise)
                                        if not torch.allclose(v[0], want, atol=1e-9, rtol=0)], atol=1e-9)
        worst = max(worst, compare("2.1", got, want, what, atol=1e-10,
                                   hint="u_t = (1 - eta_t) D_t u_0 + eta_t u_l + kappa sqrt(eta_t) noise, "
                                        "D_t = exp(lam * tau[t]) repeated over the H/p x W/p patches, "
                                        "eta_t = eta[t]."))
    passed("2.1", f"4 random schedules/steps/shapes incl. no blur and [B, N, C, H, W]; max error {worst:.1g}")


@reference("2.1")
def _marginal_reference(u_0, u_l, noise, t, eta, tau, lam, kappa):
    e = eta[t]
    return (1 - e) * _decay(lam, tau[t], *u_0.shape[-2:]) * u_0 + e * u_l + kappa * e.sqrt() * noise


@planted("2.1", "std kappa * eta_t", expect="kappa * sqrt(eta_t)")
def _marginal_std(u_0, u_l, noise, t, eta, tau, lam, kappa):
    e = eta[t]
    return (1 - e) * _decay(lam, tau[t], *u_0.shape[-2:]) * u_0 + e * u_l + kappa * e * noise


@planted("2.1", "u_0 not blurred", expect="u_0 is not blurred")
def _marginal_noblur(u_0, u_l, noise, t, eta, tau, lam, kappa):
    e = eta[t]
    return (1 - e) * u_0 + e * u_l + kappa * e.sqrt() * noise


@planted("2.1", "eta off by one", expect="you used eta[t - 1]")
def _marginal_index(u_0, u_l, noise, t, eta, tau, lam, kappa):
    e = eta[t - 1]
    return (1 - e) * _decay(lam, tau[t], *u_0.shape[-2:]) * u_0 + e * u_l + kappa * e.sqrt() * noise


@planted("2.1", "Lambda not tiled", expect="raised")
def _marginal_untiled(u_0, u_l, noise, t, eta, tau, lam, kappa):
    e = eta[t]
    return (1 - e) * torch.exp(lam * tau[t]) * u_0 + e * u_l + kappa * e.sqrt() * noise


# ------------------------------------------------------------ 2.2 Eq. 34 by completing the square
def _square(log_density, x, *, sign=-1, factor=2, precision=False):
    """(mean, variance) from log p = a x^2 + b x + c, with switches that build the typical wrong answers."""
    import sympy as sp   # the notebooks extra; imported where used so that the kit imports without it

    poly = sp.Poly(sp.expand(log_density), x)
    a, b = poly.coeff_monomial(x ** 2), poly.coeff_monomial(x)
    mean = sign * b / (2 * a)
    var = -factor * a if precision else -1 / (factor * a)
    return mean, var


def _eq31_eq32_case():
    """The paper's log joint (Eqs. 31-32) in symbols, and its numbers at one frequency of a real schedule."""
    import sympy as sp

    x, u_t, u_0, u_l = sp.symbols("u_{t-1} u_t u_0 u_l", real=True)
    lam_t, eta_t, eta_s, kappa, d_s = sp.symbols("lambda_t eta_t eta_{t-1} kappa d_{t-1}", positive=True)
    alpha_t = eta_t - eta_s
    log_joint = (-(u_t - lam_t * (x - eta_s * u_l) - eta_t * u_l) ** 2 / (2 * kappa ** 2 * alpha_t)      # Eq. 31
                 - (x - (1 - eta_s) * d_s * u_0 - eta_s * u_l) ** 2 / (2 * kappa ** 2 * eta_s))           # Eq. 32
    d, t, (i, j) = BlurringResShift(), 8, (1, 2)
    decay = torch.exp(d.lam[i, j] * d.tau)
    values = {eta_t: float(d.eta[t]), eta_s: float(d.eta[t - 1]), kappa: d.kappa, d_s: float(decay[t - 1]),
              lam_t: float((1 - d.eta[t]) / (1 - d.eta[t - 1]) * decay[t] / decay[t - 1])}
    want = [float(c[i, j]) for c in d.posterior_coefficients(t, "paper")]          # c_t, c_0, c_l, var
    return log_joint, x, (u_t, u_0, u_l), values, want


@exercise("2.2", "Eq. 34 by completing the square", notebook="02_blurring_resshift_posterior", minutes=15)
def check_complete_square(fn) -> None:
    """Checks ``fn(log_density, x) -> (mean, variance)``: ``log_density`` is a sympy expression quadratic in the
    symbol ``x`` (a Gaussian log-density up to a constant); the answer must hold for textbook cases and, on the
    paper's Eqs. 31-32, equal ``BlurringResShift.posterior_coefficients(t, "paper")`` (which has Eq. 34's sign
    fixed)."""
    import sympy as sp

    x, m, a, b = sp.symbols("x m a b", real=True)
    s2, w2, v = sp.symbols("s2 w2 v", positive=True)
    cases = [(-(x - m) ** 2 / (2 * v), (m, v), "log N(x; m, v) = -(x - m)^2 / (2 v)"),
             (-(x - a) ** 2 / (2 * s2) - (b - 3 * x) ** 2 / (2 * w2),
              ((a * w2 + 3 * b * s2) / (w2 + 9 * s2), s2 * w2 / (w2 + 9 * s2)),
              "prior N(a, s2) times the likelihood N(b; 3x, w2)")]
    for expr, (want_mean, want_var), what in cases:
        out = call("2.2", fn, expr, x)
        if not isinstance(out, (tuple, list)) or len(out) != 2:
            raise ExerciseError(f"Exercise 2.2: return a pair (mean, variance); got {type(out).__name__}.")
        got_mean, got_var = (sp.sympify(o) for o in out)
        if sp.simplify(got_mean - want_mean) == 0 and sp.simplify(got_var - want_var) == 0:
            continue
        bad_mean, _ = _square(expr, x, sign=1)
        _, bad_var = _square(expr, x, factor=1)
        _, precision = _square(expr, x, precision=True)
        if sp.simplify(got_mean - bad_mean) == 0:
            raise ExerciseError(f"Exercise 2.2 ({what}): the mean has the wrong sign. Write log p = a x^2 + b x + c; "
                                f"then a = -1/(2 var) and b = mean/var, so mean = -b / (2a).")
        if sp.simplify(got_var - bad_var) == 0:
            raise ExerciseError(f"Exercise 2.2 ({what}): the variance is off by a factor 2: a = -1/(2 var), so "
                                f"var = -1 / (2a).")
        if sp.simplify(got_var - precision) == 0:
            raise ExerciseError(f"Exercise 2.2 ({what}): you returned the precision -2a; the variance is its inverse.")
        raise ExerciseError(f"Exercise 2.2 ({what}): got mean {got_mean}, variance {got_var}; expected {want_mean} "
                            f"and {want_var}. Hint: collect log p as a x^2 + b x + c (sympy.Poly(expand(.), x)).")
    log_joint, x, (u_t, u_0, u_l), values, want = _eq31_eq32_case()
    mean, var = (sp.sympify(o) for o in call("2.2", fn, log_joint, x))
    got = [float(sp.diff(mean, u).subs(values)) for u in (u_t, u_0, u_l)] + [float(var.subs(values))]
    if not all(math.isclose(g, w_, rel_tol=1e-9, abs_tol=1e-12) for g, w_ in zip(got, want)):
        raise ExerciseError(f"Exercise 2.2 (Eqs. 31-32 at t = 8): coefficients of u_t, u_0, u_l and variance "
                            f"{[f'{g:.6g}' for g in got]}, the package has {[f'{w_:.6g}' for w_ in want]}.")
    passed("2.2", "two textbook Gaussians exactly (sympy), and Eqs. 31-32: your coefficients of u_t, u_0, u_l and "
                  "the variance equal the package's paper posterior at t = 8")


@reference("2.2")
def _square_reference(log_density, x):
    return _square(log_density, x)


@planted("2.2", "mean sign flipped", expect="wrong sign")
def _square_sign(log_density, x):
    return _square(log_density, x, sign=1)


@planted("2.2", "variance without the 2", expect="factor 2")
def _square_factor(log_density, x):
    return _square(log_density, x, factor=1)


@planted("2.2", "precision for variance", expect="precision")
def _square_precision(log_density, x):
    return _square(log_density, x, precision=True)


# ------------------------------------------------------------ 2.3 the paper's posterior (Eqs. 34-36)
def _paper(u_t, u_0, u_l, t, eta, tau, lam, kappa, *, sign=1.0, lam_rate=None, eta_ratio=True, d_prev=True,
           var_power=2):
    """Eqs. 34-36 per frequency, with switches that build the typical wrong answers."""
    p = lam.shape[-1]
    h, w = u_t.shape[-2:]
    eta_t, eta_s = eta[t], eta[t - 1]
    alpha_t = eta_t - eta_s
    rate = tau[t] - tau[t - 1] if lam_rate is None else lam_rate
    ratio = (1 - eta_t) / (1 - eta_s) if eta_ratio else 1.0
    lambda_t = ratio * torch.exp(lam * rate).repeat(h // p, w // p)                     # Eq. 36
    d_s = torch.exp(lam * tau[t - 1]).repeat(h // p, w // p) if d_prev else 1.0          # D_{t-1}
    den = lambda_t ** 2 * eta_s + alpha_t
    mean = (lambda_t * eta_s * u_t + alpha_t * (1 - eta_s) * d_s * u_0
            + (lambda_t ** 2 * eta_s ** 2 - lambda_t * eta_s * eta_t + sign * alpha_t * eta_s) * u_l) / den   # Eq. 34
    return mean, kappa ** var_power * alpha_t * eta_s / den                                          # Eq. 35


def _paper_variants(u_t, u_0, u_l, t, d):
    args = (u_t, u_0, u_l, t, d.eta, d.tau, d.lam, d.kappa)
    means = [
        (_paper(*args, sign=-1.0)[0], "this is Eq. 34 as printed: the last term of the u_l coefficient is "
                                      "+ alpha_t eta_{t-1}, not - alpha_t eta_{t-1} (a sign error in the paper; "
                                      "the prior "
                                      "N(m_{t-1}, kappa^2 eta_{t-1}) contributes + alpha_t eta_{t-1} u_l)."),
        (_paper(*args, lam_rate=1.0)[0], "lambda uses e^Lambda literally (blur time 1); "
                                         "the kit reads Eq. 36's e^Lambda "
                                         "as D_t / D_{t-1} = exp(Lambda (tau_t - tau_{t-1}))."),
        (_paper(*args, lam_rate=d.tau[t])[0], "lambda uses D_t; Eq. 36's blur factor is the ratio "
                                              "D_t / D_{t-1} = exp(Lambda (tau_t - tau_{t-1}))."),
        (_paper(*args, eta_ratio=False)[0], "lambda is missing the factor (1 - eta_t) / (1 - eta_{t-1}) of Eq. 36."),
        (_paper(*args, d_prev=False)[0], "the u_0 term is missing D_{t-1}: alpha_t (1 - eta_{t-1}) D_{t-1} u_0."),
    ]
    variances = [
        (_paper(*args, var_power=1)[1], "the variance has kappa where it needs kappa^2 (Eq. 35)."),
        (_paper(*args)[1].sqrt(), "you returned the standard deviation; return the variance of Eq. 35."),
    ]
    return means, variances


def _check_posterior_form(ex_id: str, fn, form: str, variants, mean_hint: str, var_hint: str) -> float:
    """Shared by 2.3 and 2.4: call ``fn(u_t, u_0, u_l, t, eta, tau, lam, kappa) -> (mean, var)`` on random cases,
    name a known mistake when the answer matches one (``variants(d, t, u_t, u_0, u_l) -> (means, variances)``),
    else compare with ``BlurringResShift.posterior(..., form=form)``; return the largest error."""
    worst = 0.0
    for d, t, x in _cases(fresh_generator(), 2):
        u_t, u_0, u_l = x["u_t"], x["u_0"], x["u_l"]
        out = call(ex_id, fn, u_t, u_0, u_l, t, d.eta.clone(), d.tau.clone(), d.lam.clone(), d.kappa)
        if not isinstance(out, (tuple, list)) or len(out) != 2:
            raise ExerciseError(f"Exercise {ex_id}: return a pair (mean, var); got {type(out).__name__}.")
        mean, var = out
        want_mean, want_var = d.posterior(u_t, u_0, u_l, t, form=form)
        means, variances = variants(d, t, u_t, u_0, u_l)
        where = _describe(d, t, u_t)
        if isinstance(mean, torch.Tensor) and mean.shape == want_mean.shape and \
                not torch.allclose(mean.to(torch.float64), want_mean, atol=1e-10, rtol=0):
            diagnose(ex_id, mean, f"the mean ({where})",
                     [v for v in means if not torch.allclose(v[0], want_mean, atol=1e-9, rtol=0)], atol=1e-9)
        worst = max(worst, compare(ex_id, mean, want_mean, f"the mean ({where})", atol=1e-10, hint=mean_hint))
        try:
            var_full = torch.broadcast_to(torch.as_tensor(var, dtype=torch.float64), want_mean.shape)
        except (RuntimeError, TypeError, ValueError) as err:
            raise ExerciseError(f"Exercise {ex_id}: the variance (shape {tuple(getattr(var, 'shape', ()))}) does not "
                                f"broadcast against the mean {tuple(want_mean.shape)}: {err}") from None
        want_full = torch.broadcast_to(want_var, want_mean.shape)
        for wrong, why in variances:
            if not torch.allclose(var_full, want_full, atol=1e-12, rtol=1e-10) and \
                    torch.allclose(var_full, torch.broadcast_to(wrong, want_mean.shape), atol=1e-12, rtol=1e-9):
                raise ExerciseError(f"Exercise {ex_id}: the variance ({where}) is wrong: {why}")
        worst = max(worst, compare(ex_id, var_full, want_full, f"the variance ({where})", atol=1e-12, hint=var_hint))
    return worst


@exercise("2.3", "the paper's posterior, sign corrected", notebook="02_blurring_resshift_posterior", minutes=15)
def check_posterior_paper(fn) -> None:
    """Checks ``fn(u_t, u_0, u_l, t, eta, tau, lam, kappa) -> (mean, var)`` (Eqs. 34-36 with the sign of Eq. 34
    corrected and e^Lambda read as D_t / D_{t-1}) against ``BlurringResShift.posterior(..., form="paper")``."""
    worst = _check_posterior_form(
        "2.3", fn, "paper", lambda d, t, u_t, u_0, u_l: _paper_variants(u_t, u_0, u_l, t, d),
        mean_hint="Eq. 34 with + alpha_t eta_{t-1} in the u_l coefficient, "
                  "lambda = (1 - eta_t)/(1 - eta_{t-1}) exp(Lambda (tau_t - tau_{t-1})).",
        var_hint="Eq. 35: kappa^2 alpha_t eta_{t-1} / (lambda^2 eta_{t-1} + alpha_t), per frequency.")
    passed("2.3", f"4 random schedules/steps/shapes incl. no blur; max error {worst:.1g}")


@reference("2.3")
def _paper_reference(u_t, u_0, u_l, t, eta, tau, lam, kappa):
    return _paper(u_t, u_0, u_l, t, eta, tau, lam, kappa)


@planted("2.3", "Eq. 34 as printed (minus sign)", expect="Eq. 34 as printed")
def _paper_printed(u_t, u_0, u_l, t, eta, tau, lam, kappa):
    return _paper(u_t, u_0, u_l, t, eta, tau, lam, kappa, sign=-1.0)


@planted("2.3", "e^Lambda literally", expect="e^Lambda literally")
def _paper_literal(u_t, u_0, u_l, t, eta, tau, lam, kappa):
    return _paper(u_t, u_0, u_l, t, eta, tau, lam, kappa, lam_rate=1.0)


@planted("2.3", "no D_{t-1} on u_0", expect="missing D_{t-1}")
def _paper_no_dprev(u_t, u_0, u_l, t, eta, tau, lam, kappa):
    return _paper(u_t, u_0, u_l, t, eta, tau, lam, kappa, d_prev=False)


@planted("2.3", "kappa in the variance", expect="kappa^2")
def _paper_kappa(u_t, u_0, u_l, t, eta, tau, lam, kappa):
    return _paper(u_t, u_0, u_l, t, eta, tau, lam, kappa, var_power=1)


# -------------------------------------------------------------- 2.4 the consistent posterior (Step 6)
def _posterior_parts(d, t, u_t, u_0, u_l, *, es=None, et=None, ds=None, dt=None):
    """mean = m_{t-1} + (eta_{t-1}/eta_t)(u_t - m_t) with overridable pieces (to build wrong answers)."""
    h, w = u_t.shape[-2:]
    es = d.eta[t - 1] if es is None else es
    et = d.eta[t] if et is None else et
    ds = _decay(d.lam, d.tau[t - 1], h, w) if ds is None else ds
    dt = _decay(d.lam, d.tau[t], h, w) if dt is None else dt
    m_s = (1 - es) * ds * u_0 + es * u_l
    m_t = (1 - et) * dt * u_0 + et * u_l
    return m_s, m_t, es, et


def _posterior_variants(d, t, u_t, u_0, u_l):
    """Wrong means and wrong variances, each with its explanation."""
    m_s, m_t, es, et = _posterior_parts(d, t, u_t, u_0, u_l)
    k, a = d.kappa, et - es
    one = torch.ones(u_t.shape[-2:], dtype=torch.float64)
    ms_nb, _, _, _ = _posterior_parts(d, t, u_t, u_0, u_l, ds=one)
    mnb_s, mnb_t, _, _ = _posterior_parts(d, t, u_t, u_0, u_l, ds=one, dt=one)
    md_s, _, _, _ = _posterior_parts(d, t, u_t, u_0, u_l, ds=_decay(d.lam, d.tau[t], *u_t.shape[-2:]))
    means = [
        (ms_nb + es / et * (u_t - m_t), "m_{t-1}(u_0) is missing its blur: m_{t-1} = (1 - eta_{t-1}) D_{t-1} u_0 "
                                        "+ eta_{t-1} u_l with D_{t-1} = exp(lam * tau[t-1])."),
        (mnb_s + es / et * (u_t - mnb_t), "neither m_{t-1} nor m_t is blurred (that is ResShift's posterior); "
                                          "use D_{t-1} u_0 in m_{t-1} and D_t u_0 in m_t."),
        (md_s + es / et * (u_t - m_t), "m_{t-1} uses D_t; it needs D_{t-1} = exp(lam * tau[t-1])."),
        (m_s + et / es * (u_t - m_t), "the ratio is upside down: the factor on (u_t - m_t) is "
                                      "eta_{t-1} / eta_t (< 1)."),
        (m_s + a / et * (u_t - m_t), "the factor on (u_t - m_t) is alpha_t / eta_t; it is eta_{t-1} / eta_t."),
        (m_t + es / et * (u_t - m_t), "you started from m_t; the mean is "
                                      "m_{t-1}(u_0) + (eta_{t-1}/eta_t)(u_t - m_t(u_0))."),
    ]
    if t >= 3:                                   # eta[t - 2] = eta_{t-2} > 0: a wrong index that still divides
        m_s1, m_t1, es1, et1 = _posterior_parts(d, t, u_t, u_0, u_l, es=d.eta[t - 2], et=d.eta[t - 1])
        means.append((m_s1 + es1 / et1 * (u_t - m_t1), "eta_t is eta[t] and eta_{t-1} is eta[t - 1] (eta[0] = eta_0 "
                                                      "= 0, like tau); you used eta[t - 1] and eta[t - 2]."))
    var = k ** 2 * es * a / et
    variances = [
        (k * es * a / et, "the variance has kappa where it needs kappa^2: "
                          "sigma^2 = kappa^2 eta_{t-1} alpha_t / eta_t."),
        (var.sqrt(), "you returned the standard deviation; return the variance kappa^2 eta_{t-1} alpha_t / eta_t."),
        (k ** 2 * a, "kappa^2 alpha_t is the variance of the forward step; the posterior's is "
                     "kappa^2 eta_{t-1} alpha_t / eta_t."),
        (k ** 2 * es, "kappa^2 eta_{t-1} is the prior's variance; conditioning on u_t shrinks it by alpha_t / eta_t."),
        (k ** 2 * et * a / es, "the eta ratio in the variance is upside down: kappa^2 eta_{t-1} alpha_t / eta_t."),
    ]
    return means, variances


@exercise("2.4", "the consistent posterior mean and variance", notebook="02_blurring_resshift_posterior", minutes=15)
def check_posterior(fn) -> None:
    """Checks ``fn(u_t, u_0, u_l, t, eta, tau, lam, kappa) -> (mean, var)`` against
    ``BlurringResShift.posterior(..., form="consistent")`` for random schedules, steps t in 2..T-1 and shapes.
    ``var`` may be a number or any tensor that broadcasts against ``mean``."""
    worst = _check_posterior_form(
        "2.4", fn, "consistent", lambda d, t, u_t, u_0, u_l: _posterior_variants(d, t, u_t, u_0, u_l),
        mean_hint="mean = m_{t-1}(u_0) + (eta_{t-1}/eta_t)(u_t - m_t(u_0)), m_s = (1 - eta_s) D_s u_0 + eta_s u_l.",
        var_hint="var = kappa^2 eta_{t-1} alpha_t / eta_t, alpha_t = eta_t - eta_{t-1}.")
    passed("2.4", f"4 random schedules/steps/shapes incl. no blur and [B, N, C, H, W]; max error {worst:.1g}")


def _consistent(u_t, u_0, u_l, t, eta, tau, lam, kappa, *, blur_prev=True, var_scale=2):
    h, w = u_t.shape[-2:]
    eta_t, eta_s = eta[t], eta[t - 1]
    d_t = _decay(lam, tau[t], h, w)
    d_s = _decay(lam, tau[t - 1], h, w) if blur_prev else torch.ones_like(d_t)
    m_t = (1 - eta_t) * d_t * u_0 + eta_t * u_l
    m_s = (1 - eta_s) * d_s * u_0 + eta_s * u_l
    return m_s + eta_s / eta_t * (u_t - m_t), kappa ** var_scale * eta_s * (eta_t - eta_s) / eta_t


@reference("2.4")
def _posterior_reference(u_t, u_0, u_l, t, eta, tau, lam, kappa):
    return _consistent(u_t, u_0, u_l, t, eta, tau, lam, kappa)


@planted("2.4", "m_{t-1} not blurred", expect="m_{t-1}(u_0) is missing its blur")
def _posterior_noblur(u_t, u_0, u_l, t, eta, tau, lam, kappa):
    return _consistent(u_t, u_0, u_l, t, eta, tau, lam, kappa, blur_prev=False)


@planted("2.4", "eta ratio swapped", expect="upside down")
def _posterior_swap(u_t, u_0, u_l, t, eta, tau, lam, kappa):
    h, w = u_t.shape[-2:]
    eta_t, eta_s = eta[t], eta[t - 1]
    m_t = (1 - eta_t) * _decay(lam, tau[t], h, w) * u_0 + eta_t * u_l
    m_s = (1 - eta_s) * _decay(lam, tau[t - 1], h, w) * u_0 + eta_s * u_l
    return m_s + eta_t / eta_s * (u_t - m_t), kappa ** 2 * eta_s * (eta_t - eta_s) / eta_t


@planted("2.4", "kappa instead of kappa^2", expect="kappa^2")
def _posterior_kappa(u_t, u_0, u_l, t, eta, tau, lam, kappa):
    return _consistent(u_t, u_0, u_l, t, eta, tau, lam, kappa, var_scale=1)


@planted("2.4", "std instead of variance", expect="standard deviation")
def _posterior_std(u_t, u_0, u_l, t, eta, tau, lam, kappa):
    mean, var = _consistent(u_t, u_0, u_l, t, eta, tau, lam, kappa)
    return mean, math.sqrt(var)
