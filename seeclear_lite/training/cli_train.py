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
import contextlib
import json
import shlex
import sys
from pathlib import Path

from ..config import ConfigError, get_config, preset_names
from ..utils.device import get_device
from ..utils.lock import FolderLock, LockedError, is_rank_zero, output_option, refuse_overlap
from .checkpoint import CheckpointError, check_resumable
from .distributed import cleanup, is_main
from .engine import NonFiniteLossError, Trainer
from .preflight import (ReplacedRun, apply_init, check_config_file, check_data_roots, data_inputs, init_weights, preflight,
                        write_init_record)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = __doc__.split("\n\n")[0].replace("``", "")
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = "\n\n".join(__doc__.split("\n\n")[1:])
    parser.add_argument("--config", default="tiny", choices=preset_names(), help="named preset (default: tiny)")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="config overrides, e.g. optim.lr=1e-4")
    parser.add_argument("--config-file", type=Path, default=None, help="YAML/JSON file of overrides")
    parser.add_argument("--resume", default=None, metavar="PATH|auto",
                        help="continue exactly from a checkpoint, or 'auto' = the latest in --out/checkpoints")
    parser.add_argument("--init", type=Path, default=None, metavar="PATH",
                        help="start a new run from the weights of a checkpoint or an export (its EMA weights when it "
                             "has them; a fresh optimiser and schedule): fine-tuning, e.g. --init data/checkpoints/small.pt")
    parser.add_argument("--out", default=None, help="run folder (default: runs/<config>)")
    parser.add_argument("--device", default=None, help="override runtime.device (e.g. cpu)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace the run already in --out (it is moved aside, and deleted once the new run has "
                             "its first checkpoint; a new run that fails before that puts it back)")
    parser.add_argument("--print-config", action="store_true", help="print the resolved config and exit")


def _error(err) -> int:
    """One line on stderr (a message listing differences over several lines is joined), exit code 2."""
    text = " ".join(line.strip() for line in str(err).strip().splitlines()) or type(err).__name__
    print(f"error: {text}", file=sys.stderr)
    return 2


def main(args: argparse.Namespace) -> int:
    overrides = list(args.overrides)
    if args.device is not None:
        overrides.append(f"runtime.device={args.device}")
    if args.resume is not None and args.overwrite:
        return _error("--resume continues the run in --out and --overwrite replaces it: pass one of them.")
    if args.resume is not None and args.init is not None:
        return _error("--resume continues a run (optimiser, step, data position) and --init starts a new one from "
                      "weights: pass one of them.")
    try:
        out = output_option(args.out, "--out") if args.out is not None else Path("runs") / args.config
        check_config_file(args.config_file)
        cfg = get_config(args.config, overrides, config_file=args.config_file)
        if cfg.runtime.device is not None:
            get_device(device=cfg.runtime.device)
        check_data_roots(cfg)
        inputs = data_inputs(cfg) + [("--init", args.init)]
        if args.resume is None:      # resuming reads (and rewrites) the run's own files, by design
            inputs.append(("--config-file", args.config_file))
        refuse_overlap(out, "--out", inputs)
        if args.resume not in (None, "auto"):
            check_resumable(args.resume)
        init = init_weights(args.init, cfg) if args.init is not None else None
    except (ConfigError, CheckpointError, FileNotFoundError, NotADirectoryError, ValueError) as err:
        return _error(err)
    if args.print_config:
        print(cfg.to_yaml(), end="")
        return 0
    trainer = replaced = None
    lock = FolderLock(out, "--out", "train") if is_rank_zero() else contextlib.nullcontext()
    try:
        with lock:
            # every check before any write: the Trainer builds the model and the data (it writes nothing), then
            # one forward pass and the validation windows; only then is the old run moved aside
            trainer = Trainer(cfg, out, resume=args.resume, overwrite=args.overwrite)
            trainer.overwrite = False             # the engine would delete the old run: it is swapped here instead
            if init is not None:
                apply_init(trainer, init[0], args.init)
            preflight(trainer)
            if trainer.main:
                replaced = ReplacedRun(out)
                if args.overwrite:
                    replaced.move_aside()
                if init is not None:
                    write_init_record(out, init[1])
            try:
                summary = trainer.fit()
            except BaseException:
                restored = replaced.finish(ok=False) if replaced is not None else False
                if restored:
                    trainer.restored_old_run = True
                raise
            if replaced is not None:
                replaced.finish(ok=True)
            main_process = is_main()
    except (CheckpointError, FileNotFoundError, FileExistsError, NotADirectoryError, ValueError, LockedError,
            MemoryError) as err:
        return _error(err)
    except NonFiniteLossError as err:
        print(f"error: {err}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        last = trainer.last_good if trainer is not None else None
        where = f"at step {trainer.step}; the last checkpoint is {last}" if trainer is not None and last else \
            "before the first checkpoint"
        if getattr(trainer, "restored_old_run", False):
            print(f"interrupted {where}; the run that --overwrite was replacing in {out} is back as it was.",
                  file=sys.stderr)
            return 2
        again = ["python -m seeclear_lite train --config", args.config, *map(shlex.quote, args.overrides)]
        if args.config_file is not None:
            again += ["--config-file", shlex.quote(str(args.config_file))]
        if args.device is not None:
            again += ["--device", shlex.quote(args.device)]
        again += ["--out", shlex.quote(str(out)), "--resume auto"]
        print(f"interrupted {where}. Continue with: {' '.join(again)}", file=sys.stderr)
        return 2
    finally:
        cleanup()
    if main_process:
        print(json.dumps(summary, indent=1))
    return 0
