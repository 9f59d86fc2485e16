"""The model in memory: graphs of nodes over typed values, and tensors.

See :mod:`onnxkit.ir._core` for the graph classes, :mod:`onnxkit.ir._types`
for the type system and :mod:`onnxkit.ir._tensor` for tensors.
"""

from __future__ import annotations

from ._clone import clone_graph, clone_model
from ._core import Attribute, AttributeType, Function, Graph, Model, Node, TrainingInfo, Value
from ._dtypes import DataType
from ._tensor import ExternalTensor, ProtoTensor, SparseTensor, Tensor, TensorBase, aligned
from ._types import (Dim, MapType, OpaqueType, OptionalType, SequenceType, Shape, SparseTensorType,
                     TensorType, Type, UnknownType)

__all__ = [
    "Attribute", "AttributeType", "DataType", "Dim", "ExternalTensor", "Function", "Graph",
    "MapType", "Model", "Node", "OpaqueType", "OptionalType", "ProtoTensor", "SequenceType",
    "Shape", "SparseTensor", "SparseTensorType", "Tensor", "TensorBase", "TensorType",
    "TrainingInfo", "Type", "UnknownType", "Value", "aligned", "clone_graph", "clone_model",
]
