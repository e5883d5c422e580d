"""``evaluate --method checkpoint``: the harness runs a trained checkpoint (Algorithm 1, clip by clip with the
CaTeGory memory) and its metrics are those of exactly the frames ``checkpoint_super_resolver`` produces."""

import json
import math

import pytest
import torch

from training_helpers import micro_config

from seeclear_lite.__main__ import main as cli
from seeclear_lite.data.io import list_frames, read_image, to_uint8, write_image
from seeclear_lite.data.samples import VALIDATION_CLIP, sample_root
from seeclear_lite.evaluation import METRIC_KEYS, evaluate, get_method
from seeclear_lite.metrics import psnr, ssim, temporal_error
from seeclear_lite.training import checkpoint_super_resolver, train

QUIET = dict(progress=False, log=lambda *a: None)
FRAMES = 7   # > m = 5: two clips, the second reflect-padded, the memory carried from the first


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """The full micro model (InCAM + CaTeGory), trained 3 steps through its three stages (~2 s)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        cfg = micro_config("model.incam=true", "model.category=true",
                           "stages=[{name: condenser, steps: 1, train: condenser}, {name: memory, steps: 1, "
                           "train: memory}, {name: joint, steps: 1, train: all}]")
        out = tmp_path_factory.mktemp("run")
        summary = train(cfg, out, log=lambda *a: None)
    finally:
        torch.set_num_threads(n)
    assert summary["step"] == 3
    return out / "checkpoints" / "step_00000003.pt"


def _frames(folder, n=None):
    return torch.stack([read_image(p) for p in list_frames(folder)[:n]])


def test_cli_checkpoint_row_is_the_sampler_output_on_every_frame(checkpoint, tmp_path):
    out = tmp_path / "ev"
    assert cli(["evaluate", "--gt", str(sample_root()), "--method", "checkpoint", "--checkpoint", str(checkpoint),
                "--clips", VALIDATION_CLIP, "--max-frames", str(FRAMES), "--out", str(out), "--no-lpips",
                "--no-progress", "--device", "cpu"]) == 0
    saved = json.loads((out / "metrics.json").read_text())
    assert set(saved) == {"method", "average", "clips"} and saved["method"] == "checkpoint"
    assert list(saved["clips"]) == [VALIDATION_CLIP]
    row = saved["clips"][VALIDATION_CLIP]
    assert tuple(row) == METRIC_KEYS and tuple(saved["average"]) == METRIC_KEYS
    assert row["lpips_vgg"] is None and row["sr_ms_per_frame"] > 0
    # independent run: the checkpoint's super-resolver on the clip's LR video, rounded to 8 bits as saved
    gt = _frames(sample_root() / "GT" / VALIDATION_CLIP, FRAMES)
    lr = _frames(sample_root() / "BIx4" / VALIDATION_CLIP, FRAMES)
    f = checkpoint_super_resolver(checkpoint, device="cpu")
    expect = (f(lr) * 255).round()
    sr_files = _frames(out / "SR" / VALIDATION_CLIP)
    assert sr_files.shape == gt.shape == (FRAMES, 3, 192, 192)
    assert torch.equal((sr_files * 255).round(), expect)   # bit-exact: same weights, seed, clips, memory
    assert len(f.sampler.times) == 2   # two m-frame clips
    assert math.isclose(row["psnr_rgb"], psnr(sr_files, gt).mean().item(), rel_tol=1e-9)
    assert math.isclose(row["ssim_y"], ssim(sr_files, gt, y_channel=True).mean().item(), rel_tol=1e-9)
    assert math.isclose(row["tmae"], temporal_error(sr_files, gt).item(), rel_tol=1e-9)
    # the frames are the network's, not the bicubic y it starts from (a 3-step model stays close to y)
    evaluate(sample_root(), tmp_path / "bic", clips=[VALIDATION_CLIP], max_frames=FRAMES, use_lpips=False, **QUIET)
    bic_files = _frames(tmp_path / "bic" / "SR" / VALIDATION_CLIP)
    assert (sr_files - bic_files).abs().mean().item() > 0.1 / 255
    run = json.loads((out / "run.json").read_text())
    assert run["checkpoint"] == str(checkpoint)
    assert run["sampler"] == {"form": "consistent", "seed": 0, "clip_length": 5, "T": 4, "steps": 4, "noise": "fresh",
                              "preset": "tiny", "model": "tiny", "incam": True, "category": True}


def test_chunking_does_not_change_the_checkpoint_row_and_the_seed_does(checkpoint, tmp_path):
    # a small BasicSR dataset: 64x64 crops of 7 frames of two clips, LR made on the fly (BI degradation)
    for clip in (VALIDATION_CLIP, "train_bbb"):
        for i, frame in enumerate(_frames(sample_root() / "GT" / clip, 7)):
            write_image(tmp_path / "data" / "GT" / clip / f"{i:08d}.png", to_uint8(frame[:, 64:128, 64:128])
                        .permute(1, 2, 0).numpy())
    kw = dict(method="checkpoint", checkpoint=checkpoint, use_lpips=False, device="cpu", **QUIET)
    a = evaluate(tmp_path / "data", tmp_path / "a", chunk=2, **kw)
    b = evaluate(tmp_path / "data", tmp_path / "b", chunk=8, **kw)
    quality = lambda r: {c: {k: v for k, v in row.items() if k != "sr_ms_per_frame"}  # noqa: E731
                         for c, row in [("average", r["average"]), *r["clips"].items()]}
    assert quality(a) == quality(b)   # the sampler streams its own m-frame clips whatever the harness's chunk
    c = evaluate(tmp_path / "data", tmp_path / "c", chunk=8, seed=1, **kw)   # other sampler noise
    assert c["average"]["psnr_rgb"] != a["average"]["psnr_rgb"]


def test_checkpoint_errors_name_the_fix(checkpoint, tmp_path, capsys, monkeypatch):
    from seeclear_lite.training import checkpoint as ck

    base = ["evaluate", "--gt", str(sample_root()), "--method", "checkpoint", "--no-lpips", "--out"]
    monkeypatch.setattr(ck, "SHIPPED_CHECKPOINT", tmp_path / "no_shipped_model.pt")   # a kit without its model
    assert cli(base + [str(tmp_path / "o1")]) == 2
    assert "no --checkpoint given and the shipped model" in capsys.readouterr().err
    assert cli(base + [str(tmp_path / "o2"), "--checkpoint", str(tmp_path / "missing.pt")]) == 2
    assert "Checkpoint not found" in capsys.readouterr().err
    assert not (tmp_path / "o1").exists() and not (tmp_path / "o2").exists()   # nothing written
    with pytest.raises(ValueError, match=r"super-resolves x4, but scale=2 was asked; evaluate it with --scale 4"):
        get_method("checkpoint", checkpoint, scale=2, device="cpu")
    with pytest.raises(ValueError, match=r"form must be one of paper, consistent, repaired"):
        get_method("checkpoint", checkpoint, form="ddpm", device="cpu")
