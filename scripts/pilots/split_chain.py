"""Pilot of issue 26 (not part of the package): the plane of a chain whose first call (t = T) uses checkpoint A
and every later call checkpoint B; what a separate last-step head would give while the first step stays A's.

Each network gets its own condition of the clip (semantic tokens, InCAM, CaTeGory read-out) from the memory the
chain carries; the memory is updated by the last call's network, as the sampler does. With A = B it is the plain
sampler (tested). Measured (README): the shipped weights' first call with the LPIPS-VGG 1.0 fine-tune's last call.

usage: python scripts/pilots/split_chain.py A.pt B.pt OUT [--clips carphone chelsea grass text] [--max-frames 10]
"""

from __future__ import annotations

import argparse
import sys

import torch.nn as nn

from seeclear_lite.evaluation import tradeoff as tradeoff_module
from seeclear_lite.training.checkpoint import load_model


class SplitChain(nn.Module):
    """Calls at ``t == T`` go to ``first``, all later calls to ``rest``."""

    def __init__(self, first: nn.Module, rest: nn.Module, T: int):
        super().__init__()
        self.first, self.rest, self.T = first, rest, int(T)
        self.last_call = 0                       # which network made the latest call (0: first, 1: rest)

    def condition(self, lr01, y, memory):
        return self.first.condition(lr01, y, memory), self.rest.condition(lr01, y, memory)

    def forward(self, x, y, t, cond, return_features: bool = False):
        at_T = int(t.reshape(-1)[0]) == self.T
        self.last_call = 0 if at_T else 1
        return (self.first, self.rest)[self.last_call](x, y, t, cond[self.last_call], return_features=return_features)

    def update_memory(self, memory, feats, cond, **kwargs):
        """The memory update by the network that made the clip's last call (its decoder features are ``feats``)."""
        return (self.first, self.rest)[self.last_call].update_memory(memory, feats, cond[self.last_call], **kwargs)


def schedule(cfg) -> tuple:
    """The fields of a diffusion config that fix the forward process (not the default sampler's calls or noise)."""
    d = cfg.diffusion
    return d.T, d.kappa, d.eta_power, d.min_noise_level, d.etas_end, d.patch_size, d.sigma_b2_max


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    p.add_argument("first", help="checkpoint for the call at t = T")
    p.add_argument("rest", help="checkpoint for every later call")
    p.add_argument("out", help="folder for tradeoff.json, .md, .png (replaced)")
    p.add_argument("--clips", nargs="+", default=["carphone", "chelsea", "grass", "text"])
    p.add_argument("--max-frames", type=int, default=10)
    a = p.parse_args(argv)

    def load_split(path, device=None, **kwargs):
        first, cfg, extra = load_model(a.first, device=device, **kwargs)
        rest, rest_cfg, _ = load_model(a.rest, device=device, **kwargs)
        if schedule(rest_cfg) != schedule(cfg):
            raise ValueError(f"{a.first} and {a.rest} were trained on different schedules; a split chain needs one.")
        return SplitChain(first, rest, cfg.diffusion.T).eval(), cfg, extra

    tradeoff_module.load_model = load_split
    tradeoff_module.tradeoff(a.first, out=a.out, clips=a.clips, max_frames=a.max_frames, steps=[1, 2], mean_of=1,
                             overwrite=True, progress=False)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
