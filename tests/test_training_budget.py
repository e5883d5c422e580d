"""runtime.max_minutes: a wall-clock budget per fit() call that validates, checkpoints and stops, so that a
time-limited GPU job can continue with --resume auto."""

import pytest
import torch

from seeclear_lite.config import ConfigError
from seeclear_lite.training import Trainer
from training_helpers import micro_config

QUIET = dict(device=torch.device("cpu"), log=lambda *a: None)


def test_budget_stops_validates_saves_and_resumes(tmp_path):
    # a budget far below one step: the first step is the last of this call
    cfg = micro_config("runtime.max_minutes=1e-7", "val.every=100", "stages.0.steps=6")
    out = tmp_path / "run"
    summary = Trainer(cfg, out, **QUIET).fit()
    assert summary["stopped_by_time"] is True
    assert summary["step"] == 1 < summary["total_steps"] == 6
    ckpts = sorted(p.name for p in (out / "checkpoints").glob("step_*.pt"))
    assert ckpts == ["step_00000001.pt"]
    assert (out / "checkpoints" / "best.pt").is_file()          # validated at the time stop
    # resuming with another (or no) budget is allowed (runtime.max_minutes is a resume-free key)
    cfg2 = micro_config("val.every=100", "stages.0.steps=6")
    t2 = Trainer(cfg2, out, resume="auto", **QUIET)
    assert t2.step == 1
    s2 = t2.fit(stop_at=3)
    assert s2["step"] == 3 and s2["stopped_by_time"] is False


def test_no_budget_runs_to_the_end(tmp_path):
    cfg = micro_config("stages.0.steps=2")
    s = Trainer(cfg, tmp_path / "r", **QUIET).fit()
    assert s["step"] == 2 and s["stopped_by_time"] is False and s["wall_s"] > 0


def test_budget_must_be_positive():
    with pytest.raises(ConfigError, match="runtime.max_minutes must be a finite number > 0"):
        micro_config("runtime.max_minutes=0")
