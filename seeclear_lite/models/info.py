"""``python -m seeclear_lite info --config NAME [--json] [--flops]``: parameter counts of a named configuration,
and with ``--flops`` the arithmetic of Algorithm 1 at Table 5's setting.

JSON shape (stable; outside tools read it)::
    {"config": NAME, "total": N, "modules": {"condenser": N, "incam": N, "category": N}}

(``--flops`` adds a ``"flops"`` entry: :func:`flop_report`.)

Modules a configuration does not switch on count 0. The frozen semantic distiller is not counted (the
paper's 229.23 M, Table 5, counts only the learnable Pixel Condenser with InCAM and CaTeGory).
"""

from __future__ import annotations

import argparse
import json
import sys

import torch
from torch.utils.flop_counter import FlopCounterMode

from ..config import get_model_config, preset_names
from .seeclear import build_model


def parameter_report(name: str, **fields) -> dict:
    """Build the model on the CPU and count its learnable parameters per part."""
    modules = build_model(name, **fields).parameter_counts()
    return {"config": name, "total": sum(modules.values()), "modules": modules}


def flop_report(name: str, size: int = 512, steps: int = 15, clip_length: int = 5, **overrides) -> dict:
    """Counted floating-point operations of Algorithm 1 per output frame: ``steps`` network calls on a clip of
    ``clip_length`` frames of ``size`` × ``size`` (input ``size/4``), plus the Semantic Distiller once per clip,
    divided by the clip's frames. Table 5's setting is the default (512 × 512 from 128 × 128, T = 15, m = 5).

    Counted by ``torch.utils.flop_counter.FlopCounterMode`` (2 per multiply-add of convolutions, matmuls and
    attention; element-wise work, the DWT and the diffusion update are not counted, so this is a floor). The
    network runs on meta tensors (shapes only, no memory, seconds even for ``paper``); the distiller runs for
    real on a random LR clip, which also gives the conditioning's shapes."""
    if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= 10_000:
        raise ValueError(f"--steps must be an integer from 1 to 10000 (network calls per clip), got {steps!r}.")
    if isinstance(clip_length, bool) or not isinstance(clip_length, int) or clip_length < 1:
        raise ValueError(f"clip_length must be an integer >= 1, got {clip_length!r}.")
    if not 16 <= size <= 4096:
        raise ValueError(f"size must be from 16 to 4096 (a multiple of 4), got {size}.")
    if size % 4 or size < 16:
        raise ValueError(f"size must be a multiple of 4 (the x4 input is size/4) and >= 16, got {size}.")
    cfg = get_model_config(name, **overrides)
    lr01 = torch.rand(1, clip_length, 3, size // 4, size // 4, generator=torch.Generator().manual_seed(0))
    real = build_model(cfg).eval()
    with torch.device("meta"):
        model = build_model(cfg).eval().requires_grad_(False)
        x = torch.empty(1, clip_length, 3, size, size)
        t = torch.full((1,), steps, dtype=torch.long)
    # once per clip: the distiller for real (it has no meta kernels), the rest of condition() on meta tensors
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        tokens, seg = real.distiller(lr01) if real.distiller is not None else (None, None)
    dist_flops = counter.get_total_flops()
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        cond = model.condition(None, x, distilled=None if tokens is None else (tokens.to("meta"), seg.to("meta")))
    cond_flops = counter.get_total_flops()
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(x, x, t, cond)
    call = counter.get_total_flops()
    by_op = {str(op).replace("aten.", ""): n for op, n in counter.get_flop_counts()["Global"].items()}
    per_frame = (steps * call + dist_flops + cond_flops) / clip_length
    return {"config": name, "size": size, "input_size": size // 4, "steps": steps, "clip_length": clip_length,
            "network_call_flops": call, "distiller_flops_per_clip": dist_flops, "condition_flops_per_clip": cond_flops,
            "flops_per_frame": per_frame,
            "network_share_by_op": {k: v / call for k, v in sorted(by_op.items(), key=lambda kv: -kv[1])}}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", default="base", choices=preset_names(), help="configuration name")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--flops", action="store_true",
                        help="also count the FLOPs of Algorithm 1 per output frame (Table 5's setting by default)")
    parser.add_argument("--size", type=int, default=512, help="with --flops: output frame size (default 512)")
    parser.add_argument("--steps", type=int, default=15, help="with --flops: diffusion steps T (default 15)")


def main(args: argparse.Namespace) -> int:
    report = parameter_report(args.config)
    if args.flops:
        try:
            report["flops"] = flop_report(args.config, size=args.size, steps=args.steps)
        except ValueError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
    if args.json:
        print(json.dumps(report))
        return 0
    print(f"configuration {report['config']}: {report['total']:,} learnable parameters "
          f"({report['total'] / 1e6:.2f} M; fp16 weights {report['total'] * 2 / 2**20:.1f} MiB)")
    for name, n in report["modules"].items():
        print(f"  {name:<10} {n:>14,}")
    if args.flops:
        f = report["flops"]
        shares = ", ".join(f"{k} {v:.0%}" for k, v in list(f["network_share_by_op"].items())[:4])
        print(f"Algorithm 1, {f['input_size']}x{f['input_size']} -> {f['size']}x{f['size']}, T = {f['steps']}, "
              f"m = {f['clip_length']}: {f['flops_per_frame'] / 1e12:.3f} TFLOP per output frame "
              f"({f['steps']} network calls of {f['network_call_flops'] / 1e12:.3f} TFLOP per {f['clip_length']}-frame "
              f"clip, distiller {f['distiller_flops_per_clip'] / 1e9:.2f} GFLOP per clip; network: {shares}; "
              f"counted, element-wise work not included)")
    return 0
