"""The class lab's machinery (seeclear_lite.kit.lab): budget -> steps, the verdict, the class table and its interval,
the clip loader and the window that shows the x4 gain."""

import csv
import math

import pytest
import torch
from scipy import stats

from seeclear_lite.kit import lab


def test_steps_for_budget_keeps_the_validation_reserve():
    assert lab.steps_for_budget(0.5, 20.0) == int(20 * 60 * 0.75 / 0.5) == 1800
    assert lab.steps_for_budget(0.5, 20.0, reserve=0.0) == 2400
    assert lab.steps_for_budget(100.0, 0.01) == 10                      # a very slow laptop still draws a curve
    for bad in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="seconds_per_step"):
            lab.steps_for_budget(bad, 20.0)
    with pytest.raises(ValueError, match="TRAIN_MINUTES"):
        lab.steps_for_budget(0.5, 0)


def test_verdict_is_a_message_for_every_outcome():
    assert lab.verdict(0.5, 0.3).startswith("✓")
    assert lab.verdict(0.1, 0.3).startswith("~")
    assert lab.verdict(0.01, 0.3).startswith("=")
    assert lab.verdict(-0.4, 0.3).startswith("✗")
    assert "fallback" in lab.verdict(float("nan"))


def _row(student, seed, first, chain=0.0, steps=100):
    return {"student": student, "seed": seed, "steps": steps, "train_minutes": 20.0, "device": "cpu",
            "fallback_shown": False, "clip": "text", "psnr_y_bicubic": 20.0, "psnr_y_first": 20.0 + first,
            "psnr_y_chain": 20.0 + chain, "lpips_bicubic": 0.4, "lpips_first": 0.39, "lpips_chain": 0.38}


def test_class_table_appends_replaces_and_gives_the_t_interval(tmp_path):
    path = tmp_path / "share" / "class.csv"
    gains = [0.8, 0.5, 1.1, 0.2]
    for i, g in enumerate(gains):
        lab.append_row(path, _row(f"s{i}", i, g, steps=100 + i))
    lab.append_row(path, _row("s0", 0, 0.6))                 # s0 re-runs seed 0: replaces, not a fifth row
    gains[0] = 0.6
    rows = lab.read_table(path)
    assert len(rows) == 4 and sorted(r["student"] for r in rows) == ["s0", "s1", "s2", "s3"]
    summary = lab.class_summary(rows)
    s = summary["gain_first_db"]
    n = len(gains)
    mean = sum(gains) / n
    sd = math.sqrt(sum((g - mean) ** 2 for g in gains) / (n - 1))
    half = stats.t.ppf(0.975, n - 1) * sd / math.sqrt(n)
    assert s["n"] == 4 and s["mean"] == pytest.approx(mean, abs=1e-9)
    assert (s["low"], s["high"]) == (pytest.approx(mean - half, abs=1e-9), pytest.approx(mean + half, abs=1e-9))
    assert summary["steps_range"] == [100.0, 103.0]
    assert not list(path.parent.glob(".class_table_*"))      # no temp files left behind


def test_class_table_refuses_a_foreign_csv_and_an_incomplete_row(tmp_path):
    other = tmp_path / "grades.csv"
    with other.open("w", newline="") as f:
        csv.writer(f).writerows([["name", "grade"], ["a", "1"]])
    with pytest.raises(ValueError, match="not a class table"):
        lab.read_table(other)
    before = other.read_text()
    with pytest.raises(ValueError, match="not a class table"):
        lab.append_row(other, _row("a", 0, 0.1))
    assert other.read_text() == before                        # the user's file is untouched
    with pytest.raises(ValueError, match="lacks"):
        lab.append_row(tmp_path / "new.csv", {"student": "a"})
    assert not (tmp_path / "new.csv").exists()


def test_busiest_box_finds_the_textured_window():
    g = torch.Generator().manual_seed(0)
    frame = torch.full((3, 96, 128), 0.5)
    frame[:, 40:72, 80:112] = torch.rand(3, 32, 32, generator=g)   # the only detail in the frame
    y, x, z = lab.busiest_box(frame, 32)
    assert z == 32 and abs(y - 40) <= 8 and abs(x - 80) <= 8


def test_load_lab_clip_from_the_samples_is_lr_and_hr_of_one_clip():
    lr, gt = lab.load_lab_clip("val_city", "samples", max_frames=3)
    assert lr.shape[0] == gt.shape[0] == 3 and gt.shape[-2:] == (4 * lr.shape[-2], 4 * lr.shape[-1])
    assert lr.dtype == gt.dtype == torch.float32 and 0 <= float(lr.min()) and float(gt.max()) <= 1
    with pytest.raises(ValueError, match="not a sample clip"):
        lab.load_lab_clip("nope", "samples")
    with pytest.raises(ValueError, match="source"):
        lab.load_lab_clip("text", "web")


def test_probe_speed_measures_a_positive_time_per_step():
    from seeclear_lite.config import get_config

    cfg = get_config("lab", ["data.source=samples", "val.source=samples", "val.clips=[val_city]", "data.gt_patch=16",
                             "data.batch_size=1", "model.channels=8", "model.head_dim=8", "model.lr_channels=8",
                             "model.channel_mult=[1, 2]", "model.middle_blocks=1", "runtime.cpu_threads=1"])
    s = lab.probe_speed(cfg, torch.device("cpu"), steps=6)
    assert 0 < s < 30
