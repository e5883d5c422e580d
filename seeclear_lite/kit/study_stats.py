"""The statistics of a study: per-row means and intervals over seeds, paired differences against the reference row
with their paired t-test, verdicts, and how many seeds would decide a difference (noncentral-t power); the
Holm–Bonferroni correction for testing many (row, metric) pairs at once (:func:`holm`, :func:`holm_verdicts`); and
a detail-matched control for temporal claims (:func:`detail_energy`, :func:`blur_to_detail`,
:func:`detail_matched_tmae`): tMAE rewards drawing no detail, so a comparison of flicker is made at equal
amounts of detail."""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy import stats

from ..metrics.temporal import temporal_error
from .studies import METRICS, get_study


def interval(values, level: float = 0.95) -> tuple[float, float, float, float]:
    """(mean, sample std, low, high) of a Student-t interval of the mean; std and bounds are nan for n < 2."""
    v = np.asarray(values, dtype=float)
    mean = float(v.mean())
    if len(v) < 2:
        return mean, math.nan, math.nan, math.nan
    sd = float(v.std(ddof=1))
    half = float(stats.t.ppf(0.5 + level / 2, len(v) - 1)) * sd / math.sqrt(len(v))
    return mean, sd, mean - half, mean + half


def summarize(study: str, results: list[dict]) -> dict:
    """The study's JSON: rows with one value per seed and metric, per-row statistics, paired differences
    against the reference row and a verdict per metric ("holds", "fails" or "undecided")."""
    st = get_study(study)
    by_row = {r: sorted((x for x in results if x["row"] == r), key=lambda x: x["seed"]) for r in st.rows}
    rows = []
    for r, runs in by_row.items():
        if not runs:
            continue
        metrics = {k: [x["metrics"][k] for x in runs] for k in METRICS if all(x["metrics"][k] is not None for x in runs)}
        row = {"name": r, "seeds": [x["seed"] for x in runs], "metrics": metrics,
               "stats": {k: dict(zip(("mean", "std", "ci95_low", "ci95_high"), interval(v))) for k, v in metrics.items()},
               "parameters": runs[0]["parameters"], "steps": runs[0]["steps"],
               "train_seconds": [x["train_seconds"] for x in runs], "eval_seconds": [x["eval_seconds"] for x in runs]}
        ref = by_row[st.reference]
        if r != st.reference and ref:
            common = sorted(set(row["seeds"]) & {x["seed"] for x in ref})
            row["paired_vs_" + st.reference] = paired(common, runs, ref)
        rows.append(row)
    first = results[0]
    return {"study": study, "claim": st.claim, "reference": st.reference, "rows": rows,
            "budget": {"steps": first["steps"], "preset": st.preset, "overrides": _budget_overrides(first["config"])},
            "eval": {"frames": first["eval_frames"], "clips": first["eval_clips"],
                     "split": "the corpus pack's validation split" if first["config"]["val"]["source"] == "pack"
                     else "the committed validation sample clip",
                     "crop": "HR centre crop of every frame, sizes in 'clips' ([frames, 3, H, W])",
                     "units": {"tmae": "x255 (8-bit levels)", "tlp": "x100", "others": "as in Table 1"}},
            "paper": st.paper, "verdicts": verdicts(study, rows)}


def paired(seeds, runs, ref) -> dict:
    """Per metric: the paired differences (row - reference, one per common seed), their interval and p-value."""
    a = {x["seed"]: x for x in runs}
    b = {x["seed"]: x for x in ref}
    out = {}
    for k in METRICS:
        if not seeds or any(a[s]["metrics"].get(k) is None or b[s]["metrics"].get(k) is None for s in seeds):
            continue
        d = [a[s]["metrics"][k] - b[s]["metrics"][k] for s in seeds]
        mean, sd, lo, hi = interval(d)
        p = float(stats.ttest_rel([a[s]["metrics"][k] for s in seeds], [b[s]["metrics"][k] for s in seeds]).pvalue) \
            if len(seeds) > 1 and sd > 0 else math.nan
        out[k] = {"diffs": d, "mean": mean, "ci95_low": lo, "ci95_high": hi, "p": p}
    return out


def paper_delta(summary: dict, row: str, key: str) -> float | None:
    """The paper's single-run difference, ``row`` minus the reference row, on ``key``; None where it has no number."""
    paper, ref = summary["paper"], summary["reference"]
    if key in paper.get(row, {}) and key in paper.get(ref, {}):
        return paper[row][key] - paper[ref][key]
    return None


