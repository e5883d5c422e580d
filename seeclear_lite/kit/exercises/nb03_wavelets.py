"""Exercises of notebook 03 (wavelets, Eq. 7): the one-level orthonormal Haar DWT in the kit's band-major
order, a prediction of the share of a real frame's energy in LL, and the multi-level Mallat pyramid, checked against
``seeclear_lite.wavelet`` in float64 and the kit's sample clips."""

from __future__ import annotations

import math

import torch

from ...data import list_frames, read_image
from ...data.samples import list_sample_clips, sample_clip_dir
from ...wavelet import dwt2, wavedec2
from .core import (ExerciseError, call, check_choice, compare, diagnose, exercise, fresh_generator, passed, planted,
                   reference)

__all__ = ["check_haar_dwt", "check_ll_share_prediction", "check_haar_pyramid"]


def _random_frames(g: torch.Generator, multiple: int) -> list[torch.Tensor]:
    """float64 tensors [C, H, W], [B, C, H, W], [B, N, C, H, W] with H, W multiples of ``multiple``."""
    leads = [(3,), (2, 3), (2, 2, 4), (1,)]
    out = []
    for lead in leads:
        h = multiple * int(torch.randint(1, 4, (1,), generator=g))
        w = multiple * int(torch.randint(1, 4, (1,), generator=g))
        out.append(torch.randn(*lead, h, w, generator=g, dtype=torch.float64))
    return out


# --------------------------------------------------------------------------- 3.1 one-level Haar DWT
def _blocks(x):
    return x[..., 0::2, 0::2], x[..., 0::2, 1::2], x[..., 1::2, 0::2], x[..., 1::2, 1::2]


def _dwt_variants(x: torch.Tensor) -> list:
    a, b, c, d = _blocks(x)
    ll, lh, hl, hh = a + b + c + d, a + b - c - d, a - b + c - d, a - b - c + d
    cat = lambda *bands: torch.cat(bands, dim=-3)  # noqa: E731
    return [
        (cat(ll, lh, hl, hh) / 4, "every band is divided by 4 (LL is then the 2x2 mean); the orthonormal Haar "
                                  "divides by 2: LL = (a + b + c + d) / 2, which keeps the energy."),
        (cat(ll, lh, hl, hh), "the sums are not scaled: each band needs the factor 1/2, "
                              "e.g. LL = (a + b + c + d) / 2."),
        (cat(ll, lh, hl, hh) / math.sqrt(2), "you scaled by 1/sqrt(2) (the 1-D Haar factor); in 2-D it is applied "
                                             "twice, so the factor is 1/2."),
        (cat(ll, hl, lh, hh) / 2, "LH and HL are swapped: LH = (a + b - c - d) / 2 is top minus bottom (pywt cH), "
                                  "HL = (a - b + c - d) / 2 is left minus right (pywt cV)."),
        (torch.stack([ll, lh, hl, hh], dim=-3).flatten(-4, -3) / 2,
         "the bands are interleaved per channel (LL, LH, HL, HH of channel 0, then channel 1, ...); the kit is "
         "band-major: channels [0:C] = LL of every channel, [C:2C] = LH, [2C:3C] = HL, [3C:4C] = HH."),
        (cat(ll, -lh, -hl, hh) / 2, "LH and HL have the wrong sign: LH = (a + b - c - d) / 2 (top minus bottom), "
                                    "HL = (a - b + c - d) / 2 (left minus right)."),
        (cat(ll, -lh, -hl, -hh) / 2, "the detail bands have the wrong sign: LH = (a + b - c - d) / 2, "
                                     "HL = (a - b + c - d) / 2, HH = (a - b - c + d) / 2."),
    ]


