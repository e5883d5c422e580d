"""``python -m seeclear_lite bench`` at a tiny size on the CPU: the report's shape, positive timings, and
variants that cannot run here reported as skipped with a reason (never timed on something else)."""

import json

import pytest

from seeclear_lite.__main__ import main as cli

TINY = ["bench", "--configs", "tiny", "--size", "64", "--steps", "2", "--repeats", "1", "--warmup", "1",
        "--train-preset", "tiny", "--train-steps", "1", "--train-warmup", "0", "--device", "cpu", "--eval-frames", "0"]


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    assert cli(TINY + ["--profile-step", "--out", str(out)]) == 0
    return json.loads((out / "bench.json").read_text()), out


def test_report_keys_and_positive_numbers(report):
    rep, out = report
    assert rep["format"] == "seeclear-lite-bench/1"
    assert {"device", "settings", "paper", "configs", "training", "wall_s"} <= set(rep)
    assert rep["device"]["type"] == "cpu" and rep["device"]["name"]
    assert rep["settings"] == {**rep["settings"], "size": 64, "lr_size": 16, "steps": 2, "clip_length": 5}
    assert rep["paper"]["seeclear_params_m"] == 229.23 and rep["paper"]["seeclear_s_per_frame"] == 1.142
    tiny = rep["configs"]["tiny"]
    from seeclear_lite.models.info import parameter_report

    assert tiny["parameters"]["total"] == parameter_report("tiny")["total"] > 0
    eager = tiny["variants"]["eager_fp32"]
    assert eager["status"] == "ok" and eager["output_finite"]
    assert eager["seconds_per_frame"] > 0 and eager["seconds_per_clip"] > 0
    assert eager["seconds_per_frame"] == pytest.approx(eager["seconds_per_clip"] / 5)
    assert eager["speedup_vs_eager"] == 1.0 and eager["mean_abs_diff_vs_eager"] == 0.0
    assert "peak_memory_mib" not in eager                     # CPU: no GPU memory to report
    cl = tiny["variants"]["fp32_channels_last"]
    assert cl["status"] == "ok" and cl["seconds_per_frame"] > 0 and cl["speedup_vs_eager"] > 0
    assert tiny["fastest"] in tiny["variants"]
    tr = rep["training"]
    assert tr["status"] == "ok" and tr["clips_per_s"] > 0 and tr["seconds_per_step"] > 0 and tr["loss_finite"]
    md = (out / "bench.md").read_text()
    assert "| tiny |" in md and "1.142 s per frame" in md and "other hardware" in md
    prof = (out / "profile.txt").read_text()
    assert "one sampling step" in prof and "convolution" in prof


