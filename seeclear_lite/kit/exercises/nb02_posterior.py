"""Exercises of notebook 02 (Blurring ResShift): the forward marginal sample (Eqs. 25, 29), completing the square,
the paper's posterior (Eqs. 34-36: the student finds the error of printed Eq. 34), the ``"consistent"`` posterior
derived from its setting, a prediction of the paper chain's variance, an experiment on the number of steps T, and
the fresh-noise variance beta_t of the ``"repaired"`` step derived from its requirement; each checked against
``seeclear_lite.diffusion.BlurringResShift``.

The numeric exercises take the schedules as the package stores them (float64, indexed by the paper's step t):
``eta`` [T+1] with ``eta[t] = eta_t`` (``eta[0] = 0``), ``tau`` [T+1] with ``tau[t] = tau_t`` (``tau[0] = 0``),
``lam`` [p, p] = Lambda, and frequency-domain tensors ``[..., H, W]`` (H, W multiples of p; in-patch frequency
(i mod p, j mod p)).
"""

from __future__ import annotations

import math

import torch

from ...diffusion import BlurringResShift
from .core import (ExerciseError, call, check_choice, compare, diagnose, exercise, fresh_generator, passed, planted,
                   reference)

__all__ = ["check_marginal_sample", "check_complete_square", "check_posterior_paper", "check_posterior",
           "check_chain_variance_prediction", "check_largest_T", "check_repaired_beta", "paper_drift"]


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
        (_paper(*args, sign=-1.0)[0], "this is Eq. 34 as printed, and it is not the posterior of Eqs. 31-32: its "
                                      "coefficient of u_l differs from exact Gaussian conditioning (those of u_t "
                                      "and u_0 agree). Derive that coefficient (your Exercise 2.2 function on the "
                                      "log joint of Eqs. 31-32) and compare it term by term with the printed one."),
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


def _coefficient_report(fn, d, t, shape, form: str) -> str:
    """Which of the mean's coefficients of u_t, u_0, u_l are wrong: the mean is linear in (u_t, u_0, u_l), so calling
    ``fn`` with one of them set to ones and the others to zeros gives that coefficient per frequency."""
    want = d.posterior_coefficients(t, form, h=shape[-2], w=shape[-1])[:3]
    wrong = []
    for k, name in enumerate(("u_t", "u_0", "u_l")):
        args = [torch.ones(shape, dtype=torch.float64) if i == k else torch.zeros(shape, dtype=torch.float64)
                for i in range(3)]
        try:
            got = fn(*args, t, d.eta.clone(), d.tau.clone(), d.lam.clone(), d.kappa)[0]
            if not torch.allclose(torch.broadcast_to(got.to(torch.float64), shape), want[k].expand(shape),
                                  atol=1e-10, rtol=0):
                wrong.append(name)
        except Exception:                                    # the caller reports crashes; this is only a hint
            return ""
    if not wrong:
        return ""
    return (f" Your coefficient{'s' if len(wrong) > 1 else ''} of {', '.join(wrong)} "
            f"{'are' if len(wrong) > 1 else 'is'} wrong; the other{'s are' if len(wrong) < 2 else ' is'} right.")


def _check_posterior_form(ex_id: str, fn, form: str, variants, mean_hint: str, var_hint: str,
                          probe: bool = False) -> float:
    """Shared by 2.3 and 2.4: call ``fn(u_t, u_0, u_l, t, eta, tau, lam, kappa) -> (mean, var)`` on random cases,
    name a known mistake when the answer matches one (``variants(d, t, u_t, u_0, u_l) -> (means, variances)``),
    else compare with ``BlurringResShift.posterior(..., form=form)`` (``probe``: say which coefficients of the mean
    are wrong); return the largest error."""
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
        hint = mean_hint
        if probe and isinstance(mean, torch.Tensor) and mean.shape == want_mean.shape and \
                not torch.allclose(mean.to(torch.float64), want_mean, atol=1e-10, rtol=0):
            hint = mean_hint + _coefficient_report(fn, d, t, tuple(u_t.shape), form)
        worst = max(worst, compare(ex_id, mean, want_mean, f"the mean ({where})", atol=1e-10, hint=hint))
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


