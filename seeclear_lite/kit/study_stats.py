"""The statistics of a study: per-row means and intervals over seeds, paired differences against the reference row
with their paired t-test, verdicts, and how many seeds would decide a difference (noncentral-t power)."""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

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
