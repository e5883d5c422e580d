"""``python -m seeclear_lite export``: a run's checkpoint as float16 EMA weights + a JSON record (issue 9's
shipping format), checked on a micro run of the full model."""

import csv
import json

import pytest
import torch

from training_helpers import micro_config

from seeclear_lite.__main__ import main as cli
from seeclear_lite.data.samples import VALIDATION_CLIP, sample_root
from seeclear_lite.evaluation import evaluate
from seeclear_lite.training import train
from seeclear_lite.training.checkpoint import load_checkpoint, load_model
from seeclear_lite.evaluation.export import MAX_SHIPPED_BYTES, export_run, find_source, half_weights

QUIET = dict(log=lambda *a, **k: None)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """The full micro model trained 4 steps through its three stages, validated at step 2 and 4."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        cfg = micro_config("model.incam=true", "model.category=true", "val.every=2",
                           "stages=[{name: condenser, steps: 2, train: condenser}, {name: memory, steps: 1, "
                           "train: memory}, {name: joint, steps: 1, train: all}]")
        out = tmp_path_factory.mktemp("run")
        train(cfg, out, **QUIET)
    finally:
        torch.set_num_threads(n)
    return out


def test_export_is_the_ema_in_float16_and_loads_where_checkpoints_load(run, tmp_path):
    rec = export_run(run, tmp_path / "m.pt", use_lpips=False, device="cpu", **QUIET)
    src = load_checkpoint(find_source(run))
    ck = torch.load(tmp_path / "m.pt", map_location="cpu", weights_only=True)
    assert ck["weights"] == "EMA, float16" and ck["step"] == src["step"] == 4
    assert "optimizer" not in ck and "rng" not in ck
    for k, v in src["ema"].items():
        got = ck["model"][k]
        if v.is_floating_point():
            assert got.dtype == torch.float16
            # float16 rounding: relative 2^-11 of each value (plus the subnormal floor)
            assert torch.allclose(got.float(), v.float(), rtol=2 ** -10, atol=6e-8), k
        else:
            assert torch.equal(got, v), k
    assert all(ck["ema"][k].data_ptr() == ck["model"][k].data_ptr() for k in ck["model"])
    # model and ema are the same tensors (stored once): the file is about half the fp32 EMA's size
    fp32_bytes = sum(v.numel() * v.element_size() for v in src["ema"].values())
    assert rec["size_bytes"] < 0.5 * fp32_bytes + 200_000
    model, cfg, _ = load_model(tmp_path / "m.pt")
    assert next(model.parameters()).dtype == torch.float32 and cfg.preset == "tiny"


def test_record_holds_what_issue_9_asks_and_scores_the_export_against_bicubic(run, tmp_path):
    rec = export_run(run, tmp_path / "m.pt", use_lpips=False, device="cpu", **QUIET)
    on_disk = json.loads((tmp_path / "m.json").read_text())
    assert on_disk == json.loads(json.dumps(rec))
    assert rec["step"] == 4 and rec["total_steps_planned"] == 4 and rec["run_steps"] == 4 and rec["finished"]
    assert rec["training_wall_s"] > 0 and rec["training_devices"] and rec["training_devices"][0].startswith("cpu")
    assert rec["training_data"]["source"] == "samples"
    assert rec["fits_in_repo"] and rec["size_bytes"] <= MAX_SHIPPED_BYTES
    assert [r["step"] for r in rec["val_history"]] == [2, 4]
    assert rec["config"]["model"]["incam"] is True
    val = rec["validation"]
    assert val["clips"] == [VALIDATION_CLIP] and val["lpips"] is False
    b, m = val["average"]["bicubic"], val["average"]["model"]
    for key in ("psnr_rgb", "ssim_rgb", "psnr_y", "ssim_y", "tmae"):
        assert isinstance(b[key], float) and isinstance(m[key], float), key
    assert b["lpips_vgg"] is None and m["lpips_vgg"] is None
    # the model row is `evaluate --method checkpoint` of the exported file (same seed: the same frames)
    again = evaluate(sample_root(), tmp_path / "again", method="checkpoint", checkpoint=tmp_path / "m.pt",
                     clips=[VALIDATION_CLIP], use_lpips=False, device="cpu", progress=False, seed=val["seed"], **QUIET)
    quality = lambda row: {k: v for k, v in row.items() if k != "sr_ms_per_frame"}   # noqa: E731 (timing varies)
    assert quality(again["average"]) == quality(m) and quality(m) != quality(b)
    # bicubic on the training-time validation windows: the line val_history is read against
    from seeclear_lite.data.io import quantize
    from seeclear_lite.diffusion import BlurringResShift
    from seeclear_lite.metrics import psnr
    from seeclear_lite.training.checkpoint import checkpoint_config
    from seeclear_lite.training.validation import validation_windows

    cfg = checkpoint_config(load_checkpoint(tmp_path / "m.pt"))
    d = BlurringResShift.from_config(cfg.diffusion)
    frames = [psnr(quantize((d.upsample_lr(w["lr"] * 2 - 1) + 1) / 2), w["gt"]) for w in validation_windows(cfg)]
    want = float(torch.cat(frames).mean())
    assert abs(rec["val_bicubic"]["val_psnr"] - want) < 1e-6
    # the run's curves beside it: every history row up to the exported step, and the figure
    rows = list(csv.DictReader((tmp_path / "m_history.csv").open()))
    assert [int(r["step"]) for r in rows if r["val_psnr"]] == [2, 4] and rows[-1]["loss"]
    assert (tmp_path / "m_curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_export_sums_wall_time_over_a_resumed_run(tmp_path):
    cfg = micro_config("stages=[{name: condenser, steps: 4, train: condenser}]")
    torch.set_num_threads(1)
    train(cfg, tmp_path / "r", stop_at=2, **QUIET)
    first = load_checkpoint(find_source(tmp_path / "r", "latest"))["timing"]
    train(cfg, tmp_path / "r", resume="auto", **QUIET)
    both = load_checkpoint(find_source(tmp_path / "r", "latest"))["timing"]
    assert both["steps"] == 4 and len(both["devices"]) == 2
    assert both["wall_s"] > first["wall_s"] > 0


def test_export_refuses_to_overwrite_and_names_missing_runs(run, tmp_path, capsys):
    export_run(run, tmp_path / "m.pt", score=False, **QUIET)
    with pytest.raises(FileExistsError, match="--overwrite"):
        export_run(run, tmp_path / "m.pt", score=False, **QUIET)
    export_run(run, tmp_path / "m.pt", score=False, overwrite=True, **QUIET)
    with pytest.raises(ValueError, match=r"\.pt file"):
        export_run(run, tmp_path / "m.ckpt", score=False, **QUIET)
    with pytest.raises(FileNotFoundError, match="Nothing to export.*train --out"):
        export_run(tmp_path / "empty_dir_that_is_a_run", tmp_path / "x.pt", **QUIET)
    (tmp_path / "norun").mkdir()
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        export_run(tmp_path / "norun", tmp_path / "x.pt", **QUIET)
    assert cli(["export", "--run", str(tmp_path / "norun"), "--out", str(tmp_path / "x.pt")]) == 2
    assert "no checkpoint" in capsys.readouterr().err
    assert cli(["export", "--run", str(run), "--out", str(tmp_path / "c.pt"), "--no-score", "--which", "latest"]) == 0
    assert (tmp_path / "c.pt").is_file() and (tmp_path / "c.json").is_file()


def test_half_weights_refuses_values_float16_cannot_hold():
    with pytest.raises(ValueError, match="float16"):
        half_weights({"w": torch.tensor([1e6])})
    out = half_weights({"w": torch.tensor([1.5]), "idx": torch.tensor([3])})
    assert out["w"].dtype == torch.float16 and out["idx"].dtype == torch.int64


def test_rescore_adds_lpips_and_keeps_the_earlier_validation(run, tmp_path, capsys):
    from seeclear_lite.metrics.lpips_weights import weights_path
    from seeclear_lite.evaluation.export import rescore

    export_run(run, tmp_path / "m.pt", use_lpips=False, device="cpu", **QUIET)
    if not weights_path("vgg").is_file():
        pytest.skip("LPIPS weights not in the cache (make fetches them)")
    rec = rescore(tmp_path / "m.pt", use_lpips=True, device="cpu", **QUIET)
    assert rec["validation"]["lpips"] is True and rec["earlier_validations"][0]["lpips"] is False
    m = rec["validation"]["average"]["model"]
    assert 0 < m["lpips_vgg"] < 1 and m["psnr_rgb"] == rec["earlier_validations"][0]["average"]["model"]["psnr_rgb"]
    assert json.loads((tmp_path / "m.json").read_text())["validation"]["lpips"] is True
    assert cli(["export", "--rescore", str(tmp_path / "nothing.pt")]) == 2
    assert "rescore needs an export" in capsys.readouterr().err
    assert cli(["export", "--rescore", str(tmp_path / "m.pt"), "--out", str(tmp_path / "x.pt")]) == 2
    assert cli(["export", "--run", str(run)]) == 2