@exercise("2.3", "the paper's posterior: find the error in Eq. 34", notebook="02_blurring_resshift_posterior",
          minutes=20)
def check_posterior_paper(fn) -> None:
    """Checks ``fn(u_t, u_0, u_l, t, eta, tau, lam, kappa) -> (mean, var)``, the exact posterior of Eqs. 31-32 (what
    Eqs. 34-36 should say: printed Eq. 34 has an error the student finds; e^Lambda read as D_t / D_{t-1}) against
    ``BlurringResShift.posterior(..., form="paper")``; a wrong mean is reported per coefficient (u_t, u_0, u_l)."""
    worst = _check_posterior_form(
        "2.3", fn, "paper", lambda d, t, u_t, u_0, u_l: _paper_variants(u_t, u_0, u_l, t, d),
        mean_hint="derive the posterior of Eqs. 31-32 (your Exercise 2.2 function on their log joint) and compare "
                  "its coefficients of u_t, u_0, u_l with yours; lambda = (1 - eta_t)/(1 - eta_{t-1}) "
                  "exp(Lambda (tau_t - tau_{t-1})).",
        var_hint="the variance of Eqs. 31-32's posterior, per frequency (Eq. 35).", probe=True)
    passed("2.3", f"4 random schedules/steps/shapes incl. no blur; max error {worst:.1g}. Printed Eq. 34 is not this "
                  f"posterior: compare your u_l coefficient with the printed one")


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
        (m_s + et / es * (u_t - m_t), "the factor on (u_t - m_t) is upside down: it is "
                                      "Cov(u_{t-1}, u_t) / Var(u_t), which is below 1."),
        (m_s + a / et * (u_t - m_t), "the factor on (u_t - m_t) is Cov(u_{t-1}, u_t) / Var(u_t), and the covariance "
                                     "is the variance of u_{t-1} (the step keeps u_{t-1} with factor 1), not that "
                                     "of the fresh noise."),
        (m_t + es / et * (u_t - m_t), "you started from m_t; the posterior mean starts from u_{t-1}'s own mean "
                                      "m_{t-1}(u_0) and corrects it by how far u_t is from m_t(u_0)."),
    ]
    if t >= 3:                                   # eta[t - 2] = eta_{t-2} > 0: a wrong index that still divides
        m_s1, m_t1, es1, et1 = _posterior_parts(d, t, u_t, u_0, u_l, es=d.eta[t - 2], et=d.eta[t - 1])
        means.append((m_s1 + es1 / et1 * (u_t - m_t1), "eta_t is eta[t] and eta_{t-1} is eta[t - 1] (eta[0] = eta_0 "
                                                      "= 0, like tau); you used eta[t - 1] and eta[t - 2]."))
    var = k ** 2 * es * a / et
    variances = [
        (k * es * a / et, "the variance has kappa where it needs kappa^2 (every variance here is kappa^2 times a "
                          "schedule term)."),
        (var.sqrt(), "you returned the standard deviation; return the variance."),
        (k ** 2 * a, "kappa^2 alpha_t is the variance of the forward step's fresh noise; the posterior's is "
                     "Var(u_{t-1}) - Cov(u_{t-1}, u_t)^2 / Var(u_t)."),
        (k ** 2 * es, "kappa^2 eta_{t-1} is the prior's variance; conditioning on u_t shrinks it: "
                      "Var(u_{t-1}) - Cov(u_{t-1}, u_t)^2 / Var(u_t)."),
        (k ** 2 * et * a / es, "the eta ratio in the variance is upside down (the posterior variance is below the "
                               "prior's kappa^2 eta_{t-1})."),
    ]
    return means, variances


