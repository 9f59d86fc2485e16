"""Merge two models into one: outputs of A feed inputs of B (--connect
a_out=b_in, repeatable).  The result's inputs are A's and B's unconnected
ones, its outputs B's and A's unconnected ones.  Names of B that collide
with A's are prefixed (b_, or --prefix-b); different ai.onnx opsets are
converted to agree, or the merge is refused with the reason."""

from __future__ import annotations

import argparse

NAME = "merge"
HELP = "feed one model's outputs into another's inputs, as one model"


def _pair(s: str) -> tuple[str, str]:
    a, sep, b = s.partition("=")
    if not sep or not a or not b:
        raise argparse.ArgumentTypeError(f"expected A_OUTPUT=B_INPUT, not {s!r}")
    return a, b


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("a", metavar="A", help="the first .onnx file (runs first)")
    p.add_argument("b", metavar="B", help="the second .onnx file")
    p.add_argument("out", metavar="OUT", help="the .onnx file to write")
    p.add_argument("--connect", metavar="A_OUT=B_IN", type=_pair, action="append", required=True,
                   help="a value of A that feeds an input of B; repeatable")
    p.add_argument("--prefix-a", metavar="P", default="", help="put P before every name of A")
    p.add_argument("--prefix-b", metavar="Q", default="", help="put Q before every name of B")
    p.add_argument("--no-check", action="store_true",
                   help="do not check the result (for a model the checker already rejects)")


def run(args: argparse.Namespace) -> int:
    from .. import load
    from ..edit import merge
    from ._edit import write

    a, b = load(args.a), load(args.b)
    opsets = (a.opset, b.opset)
    m = merge(a, b, dict(args.connect), prefix=(args.prefix_a, args.prefix_b),
              labels=(args.a, args.b), check=not args.no_check)
    g = m.graph
    lines = ["connected " + ", ".join(f"{x} -> {y}" for x, y in args.connect),
             f"{len(g):,} nodes; inputs: " + ", ".join(v.name for v in g.inputs)
             + "; outputs: " + ", ".join(v.name for v in g.outputs)]
    if opsets[0] != opsets[1]:
        lines.append(f"ai.onnx opsets {opsets[0]} and {opsets[1]} -> {m.opset}")
    lines += write(m, args.out)
    print("\n".join(lines))
    return 0
