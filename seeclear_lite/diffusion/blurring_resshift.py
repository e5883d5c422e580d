"""Blurring ResShift (Sec. 3.1, App. A): patch-level heat blur + ResShift residual shifting + noise.

Everything is diagonal in the patch-DCT domain (Eq. 2), so every coefficient below is a per-frequency
number and sampling noise is drawn there. With ``u = V^T x`` (patch DCT), ``u_l = V^T y`` (``y`` = the LR
frames upsampled to HR size) and ``D_t = exp(Lambda tau_t)``:
- forward marginal (Eqs. 3-4, 25, 29)::
      q(u_t | u_0, u_l) = N(m_t(u_0), kappa^2 eta_t I),   m_t(u_0) = (1 - eta_t) D_t u_0 + eta_t u_l

- reverse step, three forms (``posterior(..., form=...)``), all for t = 2..T. lambda_t is the per-frequency
  factor of Eqs. 28, 31, 36 (code name ``lambda_t``; Lambda, the heat eigenvalues, is ``lam``):
  ``"paper"``       the exact Gaussian posterior of the paper's own transition (Eq. 31) and prior (Eq. 32),
                    i.e. Eqs. 33-36 re-derived (notebook 02). Eq. 31's ``e^Lambda`` is read as
                    ``D_t / D_{t-1} = exp(Lambda (tau_t - tau_{t-1}))`` and Eq. 32's ``e^{Lambda (t-1)}`` as
                    ``D_{t-1}``: the paper writes ``e^{Lambda t}`` with the integer step t, which contradicts
                    the IHDM blur schedule it says it uses (reference_facts §1.4 item 5)::
                        lambda_t = (1 - eta_t) / (1 - eta_{t-1}) * D_t / D_{t-1}                    # Eq. 36
                        den   = lambda_t^2 eta_{t-1} + alpha_t
                        mean  = [lambda_t eta_{t-1} u_t + alpha_t (1 - eta_{t-1}) D_{t-1} u_0
                                 + (lambda_t^2 eta_{t-1}^2 - lambda_t eta_{t-1} eta_t + alpha_t eta_{t-1}) u_l] / den
                        var   = kappa^2 alpha_t eta_{t-1} / den                                     # Eq. 35

                    The ``+ alpha_t eta_{t-1}`` is printed as ``-`` in Eq. 34 (a sign error). Eq. 31 does
                    not reproduce the marginal Eq. 29 (its variance is kappa^2 (lambda_t^2 eta_{t-1} + alpha_t),
                    not kappa^2 eta_t), so this form is not the posterior of the marginal used in training.

  ``"consistent"``  ResShift's posterior with the blurred mean (the default for sampling)::
                        mean = m_{t-1}(u_0) + (eta_{t-1} / eta_t) (u_t - m_t(u_0))
                        var  = kappa^2 eta_{t-1} alpha_t / eta_t

                    It is the posterior of the transition u_t = u_{t-1} + m_t - m_{t-1} + sqrt(alpha_t) kappa eps,
                    whose marginals are exactly Eq. 29 at every t, and it equals ResShift's posterior when
                    sigma_B = 0 (no blur).

  ``"repaired"``    Eq. 31 made Markov-consistent: keep its factor lambda_t on u_{t-1}, choose the fresh noise
                    so that Eq. 29 holds at every t, u_t = lambda_t (u_{t-1} - eta_{t-1} u_l) + eta_t u_l
                    + kappa sqrt(beta_t) eps with beta_t = eta_t - lambda_t^2 eta_{t-1} (> alpha_t: lambda_t < 1),
                    and take its exact posterior::
                        mean = m_{t-1}(u_0) + (lambda_t eta_{t-1} / eta_t) (u_t - m_t(u_0))
                        var  = kappa^2 eta_{t-1} beta_t / eta_t

- sampler (Algorithm 1, diffusion part): u_T = u_l + kappa sqrt(eta_T) eps (Eq. 6 with ResShift's variance),
  then t = T..2: x0_hat = clamp(model(x_t, y, t), -1, 1), u_{t-1} ~ N(posterior(u_t, V^T x0_hat, u_l, t));
  finally x0_hat = clamp(model(x_1, y, 1)) is returned.

Frames are in the diffusion range [-1, 1] (convert with ``seeclear_lite.utils.ranges``). Tensors are
[B, C, H, W] or [B, N, C, H, W] with H and W multiples of the patch size; ``t`` is 1-based as in the paper.
"""

