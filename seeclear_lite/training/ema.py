"""Exponential moving average (EMA) of a model's weights, used for validation and sampling.

``ema = d * ema + (1 - d) * weight`` after every optimiser step, with ``d = min(decay, (1 + n) / (10 + n))`` at
update n (the usual EMA warm-up: early on the average forgets the random initialisation quickly, so short CPU
runs validate meaningful weights; after ~10 k steps ``d = decay``; ResShift trains with EMA 0.999 too).
The count n is the optimiser step, passed in by the caller, so the EMA needs no state of its own to resume.
Floating-point parameters and buffers are averaged; integer buffers are copied. The shadow copy lives on
the model's device in float32 and its :meth:`state_dict` has the model's own keys, so it loads straight
into a fresh model (``model.load_state_dict(ema.state_dict())``).
"""

from __future__ import annotations

import torch
from torch import nn


def _unwrap(model: nn.Module) -> nn.Module:
    """The plain module inside DistributedDataParallel / torch.compile wrappers."""
    model = getattr(model, "module", model)
    return getattr(model, "_orig_mod", model)


class EMA:
    """Shadow weights of ``model``, updated with :meth:`update` after each optimiser step."""

    def __init__(self, model: nn.Module, decay: float = 0.999):
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"EMA decay must be in [0, 1), got {decay}.")
        self.decay = float(decay)
        self.shadow = {k: v.detach().clone().float() if v.is_floating_point() else v.detach().clone()
                       for k, v in _unwrap(model).state_dict().items()}

    def decay_at(self, n: int) -> float:
        return min(self.decay, (1.0 + n) / (10.0 + n))

    @torch.no_grad()
    def update(self, model: nn.Module, n: int | None = None) -> None:
        """Average in the current weights; ``n`` = updates before this one (None: no warm-up, d = decay)."""
        d = self.decay if n is None else self.decay_at(n)
        state = _unwrap(model).state_dict()
        floats_s, floats_m = [], []
        for k, v in state.items():
            s = self.shadow[k]
            if s.is_floating_point():
                floats_s.append(s)
                floats_m.append(v.detach().float())
            else:
                s.copy_(v)
        if floats_s:
            torch._foreach_lerp_(floats_s, floats_m, 1.0 - d)   # s += (1 - d) (m - s)

    def state_dict(self) -> dict:
        return {k: v.clone() for k, v in self.shadow.items()}

    def load_state_dict(self, state: dict) -> None:
        missing, extra = set(self.shadow) - set(state), set(state) - set(self.shadow)
        if missing or extra:
            raise ValueError(f"EMA state does not match the model: missing {sorted(missing)[:5]}, unexpected "
                             f"{sorted(extra)[:5]}; was it saved from another configuration?")
        for k, v in state.items():
            self.shadow[k].copy_(v)

    @torch.no_grad()
    def copy_to(self, model: nn.Module) -> None:
        """Load the EMA weights into ``model`` (e.g. a separate evaluation copy)."""
        _unwrap(model).load_state_dict(self.shadow)
