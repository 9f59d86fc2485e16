"""Run a model in onnxkit and onnxruntime node by node on the same inputs and
print the first node whose outputs diverge (each node is run in onnxruntime on
exactly the inputs onnxkit gave it, so the report points at one kernel)."""

from __future__ import annotations

import argparse

from ._run import add_input_arguments, load_feeds

NAME = "compare"
HELP = "compare onnxkit with onnxruntime node by node"


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_input_arguments(p)
    p.add_argument("--rtol", type=float, default=1e-3, help="relative tolerance (default 1e-3)")
    p.add_argument("--atol", type=float, default=1e-4, help="absolute tolerance (default 1e-4)")
    p.add_argument("--html", metavar="OUT",
                   help="also write the graph with each node's max error and the first divergence "
                        "marked to OUT (.html); every node is compared, not only up to the first divergence")


def run(args: argparse.Namespace) -> int:
    from .._io import load
    from ..runtime._debug import compare_with_onnxruntime
    model = load(args.model)
    feeds = load_feeds(model, args)
    if args.html:
        import os

        from ..view import compare_nodes, write_view
        report = compare_nodes(model, feeds, rtol=args.rtol, atol=args.atol)
        write_view(model, args.html, title=f"{os.path.basename(args.model)} against onnxruntime",
                   compare=report)
        print(f"wrote {args.html}")
    else:
        report = compare_with_onnxruntime(model, feeds, rtol=args.rtol, atol=args.atol)
    for s in report.skipped:
        print(f"not compared: {s}")
    if report.divergence is None:
        print(f"all {report.compared} nodes compared agree with onnxruntime "
              f"(rtol {args.rtol}, atol {args.atol})")
        return 0
    print(f"{report.compared} nodes agree; first divergence: {report.divergence}")
    return 1