from __future__ import annotations

import math
from typing import Callable

import torch

from ..config import POSTERIOR_FORMS, DiffusionConfig
from ..degradation import imresize
from .dct import check_patch_shape, patch_dct, patch_idct
from .schedules import blur_schedule, eta_schedule, heat_eigenvalues

__all__ = ["BlurringResShift", "extract", "POSTERIOR_FORMS"]



def _as_timesteps(t, lo: int, hi: int, batch: int | None) -> torch.Tensor:
    """``t`` (int, 0-dim or [B] integer tensor) -> LongTensor on the CPU, checked to lie in lo..hi."""
    if isinstance(t, bool) or not isinstance(t, (int, torch.Tensor)):
        raise TypeError(f"t must be an int or an integer LongTensor[B] (1-based step), got {type(t).__name__}.")
    if isinstance(t, torch.Tensor):
        if t.dtype.is_floating_point or t.dtype.is_complex or t.dtype == torch.bool:
            raise TypeError(f"t must hold integer steps (torch.long), got dtype {t.dtype}; use t.long().")
        if t.dim() > 1:
            raise ValueError(f"t must be an int or a 1-D tensor [B], got shape {tuple(t.shape)}.")
        if t.dim() == 1 and batch is not None and t.numel() not in (1, batch):
            raise ValueError(f"t has {t.numel()} entries but the batch has {batch}: give one step per sample "
                             f"(LongTensor[B]) or a single int.")
        tt = t.detach().to("cpu", torch.long)
    else:
        tt = torch.tensor(t, dtype=torch.long)
    if tt.numel() and (int(tt.min()) < lo or int(tt.max()) > hi):
        raise ValueError(f"t must lie in {lo}..{hi} (1-based diffusion step), got {tt.tolist()}.")
    return tt


def extract(coef: torch.Tensor, t, ref: torch.Tensor) -> torch.Tensor:
    """Pick ``coef[t]`` (float64 table) per batch element and shape it to broadcast against ``ref``.

    ``t`` int -> a 0-dim tensor; ``t`` LongTensor[B] -> shape [B, 1, ..., 1] (``ref.dim()`` dims). The
    result has ``ref``'s dtype and device (the table stays float64 until this cast).
    """
    return _pick(coef, _as_timesteps(t, 0, coef.shape[0] - 1, ref.shape[0] if ref.dim() else None), ref)


