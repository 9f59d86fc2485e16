"""Import a model into PyTorch as readable source: a Python package holding an
``nn.Module`` class (one line per op, named after the ONNX values) and its
weights, which loads with torch alone (onnxkit[torch] to write it).

The package is written by :func:`onnxkit.to_torch.to_source`; see its
docstring for what is copied beside the module and what is refused."""

from __future__ import annotations

import argparse
import os

NAME = "import"
HELP = "write a model as a PyTorch nn.Module in Python source, with its weights"
DESCRIPTION = """\
Write MODEL as a Python package DIR: DIR/module.py defines an nn.Module class
(one line per op, variables named after the ONNX values, the op's source line as
a comment where the model records it), DIR/weights.pt its weights; then
`from DIR.module import Model; Model()(inputs)` needs only torch."""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="the .onnx file")
    p.add_argument("-o", "--output", required=True, metavar="DIR",
                   help="the folder to write (a Python package; created if needed)")
    p.add_argument("--class-name", default="Model", metavar="NAME",
                   help="name of the module class (default: Model)")


def run(args: argparse.Namespace) -> int:
    from ..errors import OnnxkitError
    try:
        from ..to_torch._codegen import to_source
    except ImportError as e:          # torch missing
        raise OnnxkitError(f"onnxkit import needs PyTorch (pip install onnxkit[torch]): {e}") from e
    if not os.path.exists(args.model):
        raise OnnxkitError(f"{args.model}: no such file")
    r = to_source(args.model, args.output, class_name=args.class_name)
    print(f"wrote {r.module_path} (class {r.class_name}, {r.n_ops} ops)")
    print(f"      {r.weights_path} ({r.n_parameters:,} parameter and {r.n_buffers:,} buffer elements)")
    helpers = ", ".join(r.support_modules) or "none"
    print(f"      {os.path.join(r.directory, '_support')} (helpers copied from onnxkit: {helpers})")
    if r.needs_onnxkit:
        print(f"note: these helpers import onnxkit if their rare run-time paths run: {', '.join(r.needs_onnxkit)}")
    print("fallbacks: none (every node is written as torch code)")
    parent, name = os.path.split(os.path.abspath(r.directory))
    print(f"load: cd {parent} && python -c \"from {name}.module import {r.class_name}; m = {r.class_name}()\"")
    return 0
