"""The ONNX wire format: bytes <-> plain message objects (no numpy, no protobuf).

>>> from onnxkit import proto
>>> m = proto.ModelProto.from_bytes(open("model.onnx", "rb").read())   # doctest: +SKIP
>>> m.graph.node[0].op_type                                            # doctest: +SKIP
"""

from __future__ import annotations

from . import messages as _m
from ._wire import MAX_DEPTH
from .messages import IR_VERSION, MESSAGE_TYPES, AttributeType, DataLocation, Message

AttributeProto = _m._CLASSES["AttributeProto"]
DeviceConfigurationProto = _m._CLASSES["DeviceConfigurationProto"]
FunctionProto = _m._CLASSES["FunctionProto"]
GraphProto = _m._CLASSES["GraphProto"]
IntIntListEntryProto = _m._CLASSES["IntIntListEntryProto"]
MapProto = _m._CLASSES["MapProto"]
ModelProto = _m._CLASSES["ModelProto"]
NodeDeviceConfigurationProto = _m._CLASSES["NodeDeviceConfigurationProto"]
NodeProto = _m._CLASSES["NodeProto"]
OperatorProto = _m._CLASSES["OperatorProto"]
OperatorSetIdProto = _m._CLASSES["OperatorSetIdProto"]
OperatorSetProto = _m._CLASSES["OperatorSetProto"]
OptionalProto = _m._CLASSES["OptionalProto"]
SequenceProto = _m._CLASSES["SequenceProto"]
ShardedDimProto = _m._CLASSES["ShardedDimProto"]
ShardingSpecProto = _m._CLASSES["ShardingSpecProto"]
SimpleShardedDimProto = _m._CLASSES["SimpleShardedDimProto"]
SparseTensorProto = _m._CLASSES["SparseTensorProto"]
StringStringEntryProto = _m._CLASSES["StringStringEntryProto"]
TensorAnnotation = _m._CLASSES["TensorAnnotation"]
TensorProto = _m._CLASSES["TensorProto"]
TensorShapeProto = _m._CLASSES["TensorShapeProto"]
TrainingInfoProto = _m._CLASSES["TrainingInfoProto"]
TypeProto = _m._CLASSES["TypeProto"]
ValueInfoProto = _m._CLASSES["ValueInfoProto"]

__all__ = [
    "IR_VERSION", "MAX_DEPTH", "MESSAGE_TYPES", "AttributeType", "DataLocation", "Message",
    "AttributeProto", "DeviceConfigurationProto", "FunctionProto", "GraphProto",
    "IntIntListEntryProto", "MapProto", "ModelProto", "NodeDeviceConfigurationProto", "NodeProto",
    "OperatorProto", "OperatorSetIdProto", "OperatorSetProto", "OptionalProto", "SequenceProto",
    "ShardedDimProto", "ShardingSpecProto", "SimpleShardedDimProto", "SparseTensorProto",
    "StringStringEntryProto", "TensorAnnotation", "TensorProto", "TensorShapeProto",
    "TrainingInfoProto", "TypeProto", "ValueInfoProto",
]
