"""Export a PyTorch model to ONNX by tracing (data-dependent branches become If).
FACTORY is package.module:function (the module is looked up from the current
folder too). The function takes no arguments and returns (module, inputs),
(module, args, kwargs) or a dict with keys module, args, kwargs and,
optionally, dynamic_shapes; inputs is a tensor, a tuple of positional inputs
or a dict of keyword inputs. Needs PyTorch: pip install "onnxkit[torch]"."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time

NAME = "export"
HELP = "export a PyTorch model (from a factory function) to ONNX by tracing"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("factory", metavar="FACTORY", help="package.module:function returning a model and inputs")
    p.add_argument("-o", "--output", metavar="OUT", help="the .onnx file to write (default: FUNCTION.onnx)")
    p.add_argument("--dynamic", metavar="INPUT:DIM=NAME[,DIM=NAME]", action="append", default=[],
                   help="make dims of an input dynamic, e.g. input_ids:0=batch,1=seq (repeatable)")
    p.add_argument("--opset", type=int, help="ONNX opset (default: 20)")
    p.add_argument("--verify", action="store_true",
                   help="run the model against eager PyTorch and report the max errors")
    p.add_argument("--external-data", action="store_true", help="save weights in a file beside OUT")


def _parse_dynamic(items: list[str]) -> dict:
    from . import UsageError

    out: dict = {}
    for item in items:
        name, sep, dims = item.rpartition(":")
        if not sep or not name:
            raise UsageError(f"--dynamic {item!r}: write INPUT:DIM=NAME[,DIM=NAME], e.g. input_ids:0=batch,1=seq")
        spec = {}
        for part in dims.split(","):
            d, eq, sym = part.partition("=")
            if not eq or not d.strip().lstrip("-").isdigit() or not sym:
                raise UsageError(f"--dynamic {item!r}: {part!r} is not DIM=NAME")
            spec[int(d)] = sym.strip()
        key = int(name) if name.isdigit() else name
        out.setdefault(key, {}).update(spec)
    return out


def load_factory(spec: str):
    from . import UsageError
    from ..export import ExportError

    mod_name, sep, fn_name = spec.partition(":")
    if not sep or not mod_name or not fn_name:
        raise UsageError(f"FACTORY must look like package.module:function, not {spec!r}")
    sys.path.insert(0, os.getcwd())
    try:
        mod = importlib.import_module(mod_name)
    except ImportError as e:
        raise ExportError(f"cannot import {mod_name!r}: {e}") from None
    fn = getattr(mod, fn_name, None)
    if fn is None:
        raise ExportError(f"module {mod_name!r} has no {fn_name!r}")
    got = fn()
    dynamic = None
    if isinstance(got, dict):
        module, args, kwargs = got.get("module"), got.get("args", ()), got.get("kwargs") or {}
        dynamic = got.get("dynamic_shapes")
    elif isinstance(got, tuple) and len(got) in (2, 3):
        module, inputs = got[0], got[1]
        kwargs = got[2] if len(got) == 3 else {}
        if isinstance(inputs, dict) and len(got) == 2:
            args, kwargs = (), inputs
        else:
            args = inputs
    else:
        raise ExportError(f"{spec} returned a {type(got).__name__}; return (module, inputs), "
                          "(module, args, kwargs) or a dict with module/args/kwargs")
    return module, args, kwargs, dynamic


def _check_opset(opset: int | None) -> None:
    from . import UsageError
    from ..defs import max_opset
    from ..export._api import MIN_OPSET

    if opset is not None and not MIN_OPSET <= opset <= max_opset():
        raise UsageError(f"--opset {opset}: onnxkit exports opsets {MIN_OPSET} to {max_opset()}")


def run(args: argparse.Namespace) -> int:
    from ..errors import OnnxkitError

    try:
        import torch  # noqa: F401
    except ImportError:
        raise OnnxkitError('onnxkit export needs PyTorch: pip install "onnxkit[torch]"') from None
    from .. import save
    from ..export import export

    _check_opset(args.opset)
    if args.dynamic:
        _parse_dynamic(args.dynamic)        # a malformed --dynamic is said before the model is made
    module, a, kw, dynamic = load_factory(args.factory)
    if args.dynamic:
        dynamic = {**(dynamic or {}), **_parse_dynamic(args.dynamic)}
    out = args.output or args.factory.partition(":")[2] + ".onnx"
    t0 = time.perf_counter()
    model = export(module, a, kw, dynamic_shapes=dynamic, opset=args.opset, verify=args.verify,
                   progress=lambda line: print(line, file=sys.stderr, flush=True))
    dt = time.perf_counter() - t0
    save(model, out, external_data=True if args.external_data else None)
    ifs = sum(1 for n in model.graph.all_nodes() if n.op_type == "If")
    print(f"wrote {out}: {len(model.graph)} nodes, {len(model.graph.initializers)} initializers"
          f"{f', {ifs} If' if ifs else ''}, exported in {dt:.2f} s")
    return 0
