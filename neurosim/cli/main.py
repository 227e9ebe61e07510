"""``neurosim`` command line: thin argparse front end over the library.

Each sub-command lives in its own module ``neurosim/cli/cmd_<name>.py`` with
``add_parser(subparsers)`` (registering ``run(args) -> int``). Errors a user can
cause (:class:`~neurosim.errors.NeurosimError`) print one line to stderr and
exit with status 2; no traceback, no partial output file.
"""
from __future__ import annotations

import argparse
import importlib
import re
import sys

from .. import __version__
from ..errors import NeurosimError

COMMANDS = ("profiles", "map", "simulate", "bounds", "compare", "sweep", "report", "plan", "convert", "train",
            "certify")


class _Parser(argparse.ArgumentParser):
    json_errors = False  # set by main() when --json is on the command line

    def error(self, message):  # one line, exit 2 (argparse's own convention)
        if _Parser.json_errors:
            cmd = self.prog.split()[-1] if " " in self.prog else None
            _print_json_error(cmd, message, parameter=_argparse_parameter(message),
                              fix=f"see '{self.prog} --help' for the accepted values")
        self.exit(2, f"{self.prog}: error: {message}\n")


def _argparse_parameter(message: str):
    m = re.search(r"argument ([^:\s]+(?:/[^:\s]+)?)", message) or re.search(r"arguments are required: ([^,\s]+)", message) \
        or re.search(r"unrecognized arguments: (\S+)", message)
    return m.group(1).split("/")[-1] if m else None


def _print_json_error(command, message, parameter=None, fix=None):
    from .common import dump_json, error_payload

    payload = error_payload(message, parameter=parameter, fix=fix)
    payload = {"command": command, "neurosim_version": __version__, **payload}
    print(dump_json(payload))


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
    argv = [str(a) for a in (sys.argv[1:] if argv is None else argv)]
    ap = build_parser()
    _Parser.json_errors = "--json" in argv
    try:
        args = ap.parse_args(argv)
    finally:
        _Parser.json_errors = False
    if not getattr(args, "command", None):
        ap.print_help()
        return 2
    from .common import preflight

    try:
        with preflight(args):
            return int(args.func(args) or 0)
    except MemoryError:
        msg = ("ran out of memory; use fewer --chips or inputs (--limit), or set --max-memory below the free memory so "
               "that oversized runs are refused before they start")
        if getattr(args, "json", False):
            _print_json_error(args.command, msg, "--chips", "use fewer --chips")
        print(f"neurosim {args.command}: error: {msg}", file=sys.stderr)
        return 2
    except NeurosimError as exc:
        if getattr(args, "json", False):
            _print_json_error(args.command, str(exc), getattr(exc, "parameter", None), getattr(exc, "fix", None))
        print(f"neurosim {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"neurosim {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