@exercise("3.1", "the one-level Haar DWT", notebook="03_wavelets", minutes=10)
def check_haar_dwt(fn) -> None:
    """Checks ``fn(x [..., C, H, W]) -> [..., 4C, H/2, W/2]`` (bands LL, LH, HL, HH, band-major, orthonormal
    scaling) against ``seeclear_lite.wavelet.dwt2`` on random float64 tensors of several shapes."""
    worst = 0.0
    for x in _random_frames(fresh_generator(), 2):
        got = call("3.1", fn, x.clone())
        want = dwt2(x)
        what = f"the DWT of a tensor of shape {tuple(x.shape)}"
        lead, c, half = tuple(x.shape[:-3]), x.shape[-3], tuple(want.shape[-2:])
        if isinstance(got, torch.Tensor) and tuple(got.shape) in (lead + (4, c) + half, lead + (c, 4) + half):
            raise ExerciseError(f"Exercise 3.1: {what} has shape {tuple(got.shape)}: the four bands are stacked in a "
                                f"new dimension; concatenate them along the channel dim (-3) to get "
                                f"{tuple(want.shape)}.")
        if isinstance(got, torch.Tensor) and got.shape == want.shape and \
                not torch.allclose(got.to(torch.float64), want, atol=1e-12, rtol=0):
            diagnose("3.1", got, what, [v for v in _dwt_variants(x) if not torch.allclose(v[0], want, atol=1e-9)],
                     atol=1e-9)
        worst = max(worst, compare("3.1", got, want, what, atol=1e-12,
                                   hint="per 2x2 block [[a, b], [c, d]]: LL = (a+b+c+d)/2, LH = (a+b-c-d)/2, "
                                        "HL = (a-b+c-d)/2, HH = (a-b-c+d)/2; channels band-major."))
    passed("3.1", f"shapes [C, H, W], [B, C, H, W], [B, N, C, H, W]; max error {worst:.1g}")


@reference("3.1")
def _dwt_reference(x):
    return dwt2(x)


@planted("3.1", "mean instead of orthonormal", expect="divided by 4")
def _dwt_mean(x):
    return dwt2(x) / 2


@planted("3.1", "LH and HL swapped", expect="LH and HL are swapped")
def _dwt_swapped(x):
    ll, lh, hl, hh = torch.chunk(dwt2(x), 4, dim=-3)
    return torch.cat([ll, hl, lh, hh], dim=-3)


@planted("3.1", "channel-major interleaving", expect="band-major")
def _dwt_interleaved(x):
    c = x.shape[-3]
    y = dwt2(x)
    return y.unflatten(-3, (4, c)).transpose(-4, -3).flatten(-4, -3)


@planted("3.1", "no scaling", expect="not scaled")
def _dwt_unscaled(x):
    return 2 * dwt2(x)


# ------------------------------------------------ 3.2 prediction: the share of a real frame's energy in LL
def _ll_share_measured() -> tuple[str, str]:
    """(letter, evidence): the share of the energy (sum of squares) in the one-level LL band of the first frame of
    every sample clip (real footage shipped with the kit, values in [0, 1]), with and without each channel's mean."""
    shares, centred = [], []
    for clip in list_sample_clips():
        x = read_image(list_frames(sample_clip_dir(clip))[0]).to(torch.float64)
        for frame, out in ((x, shares), (x - x.mean(dim=(-2, -1), keepdim=True), centred)):
            energy = dwt2(frame).pow(2).flatten(-2).sum(-1).reshape(4, -1).sum(-1)      # per band LL, LH, HL, HH
            out.append((energy[0] / energy.sum()).item())
    lowest = min(shares)
    letter = next(k for k, (lo, hi) in {"a": (0.0, 0.375), "b": (0.375, 0.625), "c": (0.625, 0.875),
                                        "d": (0.875, 1.01)}.items() if lo <= lowest < hi)
    evidence = (f"LL holds {min(shares):.1%} to {max(shares):.1%} of the energy of the first frame of each of the "
                f"{len(shares)} sample clips ({min(centred):.1%} to {max(centred):.1%} once each channel's mean is "
                f"removed)")
    return letter, evidence


@exercise("3.2", "predict the share of a frame's energy in LL", notebook="03_wavelets", minutes=5)
def check_ll_share_prediction(fn) -> None:
    """A prediction: ``fn()`` returns "a".."d", the share of a real frame's energy in the one-level LL band; the verdict
    is measured on the first frame of every sample clip."""
    letter, evidence = _ll_share_measured()
    why = {
        "a": "a quarter per band holds for white noise (Section 5: every band of white noise has the same variance); "
             "a natural image's power falls steeply with frequency, so the 2x2 averages carry nearly all of it.",
        "b": "LL carries the 2x2 averages, i.e. the frame's mean and every variation slower than 2 pixels; in a "
             "natural image those hold far more than half of the energy.",
        "c": "even without the mean (the DC part, all in LL) LL keeps most of the energy; with it, nearly all.",
        "d": "natural images put most of their power at low frequencies (and all of the mean in LL), so the three "
             "detail bands hold a few percent at most; yet that small part is the detail super-resolution must "
             "create.",
    }
    check_choice("3.2", fn, letter, why, evidence)


@reference("3.2")
def _ll_share_reference():
    return _ll_share_measured()[0]


@planted("3.2", "predicted (a): a quarter", expect="white noise")
def _ll_share_quarter():
    return "a"