@exercise("2.4", "derive the consistent posterior", notebook="02_blurring_resshift_posterior", minutes=20)
def check_posterior(fn) -> None:
    """A derivation: ``fn(u_t, u_0, u_l, t, eta, tau, lam, kappa) -> (mean, var)``, the posterior of the step that
    keeps u_{t-1} with factor 1, shifts it and adds independent noise so that Eq. 29 holds at t - 1 and t (ResShift's
    construction, conditioned on u_0), checked against ``BlurringResShift.posterior(..., form="consistent")`` for
    random schedules, steps and shapes. ``var`` may be a number or any tensor that broadcasts against ``mean``."""
    worst = _check_posterior_form(
        "2.4", fn, "consistent", lambda d, t, u_t, u_0, u_l: _posterior_variants(d, t, u_t, u_0, u_l),
        mean_hint="condition the Gaussian pair (u_{t-1}, u_t) given u_0, u_l: mean = E[u_{t-1}] + Cov(u_{t-1}, u_t) / "
                  "Var(u_t) (u_t - E[u_t]), with m_s = (1 - eta_s) D_s u_0 + eta_s u_l.",
        var_hint="var = Var(u_{t-1}) - Cov(u_{t-1}, u_t)^2 / Var(u_t), the same at every frequency.", probe=True)
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


# --------------------------------------------- 2.5 prediction: the variance along the paper form's chain
#: the notebook's setting for the prediction and the experiment (the paper's T, ResShift's kappa, sigma_B,max^2 = 2)
PAPER_T, PAPER_KAPPA, PAPER_SIGMA_B2 = 15, 2.0, 2.0


def chain_variance_ratios(T: int = PAPER_T, kappa: float = PAPER_KAPPA, sigma_b2_max: float = PAPER_SIGMA_B2,
                          form: str = "paper") -> dict:
    """{t: Var(u_t) / (kappa^2 eta_t)} [4, 4] per frequency along the reverse chain of ``form`` started at
    u_T ~ Eq. 29 with the true u_0 (exact propagation of the variance with the package's coefficients)."""
    d = BlurringResShift(T=T, kappa=kappa, power=0.3, patch_size=4, sigma_b2_max=sigma_b2_max)
    var = torch.full((4, 4), d.kappa ** 2 * float(d.eta[T]), dtype=torch.float64)
    out = {T: var / (d.kappa ** 2 * float(d.eta[T]))}
    for t in range(T, 1, -1):
        c_t, _, _, s2 = d.posterior_coefficients(t, form)
        var = c_t ** 2 * var + s2
        out[t - 1] = var / (d.kappa ** 2 * float(d.eta[t - 1]))
    return out


def _chain_measured() -> tuple[str, str]:
    ratios = chain_variance_ratios()
    worst = {t: r.max().item() for t, r in ratios.items()}
    lowest = min(r.min().item() for r in ratios.values())
    peak_t = max(worst, key=worst.get)
    peak = worst[peak_t]
    if max(abs(v - 1) for v in worst.values()) < 1e-9 and abs(lowest - 1) < 1e-9:
        letter = "a"
    elif peak <= 1 + 1e-9:
        letter = "b"
    elif peak_t != 1 and worst[1] < 1 + (peak - 1) / 2:
        letter = "c"
    else:
        letter = "d"
    evidence = (f"the largest Var / (kappa^2 eta_t) over the 16 frequencies is {worst[PAPER_T]:.2f} at t = {PAPER_T}, "
                f"{peak:.2f} at t = {peak_t} (its peak), {worst[1]:.3f} at t = 1 (T = {PAPER_T}, kappa = "
                f"{PAPER_KAPPA:g}, sigma_B,max^2 = {PAPER_SIGMA_B2:g})")
    return letter, evidence


@exercise("2.5", "predict the variance along the paper form's chain", notebook="02_blurring_resshift_posterior",
          minutes=5)
