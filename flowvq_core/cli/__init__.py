"""The command line, ``python -m flowvq_core COMMAND``: one module per command, each adding its own sub-parser.

Building the parser imports nothing a command needs only to run (models, trainers, benchmarks); each command imports
those when it runs, so ``--help`` stays quick.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ..errors import UserInputError
from . import bench, generate, info, prepare, train
from . import eval as evaluation

COMMANDS = (prepare, train, bench, generate, evaluation, info)
"""In the order ``--help`` lists them; each has ``add_parser(commands)``, whose parsers set ``run``."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m flowvq_core",
        description="FlowVQ Talker: emotional talking-face generation (FlowVQTalker, CVPR 2024).",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in COMMANDS:
        command.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command ``argv`` names; an error that is the input's fault prints as one line and returns 2."""
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except UserInputError as error:  # anything else is a bug and keeps its traceback
        print(f"error: {error}", file=sys.stderr)
        return 2
