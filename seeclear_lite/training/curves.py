"""Training curves: the loss and the validation of a run, with the stages of Sec. 4.1 shaded.

Used by notebook 07 (its own run, live) and by ``export`` (``<name>_curves.png`` beside a shipped checkpoint).
Rows are history rows (:data:`~seeclear_lite.training.engine.HISTORY_FIELDS`, as dicts; CSV strings are fine).
"""

from __future__ import annotations

import numpy as np

STAGE_COLOURS = ("tab:blue", "tab:orange", "tab:green", "tab:purple")


def _get(stage, key):
    return stage[key] if isinstance(stage, dict) else getattr(stage, key)


def _number(v):
    return None if v in (None, "") else float(v)


def shade_stages(ax, stages) -> None:
    """Shade the training stages (``StageConfig`` objects or dicts with name / steps / train) on a step axis."""
    start = 0
    for i, st in enumerate(stages):
        n = int(_get(st, "steps"))
        ax.axvspan(start, start + n, color=STAGE_COLOURS[i % len(STAGE_COLOURS)], alpha=0.12, lw=0,
                   label=f"stage {i + 1}: {_get(st, 'name')} ({_get(st, 'train')})")
        start += n
    ax.set_xlim(0, max(start, 1))


def draw_loss(ax, rows, stages) -> None:
    """The per-window training loss and its running mean (the loss depends on the drawn step t: it is noisy)."""
    ax.clear()
    shade_stages(ax, stages)
    if rows:
        steps = np.array([int(_number(r["step"])) for r in rows])
        loss = np.array([_number(r["loss"]) for r in rows])
        ax.plot(steps, loss, color="0.6", lw=0.8, label="Charbonnier loss (per logged window)")
        k = min(len(loss), 5 if len(loss) < 100 else 25)
        ax.plot(steps[k - 1:], np.convolve(loss, np.ones(k) / k, mode="valid"), color="k", lw=1.6,
                label=f"running mean of {k}")
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("training loss")
    ax.legend(loc="upper right", fontsize=8)


def draw_validation(ax, rows, stages, bicubic_psnr: float | None = None) -> None:
    """Validation PSNR (EMA weights) at the steps it ran, with bicubic on the same windows as the line to beat."""
    shade_stages(ax, stages)
    val = [r for r in rows if _number(r.get("val_psnr")) is not None]
    ax.plot([int(_number(r["step"])) for r in val], [_number(r["val_psnr"]) for r in val], "o-", color="k", ms=3,
            label="validation PSNR (EMA)")
    if bicubic_psnr is not None:
        ax.axhline(bicubic_psnr, color="tab:red", ls="--", label=f"bicubic ({bicubic_psnr:.2f} dB)")
    ax.set_xlabel("step")
    ax.set_ylabel("validation PSNR (dB)")
    ax.legend(fontsize=8, loc="lower right")


def training_curves(rows, stages, bicubic_psnr: float | None = None, title: str = ""):
    """A two-panel figure: training loss | validation PSNR. A ``matplotlib.figure.Figure`` outside pyplot (no
    backend is touched; in a notebook, ``display(fig)`` shows it)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(12, 3.6))
    ax1, ax2 = fig.subplots(1, 2, gridspec_kw={"width_ratios": [3, 2]})
    draw_loss(ax1, rows, stages)
    ax1.set_title(f"{title}training loss".strip())
    draw_validation(ax2, rows, stages, bicubic_psnr)
    ax2.set_title("validation during training (held-out clips)")
    fig.tight_layout()
    return fig
