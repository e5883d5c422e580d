"""Shared fixtures for the unit tests."""

import pytest
import torch


@pytest.fixture(autouse=True)
def single_thread():
    """One intra-op thread for every test: the tensors are tiny, and two OpenMP threads only add
    synchronisation (and stall badly when the 2-core CPU is shared). Restored afterwards."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