def test_the_accuracy_column_can_see_a_numerical_difference():
    """A fresh network's zero-initialised output layer would make every variant's output identical (the column
    would always read 0); the bench model has small random weights there, so bf16 autocast shows up."""
    import torch

    from seeclear_lite.kit.bench_measure import build_bench_model, time_variant

    model, diffusion = build_bench_model("tiny", 2, torch.device("cpu"), 0)
    lr01 = torch.rand(1, 5, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    outs = {v: time_variant(model, diffusion, lr01, v, warmup=0, repeats=1, seed=0)[2]
            for v in ("eager_fp32", "bf16")}   # bf16 autocast also runs on the CPU when called directly
    diff = (outs["bf16"] - outs["eager_fp32"]).abs().mean().item()
    assert 1e-6 < diff < 0.05


def test_bf16_is_measured_only_where_the_cpu_has_it_and_compile_only_when_asked(report):
    from seeclear_lite.kit.bench_measure import native_bf16

    v = report[0]["configs"]["tiny"]["variants"]
    has_bf16, why = native_bf16()
    for name in ("bf16", "bf16_channels_last"):
        if has_bf16:
            assert v[name]["status"] == "ok" and v[name]["peak_dtype"] == "bf16"
        else:
            assert v[name]["status"] == "skipped" and v[name]["reason"] == why
    for name in ("fp32_channels_last_compile", "bf16_channels_last_compile"):
        assert v[name]["status"] == "skipped" and "--compile" in v[name]["reason"]


def test_peak_and_fraction_of_peak_are_in_the_same_run(report):
    rep = report[0]
    assert rep["peak"]["fp32"]["matmul_gflops"] > 0 and rep["peak"]["fp32"]["conv3x3_gflops"] > 0
    for name, r in rep["configs"]["tiny"]["variants"].items():
        if r["status"] == "ok":
            dtype = r["peak_dtype"]
            assert r["fraction_of_peak"] == pytest.approx(r["gflops_per_s"] / rep["peak"][dtype]["peak_gflops"])
    fastest = rep["configs"]["tiny"]["fastest"]
    assert rep["configs"]["tiny"]["variants"][fastest]["mean_abs_diff_vs_eager"] <= 1e-2
    assert fastest not in ("eager_fp32_1thread", "recompute_per_step")           # measurements, not defaults
    tr = rep["training"]
    assert tr["fast"] is True and tr["eager_fp32"]["fast"] is False and tr["speedup_vs_eager"] > 0


def test_evaluation_timing_compares_before_and_now_on_the_same_frames():
    import torch

    from seeclear_lite.kit.bench_measure import measure_evaluation

    ev = measure_evaluation(torch.device("cpu"), frames=2, size=(32, 48))
    assert ev["before_s_per_frame"] > 0 and ev["now_s_per_frame"] > 0
    assert ev["speedup"] == pytest.approx(ev["before_s_per_frame"] / ev["now_s_per_frame"])


def test_skip_reasons():
    import torch

    from seeclear_lite.kit.bench_measure import skip_reason

    cuda = torch.device("cuda", 0)
    assert skip_reason("bf16", cuda, False) is None
    assert skip_reason("eager_fp32_1thread", cuda, False) == "a CPU variant"
    assert skip_reason("bf16_channels_last_compile", cuda, True) is None
    assert "not asked" in skip_reason("bf16_channels_last_compile", cuda, False)
    assert skip_reason("eager_fp32", torch.device("cpu"), False) is None


def test_bad_arguments_are_refused(capsys):
    assert cli(["bench", "--configs", "tiny", "--size", "66", "--device", "cpu", "--train-steps", "0",
                "--eval-frames", "0"]) == 2
    assert "multiple of 4" in capsys.readouterr().err
    assert cli(["bench", "--configs", "tiny", "--steps", "1", "--device", "cpu", "--train-steps", "0",
                "--eval-frames", "0"]) == 2
    assert "must be >= 2" in capsys.readouterr().err
    assert cli(["bench", "--configs", "tiny", "--steps", "4", "--calls", "5", "--device", "cpu", "--train-steps", "0",
                "--eval-frames", "0"]) == 2
    assert "--calls" in capsys.readouterr().err


def test_calls_time_the_re_spaced_chain(tmp_path, monkeypatch):
    """``--calls K`` times K network calls of the T-step schedule (what `sample --steps K` runs), not all T."""
    import seeclear_lite.kit.bench_measure as bm

    seen = []
    real = bm.sample_clip
    monkeypatch.setattr(bm, "sample_clip", lambda *a, **k: seen.append(k.get("steps")) or real(*a, **k))
    assert cli(["bench", "--configs", "tiny", "--size", "64", "--steps", "4", "--calls", "1", "--repeats", "1",
                "--warmup", "0", "--variants", "eager_fp32", "--device", "cpu", "--train-steps", "0",
                "--eval-frames", "0", "--out", str(tmp_path)]) == 0
    rep = json.loads((tmp_path / "bench.json").read_text())
    assert seen == [1] and rep["settings"]["steps"] == 4 and rep["settings"]["calls"] == 1
    from seeclear_lite.models.info import flop_report

    assert rep["configs"]["tiny"]["flops_per_frame"] == flop_report("tiny", size=64, steps=1)["flops_per_frame"]
    assert "T = 4 re-spaced to 1 network call per clip" in (tmp_path / "bench.md").read_text()


def test_size_not_fitting_the_config_is_reported_failed(tmp_path):
    # 96 is a multiple of 4 but not of tiny's frame-size multiple (64): reported, not crashed
    assert cli(["bench", "--configs", "tiny", "--size", "96", "--steps", "2", "--repeats", "1", "--device", "cpu",
                "--train-steps", "0", "--eval-frames", "0", "--out", str(tmp_path)]) == 0
    rep = json.loads((tmp_path / "bench.json").read_text())
    e = rep["configs"]["tiny"]["variants"]["eager_fp32"]
    assert e["status"] == "failed" and "multiple of 64" in e["reason"]
    assert rep["training"] == {"status": "skipped", "reason": "--train-steps 0"}


def test_counted_flops_give_each_variant_its_throughput(report):
    from seeclear_lite.models.info import flop_report

    tiny = report[0]["configs"]["tiny"]
    assert tiny["flops_per_frame"] == flop_report("tiny", size=64, steps=2)["flops_per_frame"] > 0
    for v in ("eager_fp32", "fp32_channels_last"):
        r = tiny["variants"][v]
        assert r["tflops_per_s"] == pytest.approx(tiny["flops_per_frame"] / r["seconds_per_frame"] / 1e12)
    assert "GFLOP/s" in (report[1] / "bench.md").read_text()
