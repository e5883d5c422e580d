"""Figures of evaluated frames: two consecutive frames side by side with zoomed crops (as the paper's Fig. 5),
and a temporal profile (one row of pixels over time). Inputs are frame folders, e.g. ``<evaluate --out>/SR/<clip>``
and the clip's GT folder. Each function returns a ``matplotlib.figure.Figure`` outside pyplot (no backend is
touched; ``display(fig)`` shows it in a notebook, ``fig.savefig`` writes it anywhere)."""

from __future__ import annotations

from pathlib import Path

import torch

from ..data.io import list_frames, read_image


def _frame(folder, t: int):
    frames = list_frames(Path(folder))
    if t >= len(frames):
        raise ValueError(f"{folder} has {len(frames)} frames, no frame {t}: choose an earlier frame.")
    return read_image(frames[t]).permute(1, 2, 0).numpy()


def centre_box(height: int, width: int, size: int | None = None) -> tuple[int, int, int]:
    """(y, x, size) of a square crop at the centre: a third of the short side (at least 16 pixels) by default."""
    z = max(16, min(height, width) // 3) if size is None else int(size)
    return (height - z) // 2, (width - z) // 2, z


def comparison_figure(panels: dict, first: int = 0, box: tuple[int, int, int] | None = None, frames: int = 2,
                      panel_width: float = 2.6):
    """Frames ``first .. first + frames - 1`` of every folder in ``panels`` (title -> frame folder) side by side,
    each with the crop ``box`` (y, x, size; default :func:`centre_box`) zoomed below it; the box is drawn on the
    last panel (GT, by convention). Temporal consistency shows as the same detail staying put between frames."""
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    titles = list(panels)
    h, w = _frame(panels[titles[-1]], first).shape[:2]
    y, x, z = box if box is not None else centre_box(h, w)
    fig = Figure(figsize=(panel_width * len(titles), 2 * panel_width * frames * 0.95))
    axes = fig.subplots(2 * frames, len(titles), squeeze=False)
    for r in range(frames):
        t = first + r
        for c, title in enumerate(titles):
            img = _frame(panels[title], t)
            axes[2 * r, c].imshow(img)
            axes[2 * r, c].set_title(f"{title}\nframe {t}", fontsize=8)
            if c == len(titles) - 1:
                axes[2 * r, c].add_patch(Rectangle((x, y), z, z, fill=False, ec="yellow", lw=1.5))
            axes[2 * r + 1, c].imshow(img[y:y + z, x:x + z], interpolation="nearest")
            axes[2 * r + 1, c].set_title(f"crop, frame {t}", fontsize=8)
    for ax in axes.flat:
        ax.axis("off")
    fig.tight_layout()
    return fig


def temporal_profile_figure(panels: dict, row: int | None = None, frames: int | None = None,
                            panel_width: float = 2.6, title: str = ""):
    """One row of pixels (default: the middle one) of every frame stacked over time, per folder in ``panels``: a
    still edge draws a straight line, a moving one a slanted line, flicker draws noise across the lines."""
    from matplotlib.figure import Figure

    titles = list(panels)
    n = min(len(list_frames(Path(panels[t]))) for t in titles)
    n = n if frames is None else min(n, int(frames))
    h = _frame(panels[titles[-1]], 0).shape[0]
    row = h // 2 if row is None else int(row)
    fig = Figure(figsize=(panel_width * len(titles), 2.4))
    axes = fig.subplots(1, len(titles), squeeze=False)[0]
    for ax, name in zip(axes, titles):
        stack = torch.stack([read_image(p) for p in list_frames(Path(panels[name]))[:n]])
        ax.imshow(stack[:, :, row, :].permute(0, 2, 1).numpy(), aspect="auto", interpolation="nearest")
        ax.set_title(name, fontsize=8)
        ax.set_xlabel("x")
        ax.set_ylabel("t (frame)")
    fig.suptitle(f"{title}row y = {row} over {n} frames", fontsize=9)
    fig.tight_layout()
    return fig
