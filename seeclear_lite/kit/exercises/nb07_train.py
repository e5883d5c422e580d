"""Exercises of notebook 07 (training): the learning rate of a stage, the EMA of the weights, and an experiment.

7.1 ``fn(step, total, warmup, min_factor) -> factor``: linear warm-up then cosine annealing (Sec. 4.1), checked
    against ``seeclear_lite.training.cosine_lr_factor``.
7.2 ``fn(shadow, weights, n, decay) -> new shadow``: one EMA update with the kit's warm-up, checked against
    ``seeclear_lite.training.EMA``.
7.3 ``fn() -> list of "key=value"``: the overrides that turn the kit's diffusion into plain ResShift (σ²_B = 0)
    and change nothing else; the notebook then trains both for a few steps and compares (an experiment).
"""

from __future__ import annotations

import math

import torch

from ...config import config_differences, get_config
from ...data.samples import VALIDATION_CLIP, load_sample_clip
from ...diffusion import BlurringResShift
from ...training import EMA, cosine_lr_factor
from ...training.checkpoint import SHIPPED_CHECKPOINT
from ...training.losses import charbonnier_loss
from ...utils.ranges import to_diffusion_range
from ..lab import busiest_box
from ..trained_views import load_shipped
from .core import ExerciseError, call, check_choice, exercise, passed, planted, reference

NB = "07_train"

# --------------------------------------------------------------------------------------------------------
# 7.1 the learning rate of a stage
# --------------------------------------------------------------------------------------------------------
_LR_CASES = [(s, 100, 10, 0.0) for s in (0, 1, 5, 9, 10, 11, 50, 99, 100, 150)] + \
            [(s, 40, 0, 0.1) for s in (0, 1, 20, 39, 40)] + [(s, 7, 7, 0.0) for s in (0, 3, 6, 7)]


@exercise("7.1", "the learning rate of a stage", notebook=NB, minutes=10)
def check_lr_factor(fn):
    """Checks ``fn(step, total, warmup, min_factor)`` on steps inside and after the warm-up and past the end."""
    for step, total, warmup, floor in _LR_CASES:
        got = call("7.1", fn, step, total, warmup, floor)
        want = cosine_lr_factor(step, total, warmup, floor)
        if not isinstance(got, (int, float)) or isinstance(got, bool) or not math.isfinite(got):
            raise ExerciseError(f"Exercise 7.1: return a number (the factor the base learning rate is multiplied "
                                f"by), got {got!r}.")
        if abs(got - want) <= 1e-12:
            continue
        where = f"step {step} of {total} (warm-up {warmup}, floor {floor})"
        if step < warmup and abs(got - step / warmup) < 1e-12:
            raise ExerciseError(f"Exercise 7.1 ({where}): the warm-up starts at 0: step 0 would not train at all. "
                                f"Ramp as (step + 1) / warmup, so the first step already has 1 / warmup.")
        if step >= warmup and abs(got - (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(1, step / total))))) < 1e-12:
            raise ExerciseError(f"Exercise 7.1 ({where}): the cosine starts at step 0; it must start where the "
                                f"warm-up ends: progress = (step - warmup) / (total - warmup).")
        if step >= warmup and abs(got - 0.5 * (1 + math.cos(math.pi * min(1, (step - warmup) / max(1, total - warmup))))) < 1e-12:
            raise ExerciseError(f"Exercise 7.1 ({where}): the floor min_factor is missing: anneal from 1 to min_factor, "
                                f"factor = min_factor + (1 - min_factor) * (1 + cos(pi * progress)) / 2.")
        raise ExerciseError(f"Exercise 7.1 ({where}): factor {got:.6g}, expected {want:.6g}. Hint: (step + 1) / "
                            f"warmup during the warm-up, then a half cosine from 1 to min_factor, constant after total.")
    passed("7.1", f"{len(_LR_CASES)} steps of three schedules (with and without warm-up and floor)")


@reference("7.1")
def _lr_ref(step, total, warmup, min_factor):
    return cosine_lr_factor(step, total, warmup, min_factor)


@planted("7.1", "warm-up from zero", expect="starts at 0")
def _lr_from_zero(step, total, warmup, min_factor):
    return step / warmup if step < warmup else cosine_lr_factor(step, total, warmup, min_factor)


@planted("7.1", "cosine over the warm-up too", expect="must start where the warm-up ends")
def _lr_cos_from_zero(step, total, warmup, min_factor):
    if step < warmup:
        return (step + 1) / warmup
    return min_factor + (1 - min_factor) * 0.5 * (1 + math.cos(math.pi * min(1, step / total)))


@planted("7.1", "no floor", expect="floor min_factor is missing")
def _lr_no_floor(step, total, warmup, min_factor):
    if step < warmup:
        return (step + 1) / warmup
    return 0.5 * (1 + math.cos(math.pi * min(1, (step - warmup) / max(1, total - warmup))))


