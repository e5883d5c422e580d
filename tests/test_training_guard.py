"""NaN/inf guard and checkpoints (issue 8): the guard names the step and keeps the last good checkpoint;
checkpoints load with torch.load(weights_only=True) and refuse another configuration or kit version."""

import math

import pytest
import torch

from training_helpers import micro_config

from seeclear_lite.training import (CheckpointError, NonFiniteLossError, Trainer, load_checkpoint, load_model)


def _quiet(*a, **k):
    pass


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    n = torch.get_num_threads()
    torch.set_num_threads(1)   # (single_thread is per test; this fixture is per module)
    cfg = micro_config("stages.0.steps=2", "runtime.ckpt_every=1", "runtime.keep_last=1", "val.every=1")
    tr = Trainer(cfg, out, device=torch.device("cpu"), log=_quiet)
    tr.fit()
    torch.set_num_threads(n)
    return cfg, out, tr


def test_nan_guard_names_step_and_keeps_last_good_checkpoint(tmp_path, monkeypatch):
    cfg = micro_config("stages.0.steps=6", "runtime.ckpt_every=2")
    tr = Trainer(cfg, tmp_path, device=torch.device("cpu"), log=_quiet)
    real = Trainer.compute_loss

    def poisoned(self, batch, step):
        loss = real(self, batch, step)
        return loss * float("nan") if step == 3 else loss     # the 4th step's loss is NaN

    monkeypatch.setattr(Trainer, "compute_loss", poisoned)
    with pytest.raises(NonFiniteLossError, match=r"non-finite loss or gradient at step 4 .*step_00000002\.pt"):
        tr.fit()
    assert tr.step == 3                                       # step 4 did not update anything
    ckpts = sorted(p.name for p in (tmp_path / "checkpoints").glob("step_*.pt"))
    assert ckpts == ["step_00000002.pt"]
    good = load_checkpoint(tmp_path / "checkpoints" / "step_00000002.pt", expect=cfg)
    assert good["step"] == 2
    assert all(torch.isfinite(v).all() for v in tr.model.state_dict().values())
    # and the run can go on from it once the cause is gone
    monkeypatch.setattr(Trainer, "compute_loss", real)
    t2 = Trainer(cfg, tmp_path, resume="auto", device=torch.device("cpu"), log=_quiet)
    assert t2.fit()["step"] == 6


def test_checkpoint_is_plain_weights_only(run):
    cfg, out, tr = run
    files = sorted(p.name for p in (out / "checkpoints").iterdir())
    assert files == ["best.config.yaml", "best.pt", "step_00000002.config.yaml", "step_00000002.pt"]  # keep_last=1
    ckpt = torch.load(out / "checkpoints" / "step_00000002.pt", map_location="cpu", weights_only=True)
    assert ckpt["format"] == "seeclear_lite.checkpoint/2" and ckpt["kit_version"]
    assert ckpt["config"] == cfg.to_dict() and ckpt["step"] == 2
    assert set(ckpt["rng"]) == {"torch", "numpy", "python", "cuda"}
    for k, v in tr.model.state_dict().items():
        assert torch.equal(ckpt["model"][k], v)
    model, cfg2, _ = load_model(out / "checkpoints" / "best.pt")
    assert cfg2 == cfg and not model.training
    assert math.isfinite(ckpt["history"][-1]["val_psnr"])
    from seeclear_lite.config import load_config_file, TrainConfig
    assert TrainConfig.from_dict(load_config_file(out / "checkpoints" / "step_00000002.config.yaml")) == cfg


def test_checkpoint_of_another_config_or_version_fails(run, tmp_path):
    cfg, out, _ = run
    path = out / "checkpoints" / "step_00000002.pt"
    other = micro_config("stages.0.steps=2", "optim.lr=0.5")
    with pytest.raises(CheckpointError, match=r"(?s)another configuration.*optim.lr: 0.001 -> 0.5"):
        load_checkpoint(path, expect=other)
    with pytest.raises(CheckpointError, match="another configuration"):
        Trainer(other, tmp_path, resume=path, device=torch.device("cpu"), log=_quiet)
    # keys that only change how the loop runs may differ
    load_checkpoint(path, expect=micro_config("stages.0.steps=2", "runtime.keep_last=1", "val.every=1",
                                              "runtime.ckpt_every=7", "data.num_workers=2"))
    ckpt = torch.load(path, weights_only=True)
    ckpt["kit_version"] = "0.0.0"
    torch.save(ckpt, tmp_path / "old.pt")
    with pytest.raises(CheckpointError, match=r"written by SeeClear-lite 0.0.0 but this is"):
        load_checkpoint(tmp_path / "old.pt")
    torch.save({"weights": torch.zeros(1)}, tmp_path / "foreign.pt")
    with pytest.raises(CheckpointError, match="not a SeeClear-lite checkpoint"):
        load_checkpoint(tmp_path / "foreign.pt")
    with pytest.raises(FileNotFoundError, match="Checkpoint not found"):
        load_checkpoint(tmp_path / "missing.pt")
