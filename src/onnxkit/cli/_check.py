"""Check that a model follows the ONNX rules; list every problem found.

Exit status 0 when the model is valid, 1 when it has problems (one line each:
where, what, what to do) or cannot be read."""

from __future__ import annotations

import argparse
import sys

NAME = "check"
HELP = "check a model against the ONNX rules and list every problem"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", metavar="MODEL", help="the .onnx file (external data beside it)")
    p.add_argument("--quick", action="store_true",
                   help="structural checks only: skip strict shape inference")


def run(args: argparse.Namespace) -> int:
    from ..check import find_problems, load_for_check
    from ..errors import CheckError

    try:
        model = load_for_check(args.model)
        problems = find_problems(model, full=not args.quick)
    except CheckError as e:  # unreadable
        problems = e.problems
        model = None
    if not problems:
        nodes = sum(1 for g in model.all_graphs() for _ in g) if model is not None else 0
        print(f"{args.model}: OK ({nodes} node{'s' if nodes != 1 else ''}"
              f"{', structural checks only' if args.quick else ''})")
        return 0
    n = len(problems)
    print(f"{args.model}: {n} problem{'s' if n != 1 else ''}", file=sys.stdout)
    for p in problems:
        print(f"  - {p}")
    return 1
