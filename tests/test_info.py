"""``python -m seeclear_lite info --config NAME --json``: the parameter-count JSON outside tools read."""

import dataclasses
import json
import subprocess
import sys

import pytest

from seeclear_lite.__main__ import main as cli_main
from seeclear_lite.config import PRESETS, get_model_config, preset_names
from seeclear_lite.models import PixelCondenser, build_model

SWITCHES_OFF = dict(semantic_condition=False, mfsa=False, incam=False, category=False)


def test_info_accepts_every_preset():
    assert preset_names() == list(PRESETS) == ["tiny", "tiny_full", "small", "small_v2", "lab", "base", "paper"]


@pytest.mark.parametrize("name", ["tiny", "tiny_full", "small", "small_v2", "base"])
def test_info_json_shape(name, capsys):
    assert cli_main(["info", "--config", name, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report) == {"config", "total", "modules"}
    assert report["config"] == name
    assert set(report["modules"]) == {"condenser", "incam", "category"}
    assert report["total"] == sum(report["modules"].values())
    model = build_model(name)
    assert report["total"] == sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert report["modules"] == model.parameter_counts()
    bare = sum(p.numel() for p in PixelCondenser(dataclasses.replace(get_model_config(name), **SWITCHES_OFF))
               .parameters())
    assert report["modules"]["condenser"] == bare
    if name == "tiny":  # the baseline: no semantic modules
        assert report["modules"]["incam"] == 0 and report["modules"]["category"] == 0
    else:  # the full model
        assert report["modules"]["incam"] > 0 and report["modules"]["category"] > 0


def test_info_table_and_subprocess(capsys):
    assert cli_main(["info", "--config", "tiny"]) == 0
    assert "learnable parameters" in capsys.readouterr().out
    out = subprocess.run([sys.executable, "-m", "seeclear_lite", "info", "--config", "paper", "--json"],
                         capture_output=True, text=True, check=True).stdout
    report = json.loads(out)
    # the README's promise: within 2 % of Table 5's 229.23 M
    assert report["config"] == "paper" and abs(report["total"] - 229.23e6) < 0.02 * 229.23e6
    assert report["modules"]["incam"] > 0 and report["modules"]["category"] > 0


def test_info_unknown_config(capsys):
    with pytest.raises(SystemExit):
        cli_main(["info", "--config", "huge", "--json"])
    assert "invalid choice" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["tiny", "base"])
def test_flop_report_counts_what_a_real_forward_counts(name):
    """The meta-tensor count equals FlopCounterMode around a real CPU forward at the same size (with the real
    conditioning for the full model), and Algorithm 1 per frame is (T x call + distiller + condition) / m."""
    import torch
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.utils.flop_counter import FlopCounterMode

    from seeclear_lite.models.info import flop_report

    rep = flop_report(name, size=32, steps=4)
    model = build_model(name).eval().requires_grad_(False)   # (FlopCounterMode hooks otherwise)
    lr01 = torch.rand(1, 5, 3, 8, 8)
    x = torch.randn(1, 5, 3, 32, 32)
    with torch.no_grad():
        distilled = model.distiller(lr01) if model.distiller is not None else None
        # the math backend: the CPU's fused attention kernel is not counted by FlopCounterMode (the meta run
        # counts attention through the same math decomposition)
        with FlopCounterMode(display=False) as counter, sdpa_kernel(SDPBackend.MATH):
            cond = model.condition(None, x, distilled=distilled)
        cond_flops = counter.get_total_flops()
        with FlopCounterMode(display=False) as counter, sdpa_kernel(SDPBackend.MATH):
            model(x, x, torch.full((1,), 4), cond)
    assert rep["network_call_flops"] == counter.get_total_flops() > 0
    assert rep["condition_flops_per_clip"] == cond_flops > 0   # the LR pyramid at least
    assert rep["flops_per_frame"] == pytest.approx(
        (4 * rep["network_call_flops"] + rep["distiller_flops_per_clip"] + rep["condition_flops_per_clip"]) / 5)
    assert (rep["distiller_flops_per_clip"] > 0) == (name == "base")
    assert sum(rep["network_share_by_op"].values()) == pytest.approx(1.0)


def test_info_flops_cli(capsys):
    assert cli_main(["info", "--config", "tiny", "--flops", "--size", "64", "--steps", "2", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["flops"]["size"] == 64 and report["flops"]["flops_per_frame"] > 0
    assert cli_main(["info", "--config", "tiny", "--flops", "--size", "30"]) == 2
    assert "multiple of 4" in capsys.readouterr().err
