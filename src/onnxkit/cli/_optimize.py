"""Optimize a model: dead code, identities, constant folding, shape folding,
common subexpressions (level basic), fusions into the spec's ops such as
Conv + BatchNormalization, Gemm, LayerNormalization, Gelu and Attention
(extended, the default: the result is standard ONNX), or onnxkit's own fused
kernels too (runtime: only onnxkit runs the result).  Prints what each pass
did; weights past 2 GiB are written as external data."""

from __future__ import annotations

import argparse

NAME = "optimize"
HELP = "optimize a model's graph and save it"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", metavar="MODEL", help="the .onnx file to read")
    p.add_argument("out", metavar="OUT", help="the .onnx file to write")
    p.add_argument("--level", default="extended", choices=["none", "basic", "extended", "runtime"],
                   help="how far to go (default: extended)")
    p.add_argument("--opset", type=int, metavar="N",
                   help="convert the model to ai.onnx opset N first (e.g. 23: the fusions into "
                        "LayerNormalization, Gelu and Attention then apply to older exports)")
    p.add_argument("--fold-limit", type=int, default=1 << 20, metavar="BYTES",
                   help="the largest constant folding may create (default: 1 MiB)")
    p.add_argument("--external-data", action="store_true",
                   help="write every tensor of 1 KiB or more to OUT.data beside OUT")


def run(args: argparse.Namespace) -> int:
    from . import UsageError
    from .. import load, save
    from ..passes import SPEC_OPSETS, optimize

    model = load(args.model)
    opset = model.opset_imports.get("", model.opset_imports.get("ai.onnx"))
    if args.opset is not None:
        from ..defs import max_opset
        if not 1 <= args.opset <= max_opset():
            raise UsageError(f"--opset {args.opset}: onnxkit knows opsets 1 to {max_opset()}")
        opset = args.opset
    model, report = optimize(model, args.level, inplace=True, report=True, fold_limit=args.fold_limit,
                             opset=args.opset)
    print(report)
    for name, n in report.changes.items():
        print(f"  {name:<28} changed the graph in {n} round(s), {report.seconds[name] * 1e3:8.1f} ms")
    missing = [(op, v) for name, (op, v) in SPEC_OPSETS.items()
               if name in report.changes and opset is not None and opset < v]
    if missing and args.level == "extended":
        needs = ", ".join(f"{op} needs opset {v}" for op, v in missing)
        print(f"note: the model is at opset {opset}; {needs}: those fusions cannot be written as "
              "standard ONNX here. --level runtime fuses them for onnxkit's runtime (as ai.onnxkit ops), "
              "and --opset N converts the model to a newer opset first")
    save(model, args.out, external_data=True if args.external_data else None)
    print(f"wrote {args.out}")
    return 0