def outside_interval(d: dict, x: float) -> bool:
    """Whether ``x`` lies outside a paired difference's 95 % interval (False when it has none: one seed)."""
    lo, hi = d.get("ci95_low", math.nan), d.get("ci95_high", math.nan)
    return not (math.isnan(lo) or lo <= x <= hi)


def paired_power(effect: float, sd: float, n: int, level: float = 0.95) -> float:
    """Probability that a two-sided paired t-test at ``level`` over ``n`` seeds rejects "no difference" when the
    true mean difference is ``effect`` and the paired differences have standard deviation ``sd``: the statistic
    is noncentral t with n - 1 degrees of freedom and noncentrality effect / (sd / sqrt(n))."""
    if n < 2:
        return 0.0
    if sd <= 0:
        return 1.0
    df, crit = n - 1, float(stats.t.ppf(0.5 + level / 2, n - 1))
    nc = abs(effect) * math.sqrt(n) / sd
    # the lower tail as the upper tail of -T (scipy's nct.cdf returns nan far out in the tail)
    return float(stats.nct.sf(crit, df, nc) + np.nan_to_num(stats.nct.sf(crit, df, -nc)))


def seeds_for_power(effect: float, sd: float, power: float = 0.8, level: float = 0.95,
                    n_max: int = 200) -> int | None:
    """The fewest seeds at which :func:`paired_power` reaches ``power``: how many runs per row a study needs to
    decide a true difference of ``effect`` when seeds scatter the paired difference by ``sd``; None when more than
    ``n_max`` (or ``effect`` is 0)."""
    if effect == 0 or not math.isfinite(sd):
        return None
    return next((n for n in range(2, n_max + 1) if paired_power(effect, sd, n, level) >= power), None)


def power_rows(summary: dict, keys=None, power: float = 0.8) -> list[dict]:
    """Per non-reference row and metric: the paired differences' std over seeds, the 95 % interval's half-width
    now, and how many seeds would decide (at ``power``) a true difference the size of the kit's mean and the size
    of the paper's single-run difference (where the paper has the metric), and whether the kit's interval already
    excludes the paper's difference (an effect that large is then ruled out *at this scale*). The std is itself
    estimated from few seeds, so the seed counts are planning figures, not guarantees."""
    ref, out = summary["reference"], []
    for r in summary["rows"]:
        pair = r.get("paired_vs_" + ref)
        if not pair:
            continue
        for k in (keys or METRICS):
            if k not in pair or len(pair[k]["diffs"]) < 2:
                continue
            d = pair[k]
            sd = float(np.std(d["diffs"], ddof=1))
            p_delta = paper_delta(summary, r["name"], k)
            out.append({"row": r["name"], "metric": k, "n": len(d["diffs"]), "sd": sd,
                        "half_width": (d["ci95_high"] - d["ci95_low"]) / 2, "kit_delta": d["mean"],
                        "seeds_for_kit_delta": seeds_for_power(d["mean"], sd, power),
                        "paper_delta": p_delta,
                        "seeds_for_paper_delta": None if p_delta is None else seeds_for_power(p_delta, sd, power),
                        "paper_delta_excluded": None if p_delta is None else outside_interval(d, p_delta)})
    return out


def verdicts(study: str, rows: list[dict]) -> dict:
    """For each non-reference row and metric: "holds" when the 95 % interval of the paired difference lies on the
    better side of 0, "fails" when it lies on the worse side, else "undecided"."""
    st = get_study(study)
    out = {}
    for row in rows:
        pair = row.get("paired_vs_" + st.reference)
        if not pair:
            continue
        out[row["name"]] = {}
        for k, d in pair.items():
            higher_better = METRICS[k][0]
            lo, hi = d["ci95_low"], d["ci95_high"]
            better = lo > 0 if higher_better else hi < 0
            worse = hi < 0 if higher_better else lo > 0
            out[row["name"]][k] = "holds" if better else "fails" if worse else "undecided"
    return out


def _budget_overrides(cfg: dict) -> dict:
    return {"gt_patch": cfg["data"]["gt_patch"], "batch_size": cfg["data"]["batch_size"],
            "clips_per_sample": cfg["data"]["clips_per_sample"], "lr": cfg["optim"]["lr"],
            "stages": cfg["stages"], "channels": cfg["model"]["channels"], "T": cfg["diffusion"]["T"]}


# --- many tests at once: the Holm–Bonferroni correction ------------------------------------------------------------