def check_chain_variance_prediction(fn) -> None:
    """A prediction: ``fn()`` returns "a".."d", how Var(u_t) / (kappa^2 eta_t) behaves along the reverse chain of the
    paper form (started at Eq. 29 with the true u_0); the verdict comes from the exact propagation of the variance."""
    letter, evidence = _chain_measured()
    why = {
        "a": "that is the consistent chain, built so that every step keeps Eq. 29. The paper step is the exact "
             "posterior of Eq. 31, and Step 4 showed that Eq. 31 does not have Eq. 29's marginals.",
        "b": "Step 4's forward Eq. 31 loses variance (ratio < 1), but its posterior assumes that narrower forward "
             "step: Eq. 35's denominator lambda_t^2 eta_{t-1} + alpha_t is smaller than eta_t, so the reverse step "
             "adds *more* fresh noise than the consistent one, and the chain overshoots instead.",
        "c": "the paper step adds more fresh noise than the consistent one (Eq. 35's denominator lambda_t^2 "
             "eta_{t-1} + alpha_t < eta_t, because lambda_t < 1) and keeps about as much of u_t, so excess variance "
             "builds up over the middle of the chain; near t = 1 the step keeps almost nothing of u_t (eta_1 is "
             "tiny), so the chain forgets the excess and ends near 1.",
        "d": "the excess builds up in the middle of the chain, but near t = 1 the step keeps almost nothing of u_t "
             "(its factor on u_t is about eta_1 / eta_2, tiny), so the chain forgets the excess before the end.",
    }
    check_choice("2.5", fn, letter, why, evidence)


@reference("2.5")
def _chain_reference():
    return _chain_measured()[0]


@planted("2.5", "predicted (b): too narrow", expect="chain overshoots instead")
def _chain_narrow():
    return "b"


@planted("2.5", "predicted (a): stays at 1", expect="that is the consistent chain")
def _chain_exact():
    return "a"


@planted("2.5", "predicted (d): worst at the end", expect="forgets the excess before the end")
def _chain_growing():
    return "d"


# ------------------------------------------- 2.6 experiment: does a finer chain (larger T) drift less?
DRIFT_LIMIT = 3.0


def paper_drift(T: int, kappa: float = PAPER_KAPPA, sigma_b2_max: float = PAPER_SIGMA_B2) -> float:
    """The paper form's worst Var(u_t) / (kappa^2 eta_t) over the whole chain and all 16 frequencies, for a chain of
    T steps (T >= 2) started at Eq. 29 with the true u_0."""
    return max(r.max().item() for r in chain_variance_ratios(int(T), kappa, sigma_b2_max).values())


def _largest_T(drift, sigma_b2_max: float, limit: float = DRIFT_LIMIT, t_max: int = 200) -> int:
    """The largest T whose paper chain stays below ``limit`` (the drift grows with T)."""
    T = 2
    while T < t_max and drift(T + 1, PAPER_KAPPA, sigma_b2_max) < limit:
        T += 1
    return T


def _integer(ex_id: str, got, what: str) -> int:
    if isinstance(got, torch.Tensor) and got.numel() == 1:
        got = got.item()
    if isinstance(got, bool) or not isinstance(got, (int, float)) or got != int(got):
        raise ExerciseError(f"Exercise {ex_id}: {what} must be a whole number of steps T, got {got!r}"
                            f"{' (that looks like a variance ratio, not a T)' if isinstance(got, float) else ''}.")
    return int(got)


@exercise("2.6", "experiment: the paper chain's drift against the number of steps T",
          notebook="02_blurring_resshift_posterior", minutes=10)
