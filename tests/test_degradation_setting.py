"""The degradation as a setting: ``data.degradation`` / ``evaluate --degradation`` pick how LR frames are made,
from one mapping (``seeclear_lite.degradation.DEGRADATIONS``)."""

import json

import numpy as np
import pytest
import torch

from seeclear_lite.__main__ import main
from seeclear_lite.config import DEGRADATION_NAMES, ConfigError, get_config
from seeclear_lite.data.build import build_dataset
from seeclear_lite.data.datasets import ClipDataset, FolderClips
from seeclear_lite.data.samples import VALIDATION_CLIP, sample_root
from seeclear_lite.degradation import DEGRADATIONS, bd_degrade, bi_degrade, degrade_uint8
from seeclear_lite.degradation.bd import gaussian_kernel


def test_the_config_names_the_degradations_of_the_package():
    assert DEGRADATION_NAMES == tuple(DEGRADATIONS)
    with pytest.raises(ConfigError, match="data.degradation must be one of bi_x4, bd_x4"):
        get_config("tiny", ["data.degradation=blur"])


def test_bd_is_a_gaussian_blur_then_every_fourth_pixel():
    k = gaussian_kernel()
    assert k.shape == (13, 13) and abs(float(k.sum()) - 1) < 1e-12 and torch.equal(k, k.T)
    hr = torch.rand(2, 3, 32, 48, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    lr = bd_degrade(hr)
    assert lr.shape == (2, 3, 8, 12)
    # an interior LR pixel is the Gaussian-weighted mean of the 13 x 13 HR neighbourhood of HR pixel (4i, 4j)
    i, j = 2, 3
    want = (hr[..., 4 * i - 6:4 * i + 7, 4 * j - 6:4 * j + 7] * k).sum(dim=(-2, -1))
    assert (lr[..., i, j] - want).abs().max() < 1e-12
    flat = torch.full((1, 3, 16, 16), 0.3, dtype=torch.float64)
    assert (bd_degrade(flat) - 0.3).abs().max() < 1e-12
    assert (bd_degrade(hr) - bi_degrade(hr)).abs().mean() > 1e-3      # another degradation, not BI renamed


@pytest.mark.parametrize("degradation", ["bi_x4", "bd_x4"])
def test_a_dataset_makes_its_crops_lr_as_the_whole_frames_degradation(degradation):
    """On-the-fly LR of a crop (with a margin) equals the crop of the degraded whole frame, for both."""
    gt_dir = sample_root() / "GT"
    data = ClipDataset(FolderClips(gt_dir, None, 4, [VALIDATION_CLIP]), clip_length=2, gt_patch=32, seed=3,
                       degradation=degradation)
    whole = ClipDataset(FolderClips(gt_dir, None, 4, [VALIDATION_CLIP]), clip_length=2, degradation=degradation)
    item, full = data[1], whole[1]
    gt = (full["gt"] * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    lr_full = torch.from_numpy(degrade_uint8(gt, 4, degradation)).permute(0, 3, 1, 2).float() / 255
    assert torch.equal(full["lr"], lr_full)
    # find the crop in the whole frame and compare its LR
    H = full["gt"].shape[-2]
    match = [(y, x) for y in range(0, H - 31, 4) for x in range(0, full["gt"].shape[-1] - 31, 4)
             if torch.equal(full["gt"][..., y:y + 32, x:x + 32], item["gt"])]
    assert match
    y, x = match[0]
    assert torch.equal(item["lr"], lr_full[..., y // 4:y // 4 + 8, x // 4:x // 4 + 8])


def test_a_runs_degradation_reaches_its_datasets_and_ignores_stored_bi_frames():
    bi = build_dataset(get_config("tiny").val, get_config("tiny"), train=False)
    cfg = get_config("tiny", ["data.degradation=bd_x4"])
    bd = build_dataset(cfg.val, cfg, train=False)
    assert bd.degradation == "bd_x4" and bi.degradation == "bi_x4"
    assert not torch.equal(bd[0]["lr"], bi[0]["lr"]) and torch.equal(bd[0]["gt"], bi[0]["gt"])


def test_evaluate_with_two_degradations(tmp_path):
    outs = {}
    for deg in ("bi_x4", "bd_x4"):
        out = tmp_path / deg
        assert main(["evaluate", "--gt", str(sample_root()), "--clips", VALIDATION_CLIP, "--max-frames", "3",
                     "--no-lpips", "--no-progress", "--degradation", deg, "--out", str(out)]) == 0
        outs[deg] = json.loads((out / "metrics.json").read_text())["average"]["psnr_y"]
        run = json.loads((out / "run.json").read_text())
        assert (run["degradation"] == deg) if deg != "bi_x4" else run["lr"].endswith("BIx4")
    # bicubic upsampling undoes BI better than BD (a mismatched kernel): the two rows differ
    assert outs["bi_x4"] > outs["bd_x4"] + 0.3
    with pytest.raises(SystemExit) as stop:                       # argparse: one line naming the choices, exit 2
        main(["evaluate", "--gt", str(sample_root()), "--degradation", "nope", "--out", str(tmp_path / "x")])
    assert stop.value.code == 2 and not (tmp_path / "x").exists()