def _pick(coef: torch.Tensor, tt: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """:func:`extract` for steps ``tt`` already checked by :func:`_as_timesteps` (a CPU LongTensor): the
    methods below check ``t`` once per call and look every coefficient up with this, so a CUDA ``t`` is
    copied to the host once per call, not once per coefficient."""
    out = coef[tt]
    if tt.dim() == 1:
        out = out.reshape(-1, *([1] * (ref.dim() - 1)))
    return out.to(dtype=ref.dtype, device=ref.device)


class BlurringResShift:
    """The Blurring-ResShift diffusion of SeeClear (Sec. 3.1, App. A, Algorithm 1).

    >>> d = BlurringResShift(T=15, kappa=2.0, power=0.3, patch_size=4, sigma_b2_max=2.0)
    >>> d.eta.shape, d.tau.shape, d.lam.shape
    (torch.Size([16]), torch.Size([16]), torch.Size([4, 4]))

    Parameters (the first five are the kit's fixed API):
        T: number of steps (15, as SeeClear's Table 5). kappa, power: ResShift's noise scale and schedule power.
        patch_size: p of the patch DCT blur (default 4 = the x4 scale factor). sigma_b2_max: sigma_B,max^2,
        the blur variance at t = T (Table 4; 2 for the full model, 0 = no blur = plain ResShift).
        min_noise_level, etas_end: ResShift's sqrt(eta_1) = min(min_noise_level/kappa, min_noise_level)
        and sqrt(eta_T). sigma_b_min: IHDM's first blur sigma (0.5). scale: the SR factor used by
        :meth:`upsample_lr`. upsampler: optional callable ``lr -> y`` replacing MATLAB bicubic.

    Attributes (float64, on the CPU; moved to the input's dtype/device only when used):
        eta [T+1] (``eta[t] = eta_t``, ``eta[0] = 0``), alpha [T+1] (``alpha[t] = eta_t - eta_{t-1}``,
        ``alpha[0] = 0``), tau [T+1] (``tau[t] = tau_t``, ``tau[0] = 0``), lam [p, p] (Lambda). Every table is
        indexed by the paper's 1-based step t; index 0 is the clean state.
    """

    def __init__(self, T: int = 15, kappa: float = 2.0, power: float = 0.3, patch_size: int = 4,
                 sigma_b2_max: float = 2.0, *, min_noise_level: float = 0.04, etas_end: float = 0.99,
                 sigma_b_min: float = 0.5, scale: int = 4,
                 upsampler: Callable[[torch.Tensor], torch.Tensor] | None = None):
        if not isinstance(patch_size, int) or isinstance(patch_size, bool) or patch_size < 1:
            raise ValueError(f"patch_size must be a positive int (4 = the x4 scale factor), got {patch_size!r}.")
        if sigma_b2_max < 0:
            raise ValueError(f"sigma_b2_max is a variance and must be >= 0 (0 = no blur), got {sigma_b2_max!r}.")
        if upsampler is not None and not callable(upsampler):
            raise TypeError(f"upsampler must be a callable lr -> y, got {type(upsampler).__name__}.")
        self.T, self.kappa, self.power = T, float(kappa), float(power)
        self.patch_size, self.sigma_b2_max = patch_size, float(sigma_b2_max)
        self.scale, self.upsampler = scale, upsampler
        eta_1_to_T = eta_schedule(T, kappa, power, min_noise_level, etas_end)
        self.eta = torch.cat([eta_1_to_T.new_zeros(1), eta_1_to_T])                 # [T+1], eta[t] = eta_t
        self.alpha = torch.diff(self.eta, prepend=self.eta.new_zeros(1))             # [T+1], alpha[1] = eta_1
        self.tau = blur_schedule(T, sigma_b2_max, sigma_b_min)                       # [T+1], tau[t] = tau_t
        self.lam = heat_eigenvalues(patch_size)                                      # [p, p]

    @classmethod
    def from_config(cls, cfg: DiffusionConfig) -> "BlurringResShift":
        """The diffusion of a run (:class:`seeclear_lite.config.DiffusionConfig`)."""
        return cls(T=cfg.T, kappa=cfg.kappa, power=cfg.eta_power, patch_size=cfg.patch_size,
                   sigma_b2_max=cfg.sigma_b2_max, min_noise_level=cfg.min_noise_level, etas_end=cfg.etas_end)

    def scale_model_input(self, x_t: torch.Tensor, t) -> torch.Tensor:
        """x_t / (3 kappa sqrt(eta_t) + 1): ResShift's pixel-mode input scaling (the 3-sigma rule keeps the
        network's input about [-1, 1] at every noise level). ``t`` LongTensor[B], 1-based."""
        tt = _as_timesteps(t, 1, self.T, x_t.shape[0])
        scale = 3.0 * self.kappa * self.eta.sqrt() + 1.0                         # [T+1], float64, index = t
        return x_t / _pick(scale, tt, x_t)

    def __repr__(self) -> str:
        return (f"BlurringResShift(T={self.T}, kappa={self.kappa}, power={self.power}, "
                f"patch_size={self.patch_size}, sigma_b2_max={self.sigma_b2_max})")

    # ----------------------------------------------------------------------------------------- checks
    def _check_frames(self, x: torch.Tensor, name: str) -> None:
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}.")
        if x.dim() not in (4, 5):
            raise ValueError(f"{name} must be [B, C, H, W] or [B, N, C, H, W], got shape {tuple(x.shape)}; "
                             f"add a batch dimension with x[None] if needed.")
        if not x.dtype.is_floating_point:
            raise TypeError(f"{name} must be a floating-point tensor in [-1, 1], got dtype {x.dtype}; "
                            f"convert with seeclear_lite.utils.ranges.to_diffusion_range(x.float() / 255).")
        check_patch_shape(x, self.patch_size)

    def _check_same_shape(self, **tensors) -> None:
        shapes = {k: tuple(v.shape) for k, v in tensors.items()}
        if len(set(shapes.values())) != 1:
            raise ValueError(f"these tensors must have the same shape: {shapes}.")

    # ------------------------------------------------------------------------------ Eq. 2: patch DCT
    def to_freq(self, x: torch.Tensor) -> torch.Tensor:
        """Eq. 2: u = V^T x, the orthonormal DCT-II of every p x p patch, in place (same shape as x)."""
        return patch_dct(x, self.patch_size)

    def from_freq(self, u: torch.Tensor) -> torch.Tensor:
        """Inverse of Eq. 2: x = V u."""
        return patch_idct(u, self.patch_size)

    # ------------------------------------------------------------------- Eqs. 1, 21-22: the patch blur
    def lam_map(self, h: int, w: int) -> torch.Tensor:
        """Lambda tiled over an H x W frequency tensor (float64 [H, W]): entry (i, j) = Lambda[i % p, j % p]."""
        p = self.patch_size
        return self.lam.repeat(h // p, w // p)

    def _decay(self, tau: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
        """exp(Lambda tau) for ONE patch (float64, CPU): tau 0-dim -> [p, p]; tau [B] -> [B, 1, .., p, p]
        with ref.dim() dims. :meth:`_tile` spreads it over the frame on the target device."""
        if tau.dim() == 0:
            return torch.exp(self.lam * tau)
        return torch.exp(self.lam * tau[:, None, None]).reshape(tau.shape[0], *([1] * (ref.dim() - 3)),
                                                                self.patch_size, self.patch_size)

    def _tile(self, c: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
        """Move a per-patch coefficient (float64) to ref's dtype/device, then repeat it over ref's patches
        (coefficients without patch dims, e.g. a per-step variance, are only moved)."""
        c = c.to(dtype=ref.dtype, device=ref.device)
        p = self.patch_size
        if c.dim() >= 2 and c.shape[-2:] == (p, p):
            c = c.repeat(*([1] * (c.dim() - 2)), ref.shape[-2] // p, ref.shape[-1] // p)
        return c

    def decay(self, t, ref: torch.Tensor) -> torch.Tensor:
        """D_t = exp(Lambda tau_t) per frequency, for t in 0..T, shaped to broadcast against ``ref``
        (in ``ref``'s dtype/device). t int -> [H, W]; t LongTensor[B] -> [B, 1, ..., H, W]."""
        check_patch_shape(ref, self.patch_size)
        return self._decay_at(_as_timesteps(t, 0, self.T, ref.shape[0]), ref)

    def _decay_at(self, tt: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
        """:meth:`decay` for steps ``tt`` already checked (a CPU LongTensor)."""
        if tt.dim() == 1 and ref.dim() < 3:
            raise ValueError(f"a per-sample t (LongTensor[B]) needs a tensor shaped [B, ..., H, W], "
                             f"got {tuple(ref.shape)}; pass an int t instead.")
        return self._tile(self._decay(self.tau[tt], ref), ref)

    def blur(self, x: torch.Tensor, t) -> torch.Tensor:
        """D_t applied in the pixel domain: V D_t V^T x (Eqs. 1, 22 with tau_t), t int or LongTensor[B] in 0..T.

        With an int ``t`` any [..., H, W] tensor works; a LongTensor[B] needs x = [B, ...]."""
        return self.from_freq(self.decay(t, x) * self.to_freq(x))

    # ------------------------------------------------------------------ Eqs. 3-4, 25, 29: the marginal
    def marginal_mean(self, u_0: torch.Tensor, u_l: torch.Tensor, t) -> torch.Tensor:
        """m_t(u_0) = (1 - eta_t) D_t u_0 + eta_t u_l (Eq. 25's mean), frequency domain, t in 0..T (m_0 = u_0)."""
        return self._marginal_mean(u_0, u_l, _as_timesteps(t, 0, self.T, u_0.shape[0]))

    def _marginal_mean(self, u_0: torch.Tensor, u_l: torch.Tensor, tt: torch.Tensor) -> torch.Tensor:
        check_patch_shape(u_0, self.patch_size)
        eta = _pick(self.eta, tt, u_0)
        return (1 - eta) * self._decay_at(tt, u_0) * u_0 + eta * u_l

    def marginal_std(self, t, ref: torch.Tensor) -> torch.Tensor:
        """kappa sqrt(eta_t) (Eq. 29's standard deviation), shaped like :func:`extract`'s output."""
        return self.kappa * torch.sqrt(extract(self.eta, t, ref))

    def q_sample(self, x0: torch.Tensor, y: torch.Tensor, t, noise: torch.Tensor | None = None) -> torch.Tensor:
        """Eq. 25 in the pixel domain: x_t = V[(1 - eta_t) D_t V^T x0 + eta_t V^T y] + kappa sqrt(eta_t) noise.

        ``noise`` is a standard normal tensor shaped like x0 (drawn with torch.randn if None). Since V is
        orthonormal, V eps is again standard normal, so this is Eq. 25's u_t mapped back to pixels.
        t in 1..T (int or LongTensor[B])."""
        self._check_frames(x0, "x0")
        self._check_frames(y, "y")
        self._check_same_shape(x0=x0, y=y)
        tt = _as_timesteps(t, 1, self.T, x0.shape[0])
        if noise is None:
            noise = torch.randn_like(x0)
        else:
            self._check_same_shape(x0=x0, noise=noise)
        u_t = self._marginal_mean(self.to_freq(x0), self.to_freq(y), tt)
        return self.from_freq(u_t) + self.kappa * torch.sqrt(_pick(self.eta, tt, x0)) * noise

    # ------------------------------------------------------------------ Eqs. 30-36: the reverse step
    def posterior_coefficients(self, t, form: str = "paper", h: int | None = None, w: int | None = None,
                               s: int | None = None):
        """The posterior as float64 coefficient maps: mean = c_t u_t + c_0 u_0 + c_l u_l, variance var.

        ``t`` is an int in 2..T and ``s`` the step the chain goes to (default t - 1; any 1..t-1 for a
        re-spaced chain); returns (c_t, c_0, c_l, var), each a float64 tensor [H, W] (default H = W = p,
        one patch; every patch has the same coefficients). See the module docstring for the forms."""
        if form not in POSTERIOR_FORMS:
            raise ValueError(f"form must be one of {POSTERIOR_FORMS}, got {form!r}.")
        tt = _as_timesteps(t, 2, self.T, None)
        if tt.dim() != 0:
            raise ValueError("posterior_coefficients takes a single int t; use posterior() for a batch of steps.")
        ss = self._previous(tt, s, None)
        ref = torch.empty(h or self.patch_size, w or self.patch_size, dtype=torch.float64)
        check_patch_shape(ref, self.patch_size)
        return tuple(self._tile(c, ref).expand(ref.shape).clone() for c in self._coefficients(tt, ss, form, ref))

    def _previous(self, tt: torch.Tensor, s, batch: int | None) -> torch.Tensor:
        """The checked step ``s`` a reverse step from ``tt`` goes to: t - 1 when None, else 1 <= s < t."""
        if s is None:
            return tt - 1
        ss = _as_timesteps(s, 1, self.T - 1, batch)
        if bool((ss >= tt).any()):
            raise ValueError(f"the reverse step goes from t to an earlier step s < t, got t={tt.tolist()}, "
                             f"s={ss.tolist()}.")
        return ss

    def _coefficients(self, tt: torch.Tensor, ss: torch.Tensor, form: str, ref: torch.Tensor):
        """float64 (c_t, c_0, c_l, var) of the step tt -> ss (0-dim or [B]; ss = tt - 1 for the paper's
        chain), for one patch ([p, p] or [B, 1, .., p, p]) or per step only (no patch dims); :meth:`_tile`
        spreads them over a frame. Every formula holds for any s < t with eta_{t-1}, D_{t-1} read at s:
        the transition from s to t of each form has the same shape as the one-step transition."""
        def per_batch(v):
            return v if v.dim() == 0 else v.reshape(-1, *([1] * (ref.dim() - 1)))

        eta_t, eta_s = per_batch(self.eta[tt]), per_batch(self.eta[ss])        # eta_t, eta_{t-1} (or eta_s)
        alpha_t = eta_t - eta_s
        k2 = self.kappa ** 2
        d_t = self._decay(self.tau[tt], ref)                    # D_t
        d_s = self._decay(self.tau[ss], ref)                    # D_{t-1}
        # Eq. 36 with e^Lambda := D_t / D_{t-1} = exp(Lambda (tau_t - tau_{t-1}))
        lambda_t = (1 - eta_t) / (1 - eta_s) * self._decay(self.tau[tt] - self.tau[ss], ref)
        if form == "paper":
            den = lambda_t ** 2 * eta_s + alpha_t
            c_t = lambda_t * eta_s / den                                              # Eq. 34, u_t term
            c_0 = alpha_t * (1 - eta_s) * d_s / den                                   # Eq. 34, u_0 term
            c_l = (lambda_t ** 2 * eta_s ** 2 - lambda_t * eta_s * eta_t + alpha_t * eta_s) / den  # "+" fixed
            var = k2 * alpha_t * eta_s / den                                          # Eq. 35
        elif form == "repaired":
            # mean = m_{t-1}(u_0) + (lambda_t eta_{t-1}/eta_t)(u_t - m_t(u_0)), expanded per term
            r = lambda_t * eta_s / eta_t
            c_t = r
            c_0 = (1 - eta_s) * d_s - r * (1 - eta_t) * d_t
            c_l = eta_s - r * eta_t
            var = k2 * eta_s * (eta_t - lambda_t ** 2 * eta_s) / eta_t               # beta_t = eta_t - lambda_t^2 eta_{t-1}
        else:
            # mean = m_{t-1}(u_0) + (eta_{t-1}/eta_t)(u_t - m_t(u_0)), expanded per term
            r = eta_s / eta_t
            c_t = r
            c_0 = (1 - eta_s) * d_s - r * (1 - eta_t) * d_t
            c_l = eta_s - r * eta_t                                                  # = 0 up to rounding
            var = k2 * alpha_t * r                                                   # ResShift's variance
        return c_t, c_0, c_l, var

    def posterior(self, u_t: torch.Tensor, u_0: torch.Tensor, u_l: torch.Tensor, t, form: str = "paper",
                  s=None):
        """q(u_{t-1} | u_t, u_0, u_l) -> (mean, var) in the frequency domain, for t in 2..T (Eqs. 30-36).

        ``form="paper"``: exact Gaussian conditioning of Eq. 31 with Eq. 32 (Eqs. 34-36 re-derived, Eq. 34's
        sign fixed; ``e^Lambda`` read as D_t / D_{t-1}). ``form="consistent"``: the posterior whose chain has
        Eq. 29 as its marginal at every t (ResShift's at sigma_B = 0). ``form="repaired"``: Eq. 31's lambda_t kept,
        its noise chosen so that Eq. 29 holds at every t (module docstring). ``s`` (default t - 1) is the step
        the chain goes to: q(u_s | u_t, u_0, u_l) for a re-spaced chain. ``var`` broadcasts against ``mean``
        ([H, W] or [B, 1, ..., H, W] for "paper" and "repaired", [] or [B, 1, ..., 1] for "consistent"; all in
        u_t's dtype)."""
        if form not in POSTERIOR_FORMS:
            raise ValueError(f"form must be one of {POSTERIOR_FORMS}, got {form!r}.")
        for name, v in (("u_t", u_t), ("u_0", u_0), ("u_l", u_l)):
            self._check_frames(v, name)
        self._check_same_shape(u_t=u_t, u_0=u_0, u_l=u_l)
        tt = _as_timesteps(t, 2, self.T, u_t.shape[0])
        ss = self._previous(tt, s, u_t.shape[0])
        c_t, c_0, c_l, var = self._coefficients(tt, ss, form, u_t)
        c_t, c_0, c_l, var = (self._tile(c, u_t) for c in (c_t, c_0, c_l, var))
        return c_t * u_t + c_0 * u_0 + c_l * u_l, var

    # ------------------------------------------------------------------ Algorithm 1: the sampler
    def timesteps(self, steps: int | None = None) -> list[int]:
        """The steps at which a reverse chain calls the network, from T down to 1: all T (``steps=None``),
        or ``steps`` of them re-spaced as ResShift and DDIM re-space a schedule (evenly spaced and rounded;
        T and 1 always kept). ``steps=1`` is ``[T]``: the network's one-step estimate x0_hat(x_T)."""
        if steps is None:
            steps = self.T
        if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= self.T:
            raise ValueError(f"steps must be an int in 1..T={self.T} (network calls of the chain), got {steps!r}.")
        if steps == 1:
            return [self.T]
        return [int(round(v)) for v in torch.linspace(self.T, 1, steps, dtype=torch.float64).tolist()]

    def prior_sample(self, y: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """u_T = u_l + kappa sqrt(eta_T) eps with eps drawn in the frequency domain (Eq. 6, ResShift's
        variance kappa^2 eta_T; Algorithm 1 line 2 prints unit variance)."""
        self._check_frames(y, "y")
        eps = torch.randn(y.shape, generator=generator, dtype=y.dtype, device=y.device)
        return self.to_freq(y) + self.kappa * math.sqrt(float(self.eta[-1])) * eps

    def step(self, u_t: torch.Tensor, u0_hat: torch.Tensor, u_l: torch.Tensor, t: int, s: int | None = None,
             form: str = "consistent", generator: torch.Generator | None = None,
             noise: torch.Tensor | None = None) -> torch.Tensor:
        """One reverse step, u_t -> u_s ~ q(u_s | u_t, u0_hat, u_l) (Algorithm 1's inner update; Eqs. 30-36).

        Everything is in the frequency domain (``u = V^T x``; :meth:`to_freq` of the network's x0_hat gives
        ``u0_hat``). ``t`` is an int in 1..T, ``s`` the step to go to (default t - 1; a re-spaced chain jumps,
        see :meth:`timesteps`). ``s = 0`` ends the chain: it returns ``u0_hat`` itself. The noise is drawn from
        ``generator`` (or given as ``noise``, standard normal, shaped like u_t)."""
        if s is None:
            s = t - 1
        if s == 0:
            _as_timesteps(t, 1, self.T, None)
            return u0_hat
        mean, var = self.posterior(u_t, u0_hat, u_l, t, form, s=s)
        if noise is None:
            noise = torch.randn(u_t.shape, generator=generator, dtype=u_t.dtype, device=u_t.device)
        return mean + var.sqrt() * noise

    @torch.no_grad()
    def sample(self, model: Callable, y: torch.Tensor, form: str = "consistent",
               generator: torch.Generator | None = None, *, steps=None, x_start: torch.Tensor | None = None,
               progress: bool = False, clip: bool = True, callback: Callable | None = None) -> torch.Tensor:
        """The reverse loop (Algorithm 1, diffusion part) over :meth:`step` -> the x0 estimate in pixels, [-1, 1].

        ``model(x_t, y, t) -> x0_hat`` receives pixel-domain tensors shaped like ``y`` and ``t`` as a
        LongTensor[B] (1-based) and predicts the HR frames (x0-prediction, clamped to [-1, 1] when
        ``clip``). ``y`` is the LR frames upsampled to HR size (see :meth:`upsample_lr`). ``steps``: None (all
        T steps), an int k (k network calls, :meth:`timesteps`), or a descending list of steps ending anywhere
        >= 1; ``x_start`` (pixels) starts the chain at the list's first step instead of the prior at T (e.g. a
        re-noised estimate, ``q_sample(x0_hat, y, t)``). ``generator`` (on y's device) makes the draws
        reproducible; ``progress`` shows a tqdm bar; ``callback(t, x_t, x0_hat)`` is called at every step."""
        if form not in POSTERIOR_FORMS:
            raise ValueError(f"form must be one of {POSTERIOR_FORMS}, got {form!r}.")
        if not callable(model):
            raise TypeError(f"model must be a callable model(x_t, y, t) -> x0_hat, got {type(model).__name__}.")
        self._check_frames(y, "y")
        ts = self.chain_steps(steps, x_start is not None)
        u_l = self.to_freq(y)
        if x_start is None:
            u = self.prior_sample(y, generator)
        else:
            self._check_same_shape(x_start=x_start, y=y)
            u = self.to_freq(x_start.to(y.dtype))
        pairs = list(zip(ts, ts[1:] + [0]))
        if progress:
            from tqdm.auto import tqdm

            pairs = tqdm(pairs, desc="sampling", leave=False)
        for t, s in pairs:
            x_t = self.from_freq(u)
            t_batch = torch.full((y.shape[0],), t, dtype=torch.long, device=y.device)
            x0_hat = model(x_t, y, t_batch)
            if not isinstance(x0_hat, torch.Tensor) or x0_hat.shape != y.shape:
                got = tuple(x0_hat.shape) if isinstance(x0_hat, torch.Tensor) else type(x0_hat).__name__
                raise ValueError(f"model(x_t, y, t) must return x0_hat shaped like y {tuple(y.shape)}, got {got}.")
            x0_hat = x0_hat.to(y.dtype)
            if clip:
                x0_hat = x0_hat.clamp(-1.0, 1.0)
            if callback is not None:
                callback(t, x_t, x0_hat)
            if s == 0:
                return x0_hat
            u = self.step(u, self.to_freq(x0_hat), u_l, t, s, form, generator)
        raise AssertionError("unreachable: the loop returns at its last step")

    def chain_steps(self, steps=None, started: bool = False) -> list[int]:
        """The checked list of network steps of a chain: :meth:`timesteps` of an int (or None), or a given
        strictly descending list in 1..T (which must start at T unless the chain is ``started`` elsewhere)."""
        if steps is None or isinstance(steps, int):
            return self.timesteps(steps)
        ts = [int(v) for v in steps]
        if not ts or any(not 1 <= v <= self.T for v in ts) or any(a <= b for a, b in zip(ts, ts[1:])):
            raise ValueError(f"steps must be strictly descending steps in 1..T={self.T}, got {list(steps)}.")
        if ts[0] != self.T and not started:
            raise ValueError(f"a chain from the prior starts at t = T = {self.T}, got steps starting at {ts[0]}; "
                             f"give x_start (x at step {ts[0]}) to start elsewhere.")
        return ts

    # ------------------------------------------------------------------ y: the upsampled LR frames
    def upsample_lr(self, lr: torch.Tensor) -> torch.Tensor:
        """The LR frames upsampled to HR size (``y``): ``self.upsampler(lr)`` if one was given, else
        MATLAB-style bicubic x``scale`` (``seeclear_lite.degradation.imresize``; ResShift upsamples with
        bicubic too). No other upsampler is substituted silently."""
        if self.upsampler is not None:
            return self.upsampler(lr)
        return imresize(lr, self.scale)