def holm(p_values) -> np.ndarray:
    """Holm–Bonferroni adjusted p-values, in the input's order and shape: sort the m finite p-values,
    p_(1) <= ... <= p_(m); the adjusted p_(i) is max_{j <= i} min(1, (m - j + 1) p_(j)). Rejecting where the
    adjusted p is below alpha keeps the chance of even one false rejection among the m tests at most alpha, whatever
    their dependence. The smallest p is multiplied by m (as Bonferroni does), the next by m - 1, and so on; the
    running maximum keeps the order of the raw p-values. NaN entries (no test: one seed, or no spread) stay NaN and
    do not count in m."""
    p = np.array(p_values, dtype=float)
    flat = p.reshape(-1)
    out = np.full(flat.shape, math.nan)
    idx = np.flatnonzero(np.isfinite(flat))
    if ((flat[idx] < 0) | (flat[idx] > 1)).any():
        raise ValueError(f"p-values must lie in [0, 1], got {flat[idx][(flat[idx] < 0) | (flat[idx] > 1)].tolist()}.")
    m = len(idx)
    order = idx[np.argsort(flat[idx], kind="stable")]
    out[order] = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * flat[order]))
    return out.reshape(p.shape)


def holm_verdicts(summaries: dict, level: float = 0.95) -> dict:
    """The Holm correction over **every** paired test of the given study summaries (``{study: summary}``), one
    family: per study, row and metric ``{"mean", "p", "p_holm", "verdict", "verdict_holm"}`` and, under ``"m"``,
    the family's size. ``verdict`` is the study's own (95 % interval of the paired difference, one test at a time:
    the same as raw p < 1 - level on the side of the mean); ``verdict_holm`` is "holds" / "fails" where the
    Holm-adjusted p is below 1 - level on the better / worse side, else "undecided" ("–" where there is no p)."""
    keys, ps = [], []
    for study, s in summaries.items():
        ref = s["reference"]
        for r in s["rows"]:
            for k, d in r.get("paired_vs_" + ref, {}).items():
                keys.append((study, r["name"], k, d))
                ps.append(d.get("p", math.nan) if d.get("p") is not None else math.nan)
    adj = holm(ps)
    alpha = 1 - level
    out = {"m": int(np.isfinite(np.array(ps, dtype=float)).sum()), "level": level}
    for (study, row, k, d), p, q in zip(keys, ps, adj):
        better = d["mean"] > 0 if METRICS[k][0] else d["mean"] < 0
        if math.isnan(q):
            v = "–"
        elif q < alpha:
            v = "holds" if better else "fails"
        else:
            v = "undecided"
        out.setdefault(study, {}).setdefault(row, {})[k] = {
            "mean": d["mean"], "p": p, "p_holm": float(q), "verdict_holm": v,
            "verdict": summaries[study]["verdicts"][row][k]}
    return out


# --- a detail-matched control for temporal claims ------------------------------------------------------------------
#
# tMAE = mean |(sr_{t+1} - sr_t) - (gt_{t+1} - gt_t)| counts every change of the output that the ground truth does
# not make. Detail that is not the ground truth's (drawn from noise, or just misplaced) changes whenever the scene
# moves or the noise changes, so the less detail an output draws the lower its tMAE: bicubic, which draws none,
# scores best. "Model A flickers less than model B" is then only a claim about flicker when A does not simply draw
# less detail. The control: measure each output's detail energy (the mean square of its detail layer, the frame
# minus a Gaussian blur of it), blur the more detailed output with a Gaussian until its detail energy equals the
# other's, and compare tMAE at that equal amount of detail.

#: σ (HR pixels) of the Gaussian that splits a frame into base and detail layer: its response is 1/2 at a period of
#: about 7.6 px, near the ×4 LR frame's Nyquist period of 8 HR px, so the detail layer is what the LR frame cannot
#: carry: what a super-resolver draws.
DETAIL_SIGMA = 1.0


def gaussian_blur(frames: torch.Tensor, sigma: float) -> torch.Tensor:
    """``frames [..., C, H, W]`` blurred by a normalised, sampled Gaussian of std ``sigma`` pixels (radius
    ceil(4 sigma), at most the frame size - 1; reflect padding); ``sigma <= 0`` returns the frames unchanged. The
    convolution is made with the FFT on the padded frames (the same numbers as a direct convolution, to rounding,
    at a cost that does not grow with ``sigma``)."""
    if sigma <= 0:
        return frames
    h, w = frames.shape[-2:]
    radius = max(1, min(math.ceil(4 * sigma), h - 1, w - 1))
    padded = torch.nn.functional.pad(frames.reshape(-1, 1, h, w), (radius,) * 4, mode="reflect")
    ph, pw = padded.shape[-2:]
    x = torch.arange(-radius, radius + 1, dtype=frames.dtype, device=frames.device)
    g = torch.exp(-0.5 * (x / sigma) ** 2)
    g = g / g.sum()

    def circular(n):                     # the kernel centred on index 0 of a length-n circle
        k = torch.zeros(n, dtype=frames.dtype, device=frames.device)
        k[:radius + 1], k[n - radius:] = g[radius:], g[:radius]
        return k

    spectrum = torch.fft.rfft2(padded) * torch.fft.fft(circular(ph)).view(-1, 1) * torch.fft.rfft(circular(pw))
    out = torch.fft.irfft2(spectrum, s=(ph, pw))[..., radius:radius + h, radius:radius + w]
    return out.reshape(frames.shape)


