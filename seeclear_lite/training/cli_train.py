"""``python -m seeclear_lite train``: train a configuration (Sec. 4.1), on the CPU, one GPU or many.

Examples::
    python -m seeclear_lite train --config tiny --out runs/tiny                      # CPU-sized, sample clips
    python -m seeclear_lite train --config tiny stages.0.steps=50 optim.lr=1e-3 --out runs/t2
    python -m seeclear_lite train --config base --config-file my.yaml --out runs/base --resume auto
    torchrun --nproc_per_node=4 -m seeclear_lite train --config paper data.root=/data/REDS --out runs/paper

Overrides are ``key=value`` with dotted keys (``data.batch_size=8``, ``stages.0.steps=500``,
``model.channels=16``); ``--config-file`` takes YAML or JSON with the same keys, applied before the command
line. The run folder gets ``config.yaml``, ``history.csv`` / ``history.json`` and ``checkpoints/``
(``step_XXXXXXXX.pt`` with ``.config.yaml`` beside each, the last N kept, and ``best.pt``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..config import ConfigError, get_config, preset_names
from ..utils.device import get_device
from .checkpoint import CheckpointError
from .distributed import cleanup, is_main
from .engine import NonFiniteLossError, Trainer


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = __doc__.split("\n\n")[0].replace("``", "")
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = "\n\n".join(__doc__.split("\n\n")[1:])
    parser.add_argument("--config", default="tiny", choices=preset_names(), help="named preset (default: tiny)")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="config overrides, e.g. optim.lr=1e-4")
    parser.add_argument("--config-file", type=Path, default=None, help="YAML/JSON file of overrides")
    parser.add_argument("--resume", default=None, metavar="PATH|auto",
                        help="continue exactly from a checkpoint, or 'auto' = the latest in --out/checkpoints")
    parser.add_argument("--out", type=Path, default=None, help="run folder (default: runs/<config>)")
    parser.add_argument("--device", default=None, help="override runtime.device (e.g. cpu)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace the run already in --out (its checkpoints go when the new run starts)")
    parser.add_argument("--print-config", action="store_true", help="print the resolved config and exit")


def main(args: argparse.Namespace) -> int:
    overrides = list(args.overrides)
    if args.device is not None:
        overrides.append(f"runtime.device={args.device}")
    if args.resume is not None and args.overwrite:
        print("error: --resume continues the run in --out and --overwrite replaces it: pass one of them.",
              file=sys.stderr)
        return 2
    try:
        cfg = get_config(args.config, overrides, config_file=args.config_file)
        if cfg.runtime.device is not None:
            get_device(device=cfg.runtime.device)
    except (ConfigError, FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.print_config:
        print(cfg.to_yaml(), end="")
        return 0
    out = args.out if args.out is not None else Path("runs") / args.config
    trainer = None
    try:
        trainer = Trainer(cfg, out, resume=args.resume, overwrite=args.overwrite)
        summary = trainer.fit()
        main_process = is_main()
    except (CheckpointError, FileNotFoundError, FileExistsError, NotADirectoryError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except NonFiniteLossError as err:
        print(f"error: {err}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        last = trainer.last_good if trainer is not None else None
        where = f"at step {trainer.step}; the last checkpoint is {last}" if trainer is not None and last else \
            "before the first checkpoint"
        again = " ".join(["python -m seeclear_lite train --config", args.config, *map(_quote, args.overrides),
                          "--out", str(out), "--resume auto"])
        print(f"interrupted {where}. Continue with: {again}", file=sys.stderr)
        return 2
    finally:
        cleanup()
    if main_process:
        print(json.dumps(summary, indent=1))
    return 0


def _quote(text: str) -> str:
    return f"'{text}'" if any(c in text for c in " []{}*?$") else text