def check_largest_T(fn) -> None:
    """An experiment: ``fn(paper_drift) -> {sigma_b2_max: T}`` for sigma_B,max^2 = 2 and 0: the largest number of steps
    T for which the paper chain's worst variance ratio stays below 3 (kappa = 2); ``paper_drift(T, kappa,
    sigma_b2_max)`` measures it. The check runs the same search itself."""
    got = call("2.6", fn, paper_drift)
    if not isinstance(got, dict):
        raise ExerciseError(f"Exercise 2.6: return a dict {{2.0: T, 0.0: T}} (one largest T per sigma_B,max^2), "
                            f"got {type(got).__name__}.")
    want = {s2: _largest_T(paper_drift, s2) for s2 in (PAPER_SIGMA_B2, 0.0)}
    for s2, w in want.items():
        if s2 not in got:
            raise ExerciseError(f"Exercise 2.6: the dict needs the key {s2!r} (sigma_B,max^2), it has {list(got)}.")
        g = _integer("2.6", got[s2], f"the value for sigma_B,max^2 = {s2:g}")
        if g == w:
            continue
        other = want[0.0 if s2 else PAPER_SIGMA_B2]
        drift_g = paper_drift(g, PAPER_KAPPA, s2) if g >= 2 else float("nan")
        if g == w + 1:
            why = (f"at T = {g} the worst ratio is already {drift_g:.2f} >= {DRIFT_LIMIT:g}: return the largest T "
                   f"that stays *below* it (off by one).")
        elif g == other and g != w:
            why = (f"{g} is the answer for sigma_B,max^2 = {0.0 if s2 else PAPER_SIGMA_B2:g}: the values are swapped "
                   f"or you ran the same setting twice (pass sigma_b2_max to paper_drift).")
        elif g < w:
            why = (f"at T = {g} the worst ratio is {drift_g:.2f}, but larger T still stay below {DRIFT_LIMIT:g} "
                   f"(at T = {w}: {paper_drift(w, PAPER_KAPPA, s2):.2f}).")
        else:
            why = (f"at T = {g} the worst ratio is {drift_g:.3g}, above {DRIFT_LIMIT:g}: the drift grows with T.")
        raise ExerciseError(f"Exercise 2.6: for sigma_B,max^2 = {s2:g} you found T = {g}, the search gives {w}: {why}")
    grid = {T: paper_drift(T, PAPER_KAPPA, PAPER_SIGMA_B2) for T in (4, 15, 30)}
    passed("2.6", f"largest T below {DRIFT_LIMIT:g}x: {want[PAPER_SIGMA_B2]} with blur, {want[0.0]} without. More "
                  f"steps make the paper chain *worse*, not better (with blur: " +
                  ", ".join(f"T = {T}: {v:.3g}" for T, v in grid.items()) + "): it is no discretisation error")


@reference("2.6")
def _largest_T_reference(drift):
    return {s2: _largest_T(drift, s2) for s2 in (PAPER_SIGMA_B2, 0.0)}


@planted("2.6", "off by one", expect="off by one")
def _largest_T_off(drift):
    return {s2: _largest_T(drift, s2) + 1 for s2 in (PAPER_SIGMA_B2, 0.0)}


@planted("2.6", "same setting twice", expect="swapped")
def _largest_T_same(drift):
    return {s2: _largest_T(drift, 0.0) for s2 in (PAPER_SIGMA_B2, 0.0)}


@planted("2.6", "returned the ratio", expect="variance ratio")
def _largest_T_ratio(drift):
    return {s2: drift(15, PAPER_KAPPA, s2) for s2 in (PAPER_SIGMA_B2, 0.0)}


# ------------------------------------------ 2.7 derivation: the fresh noise of the repaired step (beta_t)
def _lambda36(d: BlurringResShift, t: int) -> torch.Tensor:
    """Eq. 36's lambda_t per in-patch frequency [p, p], e^Lambda read as D_t / D_{t-1}."""
    return (1 - d.eta[t]) / (1 - d.eta[t - 1]) * torch.exp(d.lam * (d.tau[t] - d.tau[t - 1]))


