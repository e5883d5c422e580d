"""Evaluation harness: metrics.json shape, metrics on the saved 8-bit frames, averages, overwrite, errors."""

import csv
import json
import math

import pytest
import torch

from seeclear_lite.__main__ import main as cli
from seeclear_lite.data.io import list_frames, read_image
from seeclear_lite.data.samples import VALIDATION_CLIP, sample_root
from seeclear_lite.degradation import bicubic_upsample
from seeclear_lite.evaluation import METRIC_KEYS, evaluate
from seeclear_lite.metrics import psnr, ssim, temporal_error
from seeclear_lite.metrics.lpips_weights import weights_path

QUIET = dict(progress=False, log=lambda *a: None)
HAVE_LPIPS = weights_path("vgg").is_file() and weights_path("alex").is_file()


def _frames(folder):
    return torch.stack([read_image(p) for p in list_frames(folder)])


def test_bicubic_row_on_two_clips_matches_an_independent_recomputation(tmp_path):
    out = tmp_path / "ev"
    res = evaluate(sample_root(), out, clips=[VALIDATION_CLIP, "train_coffee"], max_frames=3, use_lpips=False,
                   chunk=2, **QUIET)  # chunk 2 < 3 frames: the temporal transition across chunks is covered
    saved = json.loads((out / "metrics.json").read_text())
    assert saved == res and set(saved) == {"method", "average", "clips"} and saved["method"] == "bicubic"
    assert list(saved["clips"]) == ["train_coffee", VALIDATION_CLIP]
    for row in [saved["average"], *saved["clips"].values()]:
        assert tuple(row) == METRIC_KEYS
        assert row["lpips_vgg"] is None and row["tlp"] is None  # switched off
    for clip, row in saved["clips"].items():
        gt = _frames(sample_root() / "GT" / clip)[:3]
        lr = _frames(sample_root() / "BIx4" / clip)[:3]
        sr_files = _frames(out / "SR" / clip)
        # the saved SR frames are the 8-bit bicubic upsampling of the LR frames
        expect = (bicubic_upsample(lr.double(), 4).clamp(0, 1) * 255).round() / 255
        assert torch.equal((sr_files * 255).round(), (expect * 255).round().float())
        # per-clip values: means over frames of the metrics of the saved frames
        assert math.isclose(row["psnr_rgb"], psnr(sr_files, gt).mean().item(), rel_tol=1e-9)
        assert math.isclose(row["psnr_y"], psnr(sr_files, gt, y_channel=True).mean().item(), rel_tol=1e-9)
        assert math.isclose(row["ssim_rgb"], ssim(sr_files, gt).mean().item(), rel_tol=1e-9)
        assert math.isclose(row["ssim_y"], ssim(sr_files, gt, y_channel=True).mean().item(), rel_tol=1e-9)
        assert math.isclose(row["tmae"], temporal_error(sr_files, gt).item(), rel_tol=1e-9)
        assert 15 < row["psnr_rgb"] < 35 and row["psnr_y"] > row["psnr_rgb"] and 0 < row["ssim_rgb"] < 1
    for k in ("psnr_rgb", "ssim_y", "tmae"):  # average = mean over clips of the per-clip means
        assert math.isclose(saved["average"][k], sum(r[k] for r in saved["clips"].values()) / 2, rel_tol=1e-12)
    rows = list(csv.DictReader(open(out / "metrics.csv")))
    assert [r["clip"] for r in rows] == ["train_coffee", VALIDATION_CLIP, "average"] and rows[2]["frames"] == "6"
    assert math.isclose(float(rows[0]["psnr_rgb"]), saved["clips"]["train_coffee"]["psnr_rgb"], rel_tol=1e-12)
    md = (out / "metrics.md").read_text()
    assert "| **average** | 6 |" in md and "PSNR Y (dB)" in md
    run = json.loads((out / "run.json").read_text())
    assert run["frames"] == {"train_coffee": 3, VALIDATION_CLIP: 3} and run["crop_border"] == 0
    assert len(list((out / "per_frame.csv").read_text().splitlines())) == 1 + 6


def test_gt_folder_itself_with_lr_on_the_fly_gives_the_same_numbers(tmp_path):
    kw = dict(clips=[VALIDATION_CLIP], max_frames=2, use_lpips=False, **QUIET)
    a = evaluate(sample_root(), tmp_path / "a", **kw)
    b = evaluate(sample_root() / "GT", tmp_path / "b", **kw)  # no BIx4: BI degradation made on the fly
    assert a["average"]["psnr_rgb"] == pytest.approx(b["average"]["psnr_rgb"], abs=1e-9)
    c = evaluate(sample_root(), tmp_path / "c", crop_border=8, **kw)
    assert c["average"]["psnr_rgb"] != a["average"]["psnr_rgb"]


def test_refuses_to_overwrite_unless_told(tmp_path):
    kw = dict(clips=[VALIDATION_CLIP], max_frames=1, use_lpips=False, **QUIET)
    evaluate(sample_root(), tmp_path, **kw)
    with pytest.raises(FileExistsError, match=r"already holds results .*metrics\.json.*--overwrite"):
        evaluate(sample_root(), tmp_path, **kw)
    (tmp_path / "SR" / VALIDATION_CLIP / "stale.png").write_bytes(b"")
    evaluate(sample_root(), tmp_path, overwrite=True, **kw)
    assert not (tmp_path / "SR" / VALIDATION_CLIP / "stale.png").exists()


def test_cli_errors_for_bad_folders(tmp_path, capsys):
    assert cli(["evaluate", "--gt", str(tmp_path / "none"), "--out", str(tmp_path / "o"), "--no-lpips"]) == 2
    assert "Folder not found" in capsys.readouterr().err
    (tmp_path / "empty" / "GT").mkdir(parents=True)
    assert cli(["evaluate", "--gt", str(tmp_path / "empty"), "--out", str(tmp_path / "o"), "--no-lpips"]) == 2
    assert "it is empty" in capsys.readouterr().err


def test_missing_lpips_weights_give_the_fetch_command_and_the_opt_out(tmp_path, monkeypatch):
    import importlib

    import seeclear_lite.metrics as metrics

    # an empty weight cache, and no LPIPS module kept in memory by an earlier test of this process
    lpips_module = importlib.import_module(metrics.get_lpips.__module__)
    monkeypatch.setattr(lpips_module, "_CACHE", {}, raising=False)
    monkeypatch.setenv("SEECLEAR_CACHE", str(tmp_path / "empty_cache"))
    with pytest.raises(FileNotFoundError, match=r"(?s)python -m seeclear_lite.metrics.*--no-lpips"):
        evaluate(sample_root(), tmp_path / "o", clips=[VALIDATION_CLIP], **QUIET)
    assert not (tmp_path / "o").exists()  # failed before writing anything


@pytest.mark.skipif(not HAVE_LPIPS, reason="LPIPS weights not fetched (python -m seeclear_lite.metrics)")
def test_cli_with_lpips_on_the_validation_clip(tmp_path):
    out = tmp_path / "ev"
    assert cli(["evaluate", "--gt", str(sample_root()), "--out", str(out), "--clips", VALIDATION_CLIP,
                "--max-frames", "3", "--no-progress"]) == 0
    row = json.loads((out / "metrics.json").read_text())["clips"][VALIDATION_CLIP]
    assert 0 < row["lpips_vgg"] < 1 and row["tlp"] >= 0
