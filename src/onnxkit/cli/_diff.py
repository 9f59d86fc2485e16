"""Compare two models: inputs, outputs, opsets and metadata; nodes matched by
name, then by structure, and those added, removed or changed; what fusions
replaced what (a model against `onnxkit optimize` of it); weights that
differ, with their largest absolute and relative difference.

Exit status 0 when the models are equal, 1 when they differ, 2 when one
cannot be read (as diff(1) does).

Notes for developers: errors are caught here, not in cli.main (which maps
onnxkit errors to status 1), so that an error is told apart from "differ"."""

from __future__ import annotations

import argparse
import json
import sys

DESCRIPTION = "\n\n".join(__doc__.split("\n\n")[:2])
NAME = "diff"
HELP = "compare two models (exit 0 equal, 1 different, 2 error)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("a", metavar="A", help="the first .onnx file")
    p.add_argument("b", metavar="B", help="the second .onnx file")
    p.add_argument("--json", action="store_true", help="print the whole diff as JSON")
    p.add_argument("--html", metavar="OUT", help="also write the two graphs side by side to OUT (.html)")
    p.add_argument("--no-weights", action="store_true",
                   help="read no tensor: weights of one dtype and shape are not compared")
    p.add_argument("--all", action="store_true", help="list everything (the summary stops each list at 30)")


def run(args: argparse.Namespace) -> int:
    from . import PROG, _one_line
    from ..errors import OnnxkitError

    try:
        return _run(args)
    except (OnnxkitError, OSError) as e:
        print(f"{PROG}: error: {_one_line(e)}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    from .. import load
    from ..diff import diff
    from ..errors import OnnxkitError

    a, b = load(args.a), load(args.b)
    d = diff(a, b, weights=not args.no_weights)
    d.a_label, d.b_label = args.a, args.b
    if args.html:
        try:
            from ..view import diff_page
            html = diff_page(a, b, d, titles=(args.a, args.b))
        except ImportError as e:     # onnxkit.view (or its diff page) is not in this build
            raise OnnxkitError(f"--html: this onnxkit cannot draw a diff page ({e}); "
                               "the text summary and --json work without it") from None
        with open(args.html, "w", encoding="utf-8") as f:
            f.write(html)
    if args.json:
        json.dump(d.to_dict(), sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(d.summary(limit=None if args.all else 30))
    if args.html:
        print(f"wrote {args.html}", file=sys.stderr if args.json else sys.stdout)
    return 0 if d.equal else 1