def detail_layer(frames: torch.Tensor, sigma0: float = DETAIL_SIGMA) -> torch.Tensor:
    """The detail layer of ``frames [..., C, H, W]``: the frames minus their Gaussian blur of std ``sigma0``."""
    return frames - gaussian_blur(frames, sigma0)


def detail_energy(frames: torch.Tensor, sigma0: float = DETAIL_SIGMA) -> float:
    """Mean square of the detail layer over every frame, channel and pixel (frames in [0, 1]; its square root
    times 255 is the detail's RMS in 8-bit levels)."""
    return float(detail_layer(frames.double(), sigma0).pow(2).mean())


def blur_to_detail(frames: torch.Tensor, target: float, sigma0: float = DETAIL_SIGMA, rtol: float = 1e-3,
                   sigma_max: float = 8.0) -> tuple[torch.Tensor, float]:
    """``(blurred, sigma)``: ``frames`` blurred by the Gaussian whose ``sigma`` brings their detail energy down to
    ``target`` (bisection; a Gaussian blur lowers the detail energy monotonically), to a relative error ``rtol``.
    Frames with no more detail than ``target`` come back unchanged with ``sigma = 0``."""
    frames = frames.double()
    if detail_energy(frames, sigma0) <= target:
        return frames, 0.0
    lo, hi = 0.0, sigma_max
    if detail_energy(gaussian_blur(frames, hi), sigma0) > target:
        raise ValueError(f"a blur of sigma {sigma_max} leaves more detail than the target {target:.3g}.")
    for _ in range(60):
        mid = (lo + hi) / 2
        trial = gaussian_blur(frames, mid)
        e = detail_energy(trial, sigma0)
        if abs(e - target) <= rtol * target:
            return trial, mid
        lo, hi = (mid, hi) if e > target else (lo, mid)
    return gaussian_blur(frames, hi), hi


def tmae(sr: torch.Tensor, gt: torch.Tensor) -> float:
    """The kit's tMAE of one clip ``[N, C, H, W]`` (N >= 2) in [0, 1] units (``* 255`` for 8-bit levels)."""
    return float(temporal_error(sr.double(), gt.double()))


def detail_matched_tmae(outputs: dict, gt: torch.Tensor, target: float | None = None,
                        sigma0: float = DETAIL_SIGMA) -> dict:
    """tMAE of each output at an equal amount of detail. ``outputs``: name -> clip ``[N, C, H, W]`` in [0, 1]
    (the same frames as ``gt``). Each output with more detail energy than ``target`` (default: the least detailed
    output's) is blurred down to it (:func:`blur_to_detail`); per output: ``energy`` and ``tmae`` as drawn, the
    ``sigma`` applied, and ``energy_matched``, ``tmae_matched`` after matching; under ``"_gt"`` the ground truth's
    detail energy and ``"_target"`` the common level. tMAE in [0, 1] units."""
    energies = {name: detail_energy(x, sigma0) for name, x in outputs.items()}
    target = min(energies.values()) if target is None else float(target)
    out = {"_target": target, "_gt": detail_energy(gt, sigma0)}
    for name, x in outputs.items():
        matched, sigma = blur_to_detail(x, target, sigma0)
        out[name] = {"energy": energies[name], "tmae": tmae(x, gt), "sigma": sigma,
                     "energy_matched": detail_energy(matched, sigma0), "tmae_matched": tmae(matched, gt)}
    return out


def tmae_detail_curve(sr: torch.Tensor, gt: torch.Tensor, sigmas, sigma0: float = DETAIL_SIGMA) -> list[tuple]:
    """``[(sigma, detail energy, tMAE), ...]`` of ``sr`` blurred by each ``sigma``: how tMAE falls as detail is
    taken away. Two outputs compared along their curves at the same detail energy is the detail-matched control
    at every level at once."""
    return [(float(s), detail_energy(b, sigma0), tmae(b, gt))
            for s in sigmas for b in (gaussian_blur(sr.double(), float(s)),)]
