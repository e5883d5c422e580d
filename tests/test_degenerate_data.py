"""Degenerate data never turns a dataset average into null or infinity because of one clip, and the run says which
clip was counted how: a frame identical to its ground truth (PSNR infinite, counted as 100 dB) and a one-frame clip
(no transition for tMAE / tLP, left out of those means)."""

import json
import math

import numpy as np

from seeclear_lite.data.io import write_image
from seeclear_lite.evaluation import evaluate
from seeclear_lite.metrics.clip_scores import PSNR_CAP


def test_one_flat_clip_and_one_single_frame_clip_keep_every_average_finite(tmp_path):
    rng = np.random.default_rng(0)
    for i in range(3):                      # a flat grey clip: bicubic gives it back exactly (PSNR = inf)
        write_image(tmp_path / "GT" / "flat" / f"{i:08d}.png", np.full((32, 32, 3), 128, np.uint8))
    write_image(tmp_path / "GT" / "single" / "00000000.png", rng.integers(0, 256, (32, 32, 3), dtype=np.uint8))
    result = evaluate(tmp_path, tmp_path / "out", use_lpips=False, progress=False, log=lambda *a: None)
    avg = result["average"]
    assert all(avg[k] is not None and math.isfinite(avg[k]) for k in ("psnr_rgb", "psnr_y", "ssim_rgb", "tmae"))
    assert result["clips"]["flat"]["psnr_rgb"] == PSNR_CAP
    assert result["clips"]["single"]["tmae"] is None and avg["tmae"] == result["clips"]["flat"]["tmae"]
    notes = json.loads((tmp_path / "out" / "run.json").read_text())["notes"]
    assert any(n.startswith("flat: 3 frame(s) identical to the ground truth: PSNR counted as 100 dB") for n in notes)
    assert any("tmae: averaged over 1 of 2 clips (single has no value" in n for n in notes)
    assert "identical to the ground truth" in (tmp_path / "out" / "metrics.md").read_text()
