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


def draw_validation(ax, rows, stages, bicubic: float | None = None, key: str = "val_psnr") -> None:
    """A validation metric (EMA weights; ``val_psnr`` or ``val_lpips``) at the steps it ran, with bicubic on the
    same windows as the line to beat."""
    label, unit = {"val_psnr": ("PSNR", " dB"), "val_lpips": ("LPIPS (VGG)", "")}[key]
    shade_stages(ax, stages)
    val = [r for r in rows if _number(r.get(key)) is not None]
    ax.plot([int(_number(r["step"])) for r in val], [_number(r[key]) for r in val], "o-", color="k", ms=3,
            label=f"validation {label} (EMA)")
    if bicubic is not None:
        ax.axhline(bicubic, color="tab:red", ls="--", label=f"bicubic ({bicubic:.{2 if unit else 4}f}{unit})")
    ax.set_xlabel("step")
    ax.set_ylabel(f"validation {label}{' (dB)' if unit else ''}")
    _curve_legend(ax, key)


def _curve_legend(ax, key: str) -> None:
    """The curves' legend only: the stages are named once, in the loss panel."""
    pairs = [(h, lab) for h, lab in zip(*ax.get_legend_handles_labels()) if not lab.startswith("stage ")]
    ax.legend(*zip(*pairs), fontsize=8, loc="lower right" if key == "val_psnr" else "upper right")


def training_curves(rows, stages, bicubic_psnr: float | None = None, title: str = "", mark_step: int | None = None,
                    bicubic_lpips: float | None = None):
    """Training loss | validation PSNR (| validation LPIPS, when the rows have it), with bicubic's lines and
    ``mark_step`` (e.g. the exported step) dotted. A ``matplotlib.figure.Figure`` outside pyplot (no backend is
    touched; ``display(fig)`` shows it)."""
    from matplotlib.figure import Figure

    keys = ["val_psnr"] + (["val_lpips"] if any(_number(r.get("val_lpips")) is not None for r in rows) else [])
    fig = Figure(figsize=(6 + 4 * len(keys), 3.6))
    axes = fig.subplots(1, 1 + len(keys), gridspec_kw={"width_ratios": [3] + [2] * len(keys)})
    draw_loss(axes[0], rows, stages)                  # clears its axes: the mark goes on after it
    axes[0].set_title(f"{title}training loss".strip())
    for ax in axes if mark_step is not None else []:
        ax.axvline(mark_step, color="k", ls=":", lw=1.2, label=f"exported: step {mark_step}")
    for ax, key in zip(axes[1:], keys):
        draw_validation(ax, rows, stages, bicubic_psnr if key == "val_psnr" else bicubic_lpips, key)
        ax.set_title("validation during training (held-out clips)", fontsize=10)
    fig.tight_layout()
    return fig