# --------------------------------------------------------------------------------------------------------
# 7.2 the EMA of the weights
# --------------------------------------------------------------------------------------------------------
def _ema_with(decay_of_n, shadow, weights, n):
    d = decay_of_n(n)
    return {k: d * shadow[k] + (1 - d) * weights[k] for k in shadow}


@exercise("7.2", "one update of the EMA of the weights", notebook=NB, minutes=10)
def check_ema_update(fn):
    """Checks ``fn(shadow: dict, weights: dict, n, decay) -> dict``: d = min(decay, (1 + n) / (10 + n)), then
    shadow <- d * shadow + (1 - d) * weights for every tensor; against :class:`seeclear_lite.training.EMA` (which
    keeps its shadow in float32, hence the 1e-6 tolerance)."""
    g = torch.Generator().manual_seed(0)
    for n, decay in ((0, 0.999), (5, 0.9), (1000, 0.999), (20000, 0.999)):
        model = torch.nn.Linear(3, 2)
        ema = EMA(model, decay)
        shadow = {k: v.clone() for k, v in ema.state_dict().items()}
        with torch.no_grad():
            for p in model.parameters():
                p.add_(torch.randn(p.shape, generator=g))
        weights = {k: v.detach().clone().double() for k, v in model.state_dict().items()}
        got = call("7.2", fn, {k: v.clone() for k, v in shadow.items()}, weights, n, decay)
        ema.update(model, n)
        want = {k: v.double() for k, v in ema.state_dict().items()}
        if not isinstance(got, dict) or set(got) != set(want):
            raise ExerciseError(f"Exercise 7.2: return a dict with the same keys as the shadow ({sorted(want)}).")
        if all(torch.allclose(got[k].double(), want[k], atol=1e-6, rtol=0) for k in want):
            continue
        wrong = {"no warm-up": _ema_with(lambda m: decay, shadow, weights, n),
                 "swapped": _ema_with(lambda m: 1 - min(decay, (1 + m) / (10 + m)), shadow, weights, n)}
        for name, w in wrong.items():
            if all(torch.allclose(got[k].double(), w[k], atol=1e-6, rtol=0) for k in want):
                raise ExerciseError({
                    "no warm-up": f"Exercise 7.2 (update n = {n}): the warm-up is missing: with d = decay from the "
                                  f"start, the average remembers the random initialisation for ~1/(1 - decay) steps. "
                                  f"Use d = min(decay, (1 + n) / (10 + n)).",
                    "swapped": f"Exercise 7.2 (update n = {n}): d and 1 - d are swapped: the shadow keeps d of ITSELF "
                               f"and takes 1 - d of the new weights."}[name])
        raise ExerciseError(f"Exercise 7.2 (update n = {n}, decay {decay}): the new shadow is wrong. Hint: d = "
                            f"min(decay, (1 + n) / (10 + n)); shadow[k] = d * shadow[k] + (1 - d) * weights[k].")
    passed("7.2", "four updates (n = 0, 5, 1000, 20000) against seeclear_lite.training.EMA")


@reference("7.2")
def _ema_ref(shadow, weights, n, decay):
    return _ema_with(lambda m: min(decay, (1 + m) / (10 + m)), shadow, weights, n)


@planted("7.2", "no warm-up", expect="warm-up is missing")
def _ema_no_warmup(shadow, weights, n, decay):
    return _ema_with(lambda m: decay, shadow, weights, n)


@planted("7.2", "d and 1 - d swapped", expect="swapped")
def _ema_swapped(shadow, weights, n, decay):
    return _ema_with(lambda m: 1 - min(decay, (1 + m) / (10 + m)), shadow, weights, n)


# --------------------------------------------------------------------------------------------------------
# 7.3 an experiment: the kit as plain ResShift
# --------------------------------------------------------------------------------------------------------
@exercise("7.3", "the overrides that make the kit plain ResShift", notebook=NB, minutes=10)
def check_resshift_overrides(fn, preset: str = "tiny"):
    """Checks ``fn() -> ["key=value", ...]``: applied to ``preset``, the diffusion has no blur at any step
    (D_t = 1 for every frequency and t) and nothing else of the configuration changes."""
    overrides = call("7.3", fn)
    if not isinstance(overrides, (list, tuple)) or not all(isinstance(o, str) for o in overrides):
        raise ExerciseError(f"Exercise 7.3: return a list of 'key=value' strings, got {overrides!r}.")
    try:
        cfg = get_config(preset, list(overrides))
    except ValueError as err:
        raise ExerciseError(f"Exercise 7.3: the overrides are not a valid configuration: {err}") from None
    d = BlurringResShift.from_config(cfg.diffusion)
    x = torch.randn(1, 3, 8, 8, dtype=torch.float64)
    blurred = max(float((d.blur(x, t) - x).abs().max()) for t in range(1, d.T + 1))
    if blurred > 1e-12:
        raise ExerciseError(f"Exercise 7.3: the diffusion still blurs (max |D_t x - x| = {blurred:.3g}): the blur's "
                            f"strength is diffusion.sigma_b2_max (σ²_B of Table 4); ResShift is σ²_B = 0.")
    diff = config_differences(get_config(preset).to_dict(), cfg.to_dict())
    other = [d_ for d_ in diff if not d_.startswith("diffusion.sigma_b2_max")]
    if other:
        raise ExerciseError(f"Exercise 7.3: the overrides change more than the blur: {other}. An experiment compares "
                            f"two runs that differ in one thing only.")
    passed("7.3", f"{list(overrides)}: no blur at any step, the rest of {preset!r} unchanged")


