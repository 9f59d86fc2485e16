"""Cut out the part of a model that computes the values --outputs from the
values --inputs (graph inputs, initializers or any node outputs of the main
graph) and save it to OUT.  Names a value that cannot be computed from the
given inputs.  Weights are not read (see 'onnxkit edit --help')."""

from __future__ import annotations

import argparse

NAME = "extract"
HELP = "save the subgraph between some values and others"


def _names(s: str) -> list[str]:
    names = [n.strip() for n in s.split(",") if n.strip()]
    if not names:
        raise argparse.ArgumentTypeError(f"expected comma-separated value names, not {s!r}")
    return names


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", metavar="MODEL", help="the .onnx file to read")
    p.add_argument("out", metavar="OUT", help="the .onnx file to write")
    p.add_argument("--inputs", metavar="A,B", type=_names, required=True,
                   help="the values that become the inputs (comma-separated)")
    p.add_argument("--outputs", metavar="C,D", type=_names, required=True,
                   help="the values that become the outputs (comma-separated)")
    p.add_argument("--no-check", action="store_true",
                   help="do not check the result (for a model the checker already rejects)")


def run(args: argparse.Namespace) -> int:
    from .. import load
    from ..edit import extract
    from ._edit import write
    from ._info import plural

    model = load(args.model)
    nodes, inits = len(model.graph), len(model.graph.initializers)
    part = extract(model, args.inputs, args.outputs, inplace=True, check=not args.no_check)
    g = part.graph
    lines = [f"kept {len(g):,} of {plural(nodes, 'node')} and {len(g.initializers):,} of "
             f"{plural(inits, 'initializer')}",
             "inputs: " + ", ".join(f"{v.name}: {v.type}" for v in g.inputs),
             "outputs: " + ", ".join(f"{v.name}: {v.type}" for v in g.outputs)]
    lines += write(part, args.out)
    print("\n".join(lines))
    return 0