@planted("3.2", "predicted (b): half", expect="far more than half")
def _ll_share_half():
    return "b"


# ---------------------------------------------------------------------- 3.3 the Mallat pyramid
def _check_structure(got, want, levels: int, shape) -> None:
    where = f"(levels = {levels}, input {tuple(shape)})"
    if isinstance(got, torch.Tensor):
        hint = (" This looks like dwt2(x, levels): that splits *every* band again (a wavelet packet); the pyramid "
                "splits only LL." if got.shape[-3] == 4 ** levels * shape[-3] else "")
        raise ExerciseError(f"Exercise 3.3: return a list [LL_k, (LH_k, HL_k, HH_k), ..., (LH_1, HL_1, HH_1)], "
                            f"got a tensor of shape {tuple(got.shape)} {where}.{hint}")
    if not isinstance(got, (list, tuple)):
        raise ExerciseError(f"Exercise 3.3: return a list, got {type(got).__name__} {where}.")
    if len(got) != len(want):
        raise ExerciseError(f"Exercise 3.3: the list has {len(got)} entries, expected levels + 1 = {len(want)} "
                            f"(LL_k first, then one (LH, HL, HH) tuple per level) {where}.")
    if not isinstance(got[0], torch.Tensor):
        raise ExerciseError(f"Exercise 3.3: entry 0 must be the coarsest LL (a tensor), "
                            f"got {type(got[0]).__name__} {where}.")
    for i, level in enumerate(got[1:], start=1):
        if isinstance(level, torch.Tensor) or not isinstance(level, (list, tuple)) or len(level) != 3:
            shape = f" of shape {tuple(level.shape)}" if isinstance(level, torch.Tensor) else ""
            raise ExerciseError(f"Exercise 3.3: entry {i} must be a tuple of three tensors (LH, HL, HH), got "
                                f"{type(level).__name__}{shape} {where}.")
    sizes = [tuple(lv[0].shape[-2:]) for lv in got[1:]]
    want_sizes = [tuple(lv[0].shape[-2:]) for lv in want[1:]]
    if sizes == want_sizes[::-1] and sizes != want_sizes:
        raise ExerciseError(f"Exercise 3.3: the detail levels are finest first (sizes {sizes}); pywt's order is "
                            f"coarsest first: [LL_k, (details of level k), ..., (details of level 1)] {where}.")


@exercise("3.3", "the multi-level Haar pyramid", notebook="03_wavelets", minutes=10)
def check_haar_pyramid(fn) -> None:
    """Checks ``fn(x [..., C, H, W], levels) -> [LL_k, (LH_k, HL_k, HH_k), ..., (LH_1, HL_1, HH_1)]`` (the Mallat
    pyramid: only LL is split again) against ``seeclear_lite.wavelet.wavedec2`` for levels 1..3."""
    worst = 0.0
    g = fresh_generator()
    for levels in (2, 3, 1):
        for x in _random_frames(g, 2 ** levels)[:3]:
            got = call("3.3", fn, x.clone(), levels)
            want = wavedec2(x, levels)
            _check_structure(got, want, levels, x.shape)
            worst = max(worst, compare("3.3", got[0], want[0], f"LL_{levels} (levels = {levels})", atol=1e-12,
                                       hint="split only the low-pass band again at every level."))
            for i, (lv, wv) in enumerate(zip(got[1:], want[1:])):
                k = levels - i
                for name, a, b in zip(("LH", "HL", "HH"), lv, wv):
                    worst = max(worst, compare("3.3", a, b, f"{name}_{k} (entry {i + 1}, levels = {levels})",
                                               atol=1e-12, hint="entry i + 1 holds the details of level k - i "
                                                                "(coarsest first), each (LH, HL, HH)."))
    passed("3.3", f"levels 1, 2, 3 on several shapes; max error {worst:.1g}")


@reference("3.3")
def _pyramid_reference(x, levels):
    return wavedec2(x, levels)


@planted("3.3", "finest level first", expect="finest first")
def _pyramid_reversed(x, levels):
    out = wavedec2(x, levels)
    return [out[0]] + out[1:][::-1]


@planted("3.3", "wavelet packet instead of pyramid", expect="wavelet packet")
def _pyramid_packet(x, levels):
    return dwt2(x, levels)


@planted("3.3", "details concatenated", expect="tuple of three tensors")
def _pyramid_concat(x, levels):
    out = wavedec2(x, levels)
    return [out[0]] + [torch.cat(lv, dim=-3) for lv in out[1:]]
