"""The perception-distortion plane (``tradeoff``) and the recipe's knobs: every point is the frames the video
sampler gives with those settings, scored by the one metric loop; the first step is one network call; the mean
of n is the mean of the seeds' samples; the perceptual loss weights t as stated; the export rule counts LPIPS."""

import json

import pytest
import torch

from training_helpers import micro_config

from seeclear_lite.__main__ import main as cli
from seeclear_lite.data.io import quantize, read_image, list_frames
from seeclear_lite.data.samples import VALIDATION_CLIP, sample_root
from seeclear_lite.diffusion import BlurringResShift
from seeclear_lite.evaluation.tradeoff import _label_groups, chain_against_first, crop_points, plan_points, plane_summary, tradeoff
from seeclear_lite.metrics.clip_scores import ClipScores
from seeclear_lite.training import checkpoint_super_resolver, train
from seeclear_lite.training.engine import selection_value
from seeclear_lite.training.losses import PerceptualLoss

QUIET = dict(progress=False, log=lambda *a: None)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        out = tmp_path_factory.mktemp("run")
        train(micro_config("stages.0.steps=2"), out, log=lambda *a: None)
    finally:
        torch.set_num_threads(n)
    return out / "checkpoints" / "step_00000002.pt"


def test_plan_has_bicubic_first_step_chains_seeds_and_their_mean():
    pts = plan_points(T=4, default_steps=4, steps=None, mean_of=3, seed=5)
    assert [p.name for p in pts] == ["bicubic", "steps1", "steps2", "steps4", "steps4_seed6", "steps4_seed7", "mean3"]
    assert pts[-1].seeds == (5, 6, 7) and pts[3].default and not pts[1].default
    assert [p.name for p in crop_points(pts)] == ["bicubic", "steps1", "steps2", "steps4", "mean3"]
    one = plan_points(T=15, default_steps=1, steps=[1, 2, 4], mean_of=2)     # a 1-call default: its seed is a first step
    assert [p.label for p in one][1:] == ["first step x̂0(x_T) (default)", "2-step chain", "4-step chain",
                                          "first step, seed 1", "mean of 2 samples"]
    assert [p.name for p in crop_points(one)] == ["bicubic", "steps1", "steps2", "mean2"]   # the chain beside it
    with pytest.raises(ValueError, match="1..T=4"):
        plan_points(4, 4, steps=[5])
    with pytest.raises(ValueError, match="--mean-of"):
        plan_points(4, 4, mean_of=0)


def test_every_point_is_the_samplers_output_scored_by_the_one_loop(checkpoint, tmp_path):
    rec = tradeoff(checkpoint, sample_root(), tmp_path / "plane", clips=[VALIDATION_CLIP], max_frames=6,
                   steps=[1, 4], mean_of=2, use_dists=False, **QUIET)
    saved = json.loads((tmp_path / "plane" / "tradeoff.json").read_text())
    assert saved["points"] == json.loads(json.dumps(rec["points"]))
    assert (tmp_path / "plane" / "tradeoff.png").stat().st_size > 10_000 and (tmp_path / "plane" / "tradeoff.md").exists()
    assert (tmp_path / "plane" / "tradeoff_crops.png").stat().st_size > 5_000
    pts = {p["name"]: p for p in rec["points"]}
    assert set(pts) == {"bicubic", "steps1", "steps4", "steps4_seed1", "mean2"}
    assert pts["steps1"]["network_calls_per_clip"] == 1 and pts["mean2"]["network_calls_per_clip"] == 8
    gt = torch.stack([read_image(p) for p in list_frames(sample_root() / "GT" / VALIDATION_CLIP)[:6]])
    lr = torch.stack([read_image(p) for p in list_frames(sample_root() / "BIx4" / VALIDATION_CLIP)[:6]])

    def score(sr):
        s = ClipScores(0, None, None, "cpu")
        s.add(quantize(sr), gt)
        return s.means()

    one = checkpoint_super_resolver(checkpoint, device="cpu", steps=1)(lr)
    four = [checkpoint_super_resolver(checkpoint, device="cpu", steps=4, seed=s)(lr) for s in (0, 1)]
    for name, sr in (("steps1", one), ("steps4", four[0]), ("steps4_seed1", four[1]),
                     ("mean2", torch.stack(four).mean(0))):
        want = score(sr)
        for k in ("psnr_y", "ssim_rgb", "tmae"):
            assert pts[name]["average"][k] == pytest.approx(want[k], abs=1e-9), (name, k)
    assert pts["bicubic"]["average"]["lpips_vgg"] is not None
    # what an export's JSON keeps of it: gains over bicubic, one row per output, bicubic not among them
    summary = plane_summary(rec, "test", "cpu")
    assert [q["label"] for q in summary["points"]] == [p["label"] for p in rec["points"] if p["steps"]]
    row = summary["points"][0]
    assert row["psnr_y_gain_db"] == round(pts["steps1"]["average"]["psnr_y"] - pts["bicubic"]["average"]["psnr_y"], 3)
    assert row["lpips_vgg_gain"] == round(pts["steps1"]["average"]["lpips_vgg"]
                                          - pts["bicubic"]["average"]["lpips_vgg"], 4)
    assert "dists" not in row and summary["bicubic"]["psnr_y"] == round(pts["bicubic"]["average"]["psnr_y"], 2)


