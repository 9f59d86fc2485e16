"""onnxkit: the ONNX system in Python.

Read and write ``.onnx`` files without copying their weights, build and edit
graphs, print and parse the ONNX text syntax, check models, infer shapes
(symbolically), run them, and export PyTorch programs.

>>> import onnxkit
>>> model = onnxkit.load("model.onnx")          # doctest: +SKIP
>>> onnxkit.check(model)                        # doctest: +SKIP
>>> onnxkit.infer_shapes(model)                 # doctest: +SKIP
>>> onnxkit.Session(model).run(None, {"x": x})  # doctest: +SKIP
>>> onnxkit.save(model, "copy.onnx")            # doctest: +SKIP
"""

from __future__ import annotations

import importlib

from . import errors, ir, proto
from ._io import load, load_proto, save, to_bytes, to_proto
from .errors import OnnxkitError
from .ir import (Attribute, AttributeType, DataType, Function, Graph, MapType, Model, Node,
                 OptionalType, SequenceType, Shape, SparseTensor, SparseTensorType, Tensor,
                 TensorType, Value)

__version__ = "0.1.0"

__all__ = [
    "Attribute", "AttributeType", "DataType", "Function", "FunctionBuilder", "GraphBuilder", "Graph", "MapType", "Model", "Node",
    "OnnxkitError", "OptionalType", "SequenceType", "Session", "Shape", "SparseTensor", "SparseTensorType",
    "Tensor", "TensorType", "Value", "errors", "ir", "load", "load_proto", "parse", "proto", "run", "save", "check", "infer_shapes",
    "to_bytes", "to_proto", "to_text", "optimize", "convert_version",
]

#: loaded on first use (importing onnxkit costs numpy and the loader only): name -> (module, attribute)
_LAZY = {
    "FunctionBuilder": (".builder", "FunctionBuilder"), "GraphBuilder": (".builder", "GraphBuilder"),
    "Session": (".runtime", "Session"), "run": (".runtime", "run"),
    "check": (".check", None),           # the package is callable: ``onnxkit.check(model)``
    "infer_shapes": (".infer", "infer_shapes"), "optimize": (".passes", "optimize"),
    "parse": (".text", "parse"), "to_text": (".text", "to_text"),
    "convert_version": (".convert", "convert_version"),
    # ``onnxkit.export(...)`` imports torch only when first used (not in __all__, so
    # ``from onnxkit import *`` stays free of torch); the package is callable
    "export": (".export", None),
    # ``onnxkit.to_torch(model)``: the ONNX -> PyTorch importer (callable package; imports torch)
    "to_torch": (".to_torch", None),
    # ``onnxkit.quantize(model, mode=...)``: int8 / int4 quantization (callable package)
    "quantize": (".quantize", None),
    # ``onnxkit.diff(a, b)``: the structural diff of two models (callable package)
    "diff": (".diff", None),
    # model surgery (onnxkit.edit): each returns a new model sharing the weights
    "extract": (".edit", "extract"), "merge": (".edit", "merge"), "rename": (".edit", "rename"),
    "set_shapes": (".edit", "set_shapes"), "add_outputs": (".edit", "add_outputs"),
    "strip": (".edit", "strip"),
    # ``onnxkit.ray.Predictor`` / ``onnxkit.ray.predict``: batch inference on Ray Data (imports ray)
    "ray": (".ray", None),
}


def __getattr__(name: str):
    try:
        module, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'onnxkit' has no attribute {name!r}") from None
    mod = importlib.import_module(module, __name__)
    value = mod if attr is None else getattr(mod, attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
