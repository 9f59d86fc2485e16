"""Infer the shape and type of every value of a model: print how many values
got a type and how many a full shape (every dim a number or a symbol), the ops
without a shape rule, and any conflict with the types the model declares.
With OUT, save the model with the inferred types in its value_info."""

from __future__ import annotations

import argparse

NAME = "infer"
HELP = "infer shapes and types (and save them with OUT)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", metavar="MODEL", help="the .onnx file to read")
    p.add_argument("out", metavar="OUT", nargs="?", help="the .onnx file to write (optional)")
    p.add_argument("--strict", action="store_true",
                   help="fail on the first conflict between a declared and an inferred type")
    p.add_argument("--no-data-prop", action="store_true",
                   help="do not compute small values (shape computations) during inference")


def run(args: argparse.Namespace) -> int:
    from .. import load, save
    from ..infer import infer

    model = load(args.model)
    report = infer(model, strict=args.strict, data_prop=not args.no_data_prop)
    print(report.summary())
    if args.out:
        save(model, args.out)
        print(f"wrote {args.out}")
    return 0
