"""The ``onnxkit`` command.

Each subcommand is a module of this package with ``NAME``, ``HELP``,
``add_arguments(parser)`` and ``run(args) -> int`` (``--help`` shows its
``DESCRIPTION``, else its docstring's first paragraph); add one by listing it in
:data:`COMMANDS`.  :func:`main` is the console-script entry point: errors of
onnxkit (and OSError) become one line ``onnxkit: error: ...`` on stderr and
exit status 1, usage errors status 2, Ctrl-C status 130.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Sequence

from ..errors import OnnxkitError
from . import (_check, _compare, _convert, _demo, _diff, _edit, _export, _extract, _import, _infer,
               _info, _merge, _optimize, _print, _quantize, _run, _view)
from . import _batch

COMMANDS = [_info, _print, _convert, _check, _infer, _optimize, _run, _compare, _export, _demo,
            _import, _view, _diff, _extract, _merge, _edit, _quantize,
            _batch]

PROG = "onnxkit"


class UsageError(Exception):
    """A command line that does not parse (exit status 2)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{message} (see '{self.prog} --help')")


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__

    parser = _Parser(prog=PROG, description="Read, write, inspect and convert ONNX models.")
    parser.add_argument("--version", action="version", version=f"onnxkit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    for mod in COMMANDS:
        p = sub.add_parser(mod.NAME, help=mod.HELP, description=_description(mod),
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        mod.add_arguments(p)
        p.set_defaults(run=mod.run)
    return parser


def _description(mod) -> str:
    """What ``onnxkit CMD --help`` says: the module's DESCRIPTION, else the first
    paragraph of its docstring (later paragraphs are notes for developers)."""
    text = getattr(mod, "DESCRIPTION", None) or (mod.__doc__ or "").strip().split("\n\n")[0]
    return "\n".join(line.strip() for line in text.strip().splitlines())


def _one_line(e: BaseException) -> str:
    if isinstance(e, OSError) and e.strerror:
        msg = f"{e.filename}: {e.strerror}" if e.filename else e.strerror
    else:
        msg = str(e) or type(e).__name__
    return " ".join(msg.split())


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``onnxkit`` command line; returns the exit status."""
    parser = build_parser()
    try:
        try:
            args = parser.parse_args(argv)
        except SystemExit as e:  # --help, --version
            return e.code if isinstance(e.code, int) else 0
        if args.command is None:
            parser.print_help()
            return 2
        return args.run(args)
    except UsageError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # the reader went away (e.g. `onnxkit print m.onnx | head`): stop quietly
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        return 1
    except (OnnxkitError, OSError) as e:
        print(f"{PROG}: error: {_one_line(e)}", file=sys.stderr)
        return 1
