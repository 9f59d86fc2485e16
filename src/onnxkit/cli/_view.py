"""Write a self-contained HTML page that draws a model: nodes with op type and
name, edges with inferred types and shapes, weights folded into their
consumers, name scopes, subgraphs and functions as boxes that open in place.
--profile runs the model once (random inputs, or those given) and colours
nodes by their share of time."""

from __future__ import annotations

import argparse
import os
import time

from ._run import add_input_arguments, load_feeds

NAME = "view"
HELP = "write an HTML page that draws the model"


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_input_arguments(p)
    p.add_argument("-o", "--output", metavar="OUT.html",
                   help="the page to write (default: the model's path with .html)")
    p.add_argument("--profile", action="store_true",
                   help="run the model once and show each node's time and output bytes")


def run(args: argparse.Namespace) -> int:
    from .._io import load
    from ..view import gc_paused, profile_nodes, write_view
    t0 = time.perf_counter()
    with gc_paused():       # (reading a big model makes as many objects as drawing it: see gc_paused)
        model = load(args.model)
    out = args.output or os.path.splitext(args.model)[0] + ".html"
    prof = None
    if args.profile:
        prof = profile_nodes(model, load_feeds(model, args))
    write_view(model, out, title=os.path.basename(args.model), profile=prof)
    print(f"wrote {out} ({os.path.getsize(out) / 1e6:.1f} MB) in {time.perf_counter() - t0:.2f} s")
    return 0