@exercise("2.7", "derive the fresh noise of the repaired step", notebook="02_blurring_resshift_posterior", minutes=10)
def check_repaired_beta(fn) -> None:
    """A derivation: ``fn(eta_t, eta_prev, lambda_t) -> beta_t`` (tensors: eta_t and eta_prev 0-dim, lambda_t [p, p]),
    the fresh-noise variance (in units of kappa^2) that makes Eq. 31's transition keep Eq. 29's marginal, checked
    against the package's ``"repaired"`` posterior (whose variance is kappa^2 eta_{t-1} beta_t / eta_t)."""
    worst, margin = 0.0, math.inf
    for d, t, _ in _cases(fresh_generator(), 2):
        eta_t, eta_s, lam_t = d.eta[t].clone(), d.eta[t - 1].clone(), _lambda36(d, t)
        got = call("2.7", fn, eta_t, eta_s, lam_t.clone())
        want = d.posterior_coefficients(t, "repaired")[3] * eta_t / (d.kappa ** 2 * eta_s)
        what = f"beta_t (T = {d.T}, sigma_b2_max = {d.sigma_b2_max}, t = {t})"
        if not isinstance(got, torch.Tensor):
            got = torch.as_tensor(got, dtype=torch.float64) if isinstance(got, (int, float)) else got
        if isinstance(got, torch.Tensor):
            try:
                got = torch.broadcast_to(got.to(torch.float64), want.shape)
            except RuntimeError:
                raise ExerciseError(f"Exercise 2.7: {what} has shape {tuple(got.shape)}; it varies per frequency "
                                    f"like lambda_t, shape {tuple(want.shape)}.") from None
        alpha_t = eta_t - eta_s
        diagnose("2.7", got, what, [
            (alpha_t.expand(want.shape), "that is Eq. 31's fresh noise alpha_t. lambda_t < 1 scales the noise "
                                         "already in u_{t-1}, so Var(u_t) falls short of kappa^2 eta_t; choose beta_t "
                                         "so that lambda_t^2 Var(u_{t-1}) + kappa^2 beta_t = kappa^2 eta_t."),
            (eta_t - lam_t * eta_s, "lambda_t multiplies u_{t-1}, so it multiplies its variance by lambda_t^2, "
                                    "not lambda_t."),
            (eta_t * (1 - lam_t ** 2), "the noise already in u_{t-1} has variance kappa^2 eta_{t-1} (Eq. 29 at "
                                       "t - 1), not kappa^2 eta_t."),
            (want.sqrt(), "you returned a standard deviation; beta_t is the variance (in units of kappa^2)."),
        ], atol=1e-12)
        if isinstance(got, torch.Tensor) and bool((got < 0).any()):
            raise ExerciseError(f"Exercise 2.7: {what} is negative somewhere; a variance must be >= 0.")
        worst = max(worst, compare("2.7", got, want, what, atol=1e-12,
                                   hint="Var(u_t) = lambda_t^2 Var(u_{t-1}) + kappa^2 beta_t must equal kappa^2 eta_t "
                                        "when Var(u_{t-1}) = kappa^2 eta_{t-1}."))
        margin = min(margin, (want - alpha_t).min().item())
    passed("2.7", f"4 random schedules and steps; max error {worst:.1g}; smallest beta_t - alpha_t {margin:.2g} "
                  f"(beta_t {'>' if margin > 0 else '<='} alpha_t: the repaired step adds more fresh noise than "
                  f"Eq. 31)")


@reference("2.7")
def _beta_reference(eta_t, eta_prev, lambda_t):
    return eta_t - lambda_t ** 2 * eta_prev


@planted("2.7", "Eq. 31's alpha_t", expect="that is Eq. 31's fresh noise")
def _beta_alpha(eta_t, eta_prev, lambda_t):
    return (eta_t - eta_prev) * torch.ones_like(lambda_t)


@planted("2.7", "lambda not squared", expect="not lambda_t")
def _beta_linear(eta_t, eta_prev, lambda_t):
    return eta_t - lambda_t * eta_prev


@planted("2.7", "standard deviation", expect="standard deviation")
def _beta_std(eta_t, eta_prev, lambda_t):
    return (eta_t - lambda_t ** 2 * eta_prev).sqrt()
