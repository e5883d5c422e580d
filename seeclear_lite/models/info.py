"""``python -m seeclear_lite info --config NAME [--json]``: parameter counts of a named configuration.

JSON shape (stable; outside tools read it)::

    {"config": NAME, "total": N, "modules": {"condenser": N, "incam": N, "category": N}}

Modules a configuration does not switch on count 0. The frozen semantic distiller is not counted (the
paper's 229.23 M, Table 5, counts only the learnable Pixel Condenser with InCAM and CaTeGory).
"""

from __future__ import annotations

import argparse
import json

from .config import CONFIGS, get_config


def parameter_report(name: str, **overrides) -> dict:
    """Build the model on the CPU (meta tensors would do, but the CPU is fast enough) and count."""
    from .build import build_model

    model = build_model(get_config(name, **overrides))
    counts = model.parameter_counts()
    modules = {"condenser": counts.pop("condenser"), "incam": counts.pop("incam", 0),
               "category": counts.pop("category", 0), **counts}
    return {"config": name, "total": sum(modules.values()), "modules": modules}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", default="base", choices=list(CONFIGS), help="configuration name")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def main(args: argparse.Namespace) -> int:
    report = parameter_report(args.config)
    if args.json:
        print(json.dumps(report))
        return 0
    print(f"configuration {report['config']}: {report['total']:,} learnable parameters "
          f"({report['total'] / 1e6:.2f} M; fp16 weights {report['total'] * 2 / 2**20:.1f} MiB)")
    for name, n in report["modules"].items():
        print(f"  {name:<10} {n:>14,}")
    return 0
