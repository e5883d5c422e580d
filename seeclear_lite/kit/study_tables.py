"""A study's summary in words: its Markdown table (the README's claims tables) and one verdict sentence per row."""

from __future__ import annotations

import math

from .studies import DIGITS, METRICS, STUDIES
from .study_stats import outside_interval, paper_delta


def _number(x: float, digits: int, sign: bool = False) -> str:
    """``x`` with ``digits`` decimals and a true minus sign (and a plus sign when ``sign``)."""
    return f"{x:{'+' if sign else ''}.{digits}f}".replace("-", "\u2212")


def markdown(summary: dict, keys=None) -> str:
    """The study as a Markdown table: per row its label, number of seeds and, per metric, mean ± std over seeds
    and the paired difference to the reference row with its 95 % interval, ``(Δ mean [low, high])``. ``keys``
    picks the metrics (default: all the study has); the README's tables are ``markdown(s, README_METRICS)``."""
    st = STUDIES.get(summary.get("study"))
    ref, labels = summary["reference"], st.labels if st else {}
    have = [k for k in METRICS if all(k in r["metrics"] for r in summary["rows"])]
    keys = have if keys is None else [k for k in keys if k in have]
    head = ["row", "seeds"] + [METRICS[k][1] for k in keys]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in summary["rows"]:
        cells = [labels.get(r["name"], r["name"]), str(len(r["seeds"]))]
        for k in keys:
            s, n = r["stats"][k], DIGITS[k]
            cell = _number(s["mean"], n) + (f" ± {_number(s['std'], n)}" if not math.isnan(s["std"]) else "")
            d = r.get("paired_vs_" + ref, {}).get(k)
            if d is not None and not math.isnan(d["ci95_low"]):
                cell += (f" (Δ {_number(d['mean'], n, True)} "
                         f"[{_number(d['ci95_low'], n, True)}, {_number(d['ci95_high'], n, True)}])")
            cells.append(cell)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def verdict_sentences(summary: dict) -> list[str]:
    """One plain sentence per non-reference row: on which metrics the row's claim holds, fails or stays undecided
    against the reference row, whether the kit's mean moves the way the paper's single run did, and whether the
    paper's difference lies outside the kit's 95 % interval (an effect that large is then ruled out at this scale)."""
    ref, out = summary["reference"], []
    for r in summary["rows"]:
        v = summary["verdicts"].get(r["name"])
        if not v:
            continue
        groups = {w: [METRICS[k][1] for k in METRICS if v.get(k) == w] for w in ("holds", "fails", "undecided")}
        parts = [f"{w} on {', '.join(ks)}" for w, ks in groups.items() if ks]
        agree = []
        for k in METRICS:
            p_delta = paper_delta(summary, r["name"], k)
            if p_delta is None:
                continue
            d = r["paired_vs_" + ref][k]
            agree.append(f"{METRICS[k][1]} {'same' if p_delta * d['mean'] > 0 else 'opposite'} direction"
                         + (f" (the paper's {_number(p_delta, DIGITS[k], True)} is outside the kit's interval "
                            f"[{_number(d['ci95_low'], DIGITS[k], True)}, {_number(d['ci95_high'], DIGITS[k], True)}]: "
                            "ruled out at this scale)" if outside_interval(d, p_delta) else ""))
        side = f"; beside the paper's run: {', '.join(agree)}" if agree else ""
        out.append(f"`{r['name']}` against `{ref}` ({len(r['seeds'])} seeds): {'; '.join(parts)}{side}.")
    return out
