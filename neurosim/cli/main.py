"""``neurosim`` command line: thin argparse front end over the library.

Each sub-command lives in its own module ``neurosim/cli/cmd_<name>.py`` with
``add_parser(subparsers)`` (registering ``run(args) -> int``). Errors a user can
cause (:class:`~neurosim.errors.NeurosimError`) print one line to stderr and
exit with status 2; no traceback, no partial output file.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from .. import __version__
from ..errors import NeurosimError

COMMANDS = ("profiles", "map", "simulate", "bounds", "compare", "sweep", "report", "plan", "convert")


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2 (argparse's own convention)
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    ap = _Parser(prog="neurosim", description="Neuromorphic-hardware simulator with fault injection.")
    ap.add_argument("--version", action="version", version=f"neurosim {__version__}")
    sub = ap.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMANDS:
        try:
            mod = importlib.import_module(f"neurosim.cli.cmd_{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"neurosim.cli.cmd_{name}":
                raise
            continue
        mod.add_parser(sub)
    return ap


def main(argv=None) -> int:
    ap = build_parser()
    args = ap.parse_args(argv)
    if not getattr(args, "command", None):
        ap.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except NeurosimError as exc:
        print(f"neurosim {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"neurosim {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
