"""Shared fixtures for the unit tests."""

import pytest
import torch

from training_helpers import micro_config

from seeclear_lite.training import train


@pytest.fixture(autouse=True)
def single_thread():
    """One intra-op thread for every test: the tensors are tiny, and two OpenMP threads only add
    synchronisation (and stall badly when the 2-core CPU is shared). Restored afterwards."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A finished micro run (2 steps, validated, checkpoints kept)."""
    out = tmp_path_factory.mktemp("run") / "micro"
    train(micro_config("stages.0.steps=2", "val.every=2", "runtime.ckpt_every=1", "runtime.keep_last=5"), out,
          device=torch.device("cpu"), log=lambda *a, **k: None)
    return out
