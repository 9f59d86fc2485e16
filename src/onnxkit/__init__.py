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

from . import errors, ir, proto
from ._io import load, load_proto, save, to_bytes, to_proto
from .builder import FunctionBuilder, GraphBuilder
from .runtime import Session, run
from .check import check  # binds the function: ``onnxkit.check(model)``; the package is onnxkit.check's module
from .infer import infer_shapes
from .passes import optimize
from .errors import OnnxkitError
from .text import parse, to_text
from .ir import (Attribute, AttributeType, DataType, Function, Graph, MapType, Model, Node,
                 OptionalType, SequenceType, Shape, SparseTensor, SparseTensorType, Tensor,
                 TensorType, Value)

__version__ = "0.1.0"

__all__ = [
    "Attribute", "AttributeType", "DataType", "Function", "FunctionBuilder", "GraphBuilder", "Graph", "MapType", "Model", "Node",
    "OnnxkitError", "OptionalType", "SequenceType", "Session", "Shape", "SparseTensor", "SparseTensorType",
    "Tensor", "TensorType", "Value", "errors", "ir", "load", "load_proto", "parse", "proto", "run", "save", "check", "infer_shapes",
    "to_bytes", "to_proto", "to_text", "optimize",
]


def __getattr__(name: str):
    # lazy re-exports: ``onnxkit.export(...)`` imports torch only when first used
    # (not in __all__, so ``from onnxkit import *`` stays free of torch)
    if name == "export":
        import importlib

        return importlib.import_module(".export", __name__)
    raise AttributeError(f"module 'onnxkit' has no attribute {name!r}")