@reference("7.3")
def _resshift_ref():
    return ["diffusion.sigma_b2_max=0"]


@planted("7.3", "blur kept", expect="still blurs")
def _resshift_blur_kept():
    return ["diffusion.kappa=2.0"]


@planted("7.3", "two changes", expect="change more than the blur")
def _resshift_two_changes():
    return ["diffusion.sigma_b2_max=0", "optim.lr=1e-3"]


# --------------------------------------------------------------------------------------------------------
# 7.4 (prediction) which step t is hardest to train
# --------------------------------------------------------------------------------------------------------
_LOSS_BY_T: dict = {}


@torch.no_grad()
def loss_by_t(draws: int = 2) -> dict[int, float]:
    """The shipped model's Charbonnier loss (the training loss, Sec. 4.1) at every step t, averaged over ``draws``
    noise draws on a 64 x 64 window of the committed held-out clip: {t: loss}."""
    if "loss" not in _LOSS_BY_T:
        if not SHIPPED_CHECKPOINT.is_file():
            raise ExerciseError(f"Exercise 7.4 measures the shipped model, and {SHIPPED_CHECKPOINT} is missing.")
        model, cfg = load_shipped("full")
        d = BlurringResShift.from_config(cfg.diffusion)
        gt = load_sample_clip(VALIDATION_CLIP, "GT", cfg.data.clip_length)
        lr = load_sample_clip(VALIDATION_CLIP, "BIx4", cfg.data.clip_length)
        by, bx, _ = busiest_box(gt[0], 64)
        y0, x0 = min(by // 4, lr.shape[-2] - 16), min(bx // 4, lr.shape[-1] - 16)
        lr = lr[None, :, :, y0:y0 + 16, x0:x0 + 16]
        x0_true = to_diffusion_range(gt[None, :, :, 4 * y0:4 * y0 + 64, 4 * x0:4 * x0 + 64])
        y = d.upsample_lr(to_diffusion_range(lr))
        cond = model.condition(lr, y)
        gen = torch.Generator().manual_seed(0)
        out = {}
        for t in range(1, d.T + 1):
            tt = torch.full((1,), t, dtype=torch.long)
            total = 0.0
            for _ in range(draws):
                x_t = d.q_sample(x0_true, y, tt, noise=torch.randn(y.shape, generator=gen))
                total += charbonnier_loss(model(d.scale_model_input(x_t, t), y, tt, cond).float(), x0_true).item()
            out[t] = total / draws
        _LOSS_BY_T["loss"] = out
    return dict(_LOSS_BY_T["loss"])


def _hardest(loss: dict) -> str:
    T = max(loss)
    lo, hi = loss[1], loss[T]
    return "c" if hi > 1.05 * lo else "a" if lo > 1.05 * hi else "b"


@exercise("7.4", "predict which step t is hardest", NB, minutes=5)
def check_hardest_step(fn):
    """``fn() -> "a" | "b" | "c"``: the trained network's loss is largest at (a) t = 1, (b) about the same at every t
    (within 5 %), (c) t = T. The check measures the shipped model's loss at every t."""
    call("7.4", fn)
    loss = loss_by_t()
    T = max(loss)
    why = {"a": "at t = 1 the input x_1 is the true frame plus a little blur and noise: x̂0 is almost given.",
           "b": "the input changes from nearly the answer (t = 1) to the LR frame plus noise (t = T): the task does too.",
           "c": "at t = T the input is the upsampled LR frame plus the most noise: the network must invent everything the "
                "LR frame lost, so its x̂0 is the blurriest (the MMSE-like guess) and its loss the largest."}
    check_choice("7.4", fn, _hardest(loss), why,
                 f"loss {loss[1]:.4f} at t = 1, {loss[(1 + T) // 2]:.4f} at t = {(1 + T) // 2}, {loss[T]:.4f} at t = {T}")


@reference("7.4")
def _hardest_reference():
    return _hardest(loss_by_t())


@planted("7.4", "not a letter", expect="return one of")
def _hardest_word():
    return "the last one"
