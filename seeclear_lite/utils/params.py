"""The package's one parameter counter."""

from __future__ import annotations

from torch import nn


def count_parameters(module: nn.Module | None, trainable_only: bool = False) -> int:
    """Number of parameters of ``module`` (each shared tensor once; 0 for None)."""
    if module is None:
        return 0
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)