def test_tradeoff_cli_refuses_bad_values_before_writing(checkpoint, tmp_path, capsys):
    out = tmp_path / "p"
    assert cli(["tradeoff", "--checkpoint", str(checkpoint), "--gt", str(sample_root()), "--steps", "9",
                "--out", str(out), "--no-progress"]) == 2
    assert "1..T=4" in capsys.readouterr().err and not (out / "tradeoff.json").exists()
    inside = sample_root() / "plane"                                     # a result never lands on an input
    assert cli(["tradeoff", "--checkpoint", str(checkpoint), "--gt", str(sample_root()), "--out", str(inside)]) == 2
    assert "--gt" in capsys.readouterr().err and not inside.exists()


def test_perceptual_loss_weights_t_as_stated_and_skips_zero_weights():
    d = BlurringResShift(T=4, min_noise_level=0.2)
    loss = PerceptualLoss(0.5, "alex", "last")
    x0 = torch.rand(3, 2, 3, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1
    x0_hat = (x0 + 0.2 * torch.randn(x0.shape, generator=torch.Generator().manual_seed(1))).clamp(-1, 1)
    t = torch.tensor([1, 3, 1])
    per_clip = loss.lpips((x0_hat + 1) / 2, (x0 + 1) / 2).mean(dim=1)
    assert float(loss(x0_hat, x0, t, d)) == pytest.approx(0.5 * float(per_clip[[0, 2]].sum()) / 3, rel=1e-5)
    assert float(loss(x0_hat, x0, torch.tensor([2, 3, 4]), d)) == 0.0
    sig = PerceptualLoss(0.5, "alex", "signal")
    w = 1 - d.eta[t].float()
    assert float(sig(x0_hat, x0, t, d)) == pytest.approx(0.5 * float((per_clip * w).mean()), rel=1e-5)
    x = x0_hat.clone().requires_grad_(True)
    PerceptualLoss(1.0, "alex", "all")(x, x0, t, d).backward()
    assert x.grad.abs().sum() > 0


def test_export_rule_counts_lpips_as_well_as_psnr():
    a = {"val_psnr": 22.0, "val_lpips": 0.30}
    b = {"val_psnr": 22.4, "val_lpips": 0.33}                # +0.4 dB bought with +0.03 LPIPS: worse at 0.05/dB
    assert selection_value(a, "psnr_lpips") > selection_value(b, "psnr_lpips")
    assert selection_value(a, "psnr") < selection_value(b, "psnr")
    assert selection_value({"val_psnr": 22.0, "val_lpips": None}, "psnr_lpips") is None


def test_validation_reports_the_default_output_and_the_first_step(tmp_path):
    cfg = micro_config("stages.0.steps=2", "val.every=2", "val.lpips=false")
    summary = train(cfg, tmp_path / "r", log=lambda *a: None)
    rows = [r for r in json.loads((tmp_path / "r" / "history.json").read_text())["rows"] if r.get("val_psnr")]
    assert rows and rows[-1]["val_first_psnr"] is not None and rows[-1]["val_first_psnr"] != rows[-1]["val_psnr"]
    assert summary["step"] == 2


def test_a_validation_clip_smaller_than_the_crop_is_validated_whole_along_that_side():
    from seeclear_lite.training.validation import validation_windows

    small = validation_windows(micro_config("val.gt_patch=32"))
    whole = validation_windows(micro_config("val.gt_patch=4096"))
    frame = read_image(list_frames(sample_root() / "GT" / VALIDATION_CLIP)[0]).shape[-2:]
    assert small[0]["gt"].shape[-2:] == (32, 32)
    assert whole[0]["gt"].shape[-2:] == frame and whole[0]["lr"].shape[-2:] == (frame[0] // 4, frame[1] // 4)


def test_near_equal_points_share_one_label():
    """The first step and the mean of its samples a hair apart get one two-line label, not two on top of each
    other; points apart keep their own."""
    xy = [(25.9, 0.402), (27.24, 0.3488), (26.93, 0.3462), (26.42, 0.3629), (27.25, 0.3487)]
    assert _label_groups(xy) == [0, 1, 2, 3, 1]
    assert _label_groups([(1.0, 1.0)]) == [0]                    # one point: no zero-range division


def test_the_chain_set_against_the_first_step():
    """The default when it is a chain; with a 1-call default the shortest chain scored, never a seed row."""
    from dataclasses import asdict

    two = [asdict(p) for p in plan_points(T=15, default_steps=2, steps=[1, 2, 4], mean_of=2)]
    one = [asdict(p) for p in plan_points(T=15, default_steps=1, steps=[1, 2, 4], mean_of=2)]
    four = [asdict(p) for p in plan_points(T=15, default_steps=4, steps=[1, 2, 4], mean_of=2)]
    assert [chain_against_first(p)["name"] for p in (two, one, four)] == ["steps2", "steps2", "steps4"]
