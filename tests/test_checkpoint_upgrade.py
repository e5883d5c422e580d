"""Checkpoints written before the SeeClear module (format 1: a PixelCondenser with hook modules) still load:
their weights are renamed into SeeClear's children and give the same video (to float32 rounding: LayerNorm2d now
normalises along the channel dim directly instead of permuting, ~1e-6 apart; a wrong key would be ~0.1 apart)."""

import shutil
from pathlib import Path

import pytest
import torch

from seeclear_lite.diffusion import BlurringResShift
from seeclear_lite.training.checkpoint import (CHECKPOINT_FORMAT, CheckpointError, load_checkpoint, load_model,
                                               upgrade_v1_state_dict)
from seeclear_lite.training.sampling import sample_clip

ASSET = Path(__file__).parent / "assets" / "v1_checkpoint"


def test_format_1_checkpoint_loads_and_samples_the_same_video():
    """v1.pt and v1_outputs.pt were written by the format-1 code (a micro full model, weights perturbed away
    from their init, two clips sampled with the memory carried); the upgraded model must reproduce them."""
    model, cfg, ckpt = load_model(ASSET / "v1.pt", use_ema=False)
    assert ckpt["format"] == CHECKPOINT_FORMAT and ckpt["upgraded_from"] == "seeclear_lite.checkpoint/1"
    assert model.incam is not None and model.memory is not None and cfg.diffusion.T == 3
    ref = torch.load(ASSET / "v1_outputs.pt", weights_only=True)
    d = BlurringResShift.from_config(cfg.diffusion)
    g = torch.Generator().manual_seed(2)
    sr1, mem = sample_clip(model, d, ref["lr"][0], generator=g)
    sr2, mem2 = sample_clip(model, d, ref["lr"][1], generator=g, memory=mem)
    assert (torch.stack([sr1, sr2]) - ref["sr"]).abs().max() < 1e-5
    assert (mem2.T - ref["T2"]).abs().max() < 1e-5


def test_every_format_1_key_finds_its_place():
    old = torch.load(ASSET / "v1.pt", weights_only=True)["model"]
    new = upgrade_v1_state_dict(old)
    model, _, _ = load_model(ASSET / "v1.pt", use_ema=False)
    assert set(new) == set(model.state_dict())
    assert {k.split(".")[0] for k in new} == {"condenser", "incam", "memory"}
    assert new["memory.level_queries.0.attn.q.weight"] is old["extras.category.level_queries.0.attn.to_q.weight"]


def test_a_format_1_config_that_cannot_be_upgraded_is_refused_in_one_line(tmp_path):
    ckpt = torch.load(ASSET / "v1.pt", weights_only=True)
    ckpt["config"]["model"]["name"] = "huge"
    torch.save(ckpt, tmp_path / "bad.pt")
    with pytest.raises(CheckpointError, match=r"format-1 checkpoint whose config cannot be upgraded.*retrain") as e:
        load_checkpoint(tmp_path / "bad.pt")
    assert "\n" not in str(e.value)
    shutil.copy(ASSET / "v1.pt", tmp_path / "ok.pt")   # the asset itself is never rewritten by loading
    load_checkpoint(tmp_path / "ok.pt")
    assert torch.load(tmp_path / "ok.pt", weights_only=True)["format"] == "seeclear_lite.checkpoint/1"
