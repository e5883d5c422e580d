"""Figures of evaluated frames (Fig. 5-style comparison, temporal profile) and the training curves."""

from __future__ import annotations

import pytest
import torch

from seeclear_lite.data.io import write_image
from seeclear_lite.evaluation.figures import centre_box, comparison_figure, temporal_profile_figure
from seeclear_lite.training.curves import training_curves


@pytest.fixture()
def panels(tmp_path):
    g = torch.Generator().manual_seed(0)
    out = {}
    for name in ("bicubic", "GT"):
        for t in range(3):
            write_image(tmp_path / name / f"{t:08d}.png", torch.rand(3, 24, 36, generator=g))
        out[name] = tmp_path / name
    return out


def test_comparison_shows_each_frame_and_its_crop_of_every_method(panels):
    fig = comparison_figure(panels, first=1)
    axes = fig.axes
    assert len(axes) == 2 * 2 * 2                                  # (frame + crop) x 2 frames x 2 methods
    assert axes[0].get_title() == "bicubic\nframe 1" and axes[3].get_title() == "crop, frame 1"
    y, x, z = centre_box(24, 36)
    assert (y, x, z) == (4, 10, 16) and axes[2].images[0].get_array().shape[:2] == (z, z)
    assert len(axes[1].patches) == 1 and not axes[0].patches        # the box is drawn on GT only
    with pytest.raises(ValueError, match="no frame 3"):
        comparison_figure(panels, first=2)


def test_temporal_profile_stacks_one_row_over_time(panels):
    fig = temporal_profile_figure(panels, row=5)
    img = fig.axes[0].images[0].get_array()
    assert img.shape[:2] == (3, 36)                                # frames x width


def test_training_curves_accept_csv_rows_and_stage_dicts():
    rows = [{"step": str(s), "loss": str(1 / s), "val_psnr": "22.5" if s % 5 == 0 else ""} for s in range(1, 21)]
    fig = training_curves(rows, [{"name": "condenser", "steps": 15, "train": "condenser"},
                                 {"name": "memory", "steps": 5, "train": "memory"}], bicubic_psnr=22.0)
    loss_ax, val_ax = fig.axes
    assert loss_ax.get_xlim() == (0, 20) and len(val_ax.lines[0].get_xdata()) == 4
    assert [t.get_text() for t in val_ax.get_legend().get_texts()] == ["validation PSNR (EMA)", "bicubic (22.00 dB)"]
