"""Every message of the ONNX protobuf schema (onnx.proto, onnx-data.proto,
onnx-operators.proto as of onnx 1.23, IR version 14), as plain Python classes.

A message object has one attribute per field, named as in the .proto file.
Optional fields are ``None`` when absent (proto2 presence is kept: an empty
string that was written is ``""``, one that was not is ``None``); repeated
fields are lists; enums are ints; ``TensorProto.raw_data`` is a ``memoryview``
into the decoded buffer.  Field numbers and types are the spec's facts.
"""

from __future__ import annotations

from typing import Any

from . import _wire
from ._wire import BYTES, DOUBLE, ENUM, FLOAT, INT32, INT64, MESSAGE, STRING, UINT64, VIEW

_OPT, _REP, _PACKED = 0, 1, 2

# name -> list of (number, field name, kind, label, message type name or None)
_SCHEMA: dict[str, list[tuple]] = {
    "StringStringEntryProto": [
        (1, "key", STRING, _OPT, None),
        (2, "value", STRING, _OPT, None),
    ],
    "OperatorSetIdProto": [
        (1, "domain", STRING, _OPT, None),
        (2, "version", INT64, _OPT, None),
    ],
    "TensorAnnotation": [
        (1, "tensor_name", STRING, _OPT, None),
        (2, "quant_parameter_tensor_names", MESSAGE, _REP, "StringStringEntryProto"),
    ],
    "IntIntListEntryProto": [
        (1, "key", INT64, _OPT, None),
        (2, "value", INT64, _REP, None),
    ],
    "SimpleShardedDimProto": [
        (1, "dim_value", INT64, _OPT, None),
        (2, "dim_param", STRING, _OPT, None),
        (3, "num_shards", INT64, _OPT, None),
    ],
    "ShardedDimProto": [
        (1, "axis", INT64, _OPT, None),
        (2, "simple_sharding", MESSAGE, _REP, "SimpleShardedDimProto"),
    ],
    "ShardingSpecProto": [
        (1, "tensor_name", STRING, _OPT, None),
        (2, "device", INT64, _REP, None),
        (3, "index_to_device_group_map", MESSAGE, _REP, "IntIntListEntryProto"),
        (4, "sharded_dim", MESSAGE, _REP, "ShardedDimProto"),
    ],
    "NodeDeviceConfigurationProto": [
        (1, "configuration_id", STRING, _OPT, None),
        (2, "sharding_spec", MESSAGE, _REP, "ShardingSpecProto"),
        (3, "pipeline_stage", INT32, _OPT, None),
    ],
    "DeviceConfigurationProto": [
        (1, "name", STRING, _OPT, None),
        (2, "num_devices", INT32, _OPT, None),
        (3, "device", STRING, _REP, None),
    ],
    "AttributeProto": [
        (1, "name", STRING, _OPT, None),
        (21, "ref_attr_name", STRING, _OPT, None),
        (13, "doc_string", STRING, _OPT, None),
        (20, "type", ENUM, _OPT, None),
        (2, "f", FLOAT, _OPT, None),
        (3, "i", INT64, _OPT, None),
        (4, "s", BYTES, _OPT, None),
        (5, "t", MESSAGE, _OPT, "TensorProto"),
        (6, "g", MESSAGE, _OPT, "GraphProto"),
        (22, "sparse_tensor", MESSAGE, _OPT, "SparseTensorProto"),
        (14, "tp", MESSAGE, _OPT, "TypeProto"),
        (7, "floats", FLOAT, _REP, None),
        (8, "ints", INT64, _REP, None),
        (9, "strings", BYTES, _REP, None),
        (10, "tensors", MESSAGE, _REP, "TensorProto"),
        (11, "graphs", MESSAGE, _REP, "GraphProto"),
        (23, "sparse_tensors", MESSAGE, _REP, "SparseTensorProto"),
        (15, "type_protos", MESSAGE, _REP, "TypeProto"),
    ],
    "ValueInfoProto": [
        (1, "name", STRING, _OPT, None),
        (2, "type", MESSAGE, _OPT, "TypeProto"),
        (3, "doc_string", STRING, _OPT, None),
        (4, "metadata_props", MESSAGE, _REP, "StringStringEntryProto"),
    ],
    "NodeProto": [
        (1, "input", STRING, _REP, None),
        (2, "output", STRING, _REP, None),
        (3, "name", STRING, _OPT, None),
        (4, "op_type", STRING, _OPT, None),
        (7, "domain", STRING, _OPT, None),
        (8, "overload", STRING, _OPT, None),
        (5, "attribute", MESSAGE, _REP, "AttributeProto"),
        (6, "doc_string", STRING, _OPT, None),
        (9, "metadata_props", MESSAGE, _REP, "StringStringEntryProto"),
        (10, "device_configurations", MESSAGE, _REP, "NodeDeviceConfigurationProto"),
    ],
    "TrainingInfoProto": [
        (1, "initialization", MESSAGE, _OPT, "GraphProto"),
        (2, "algorithm", MESSAGE, _OPT, "GraphProto"),
        (3, "initialization_binding", MESSAGE, _REP, "StringStringEntryProto"),
        (4, "update_binding", MESSAGE, _REP, "StringStringEntryProto"),
    ],
    "ModelProto": [
        (1, "ir_version", INT64, _OPT, None),
        (8, "opset_import", MESSAGE, _REP, "OperatorSetIdProto"),
        (2, "producer_name", STRING, _OPT, None),
        (3, "producer_version", STRING, _OPT, None),
        (4, "domain", STRING, _OPT, None),
        (5, "model_version", INT64, _OPT, None),
        (6, "doc_string", STRING, _OPT, None),
        (7, "graph", MESSAGE, _OPT, "GraphProto"),
        (14, "metadata_props", MESSAGE, _REP, "StringStringEntryProto"),
        (20, "training_info", MESSAGE, _REP, "TrainingInfoProto"),
        (25, "functions", MESSAGE, _REP, "FunctionProto"),
        (26, "configuration", MESSAGE, _REP, "DeviceConfigurationProto"),
    ],
    "GraphProto": [
        (1, "node", MESSAGE, _REP, "NodeProto"),
        (2, "name", STRING, _OPT, None),
        (5, "initializer", MESSAGE, _REP, "TensorProto"),
        (15, "sparse_initializer", MESSAGE, _REP, "SparseTensorProto"),
        (10, "doc_string", STRING, _OPT, None),
        (11, "input", MESSAGE, _REP, "ValueInfoProto"),
        (12, "output", MESSAGE, _REP, "ValueInfoProto"),
        (13, "value_info", MESSAGE, _REP, "ValueInfoProto"),
        (14, "quantization_annotation", MESSAGE, _REP, "TensorAnnotation"),
        (16, "metadata_props", MESSAGE, _REP, "StringStringEntryProto"),
    ],
    "Segment": [
        (1, "begin", INT64, _OPT, None),
        (2, "end", INT64, _OPT, None),
    ],
    "TensorProto": [
        (1, "dims", INT64, _REP, None),
        (2, "data_type", INT32, _OPT, None),
        (3, "segment", MESSAGE, _OPT, "Segment"),
        (4, "float_data", FLOAT, _PACKED, None),
        (5, "int32_data", INT32, _PACKED, None),
        (6, "string_data", BYTES, _REP, None),
        (7, "int64_data", INT64, _PACKED, None),
        (8, "name", STRING, _OPT, None),
        (12, "doc_string", STRING, _OPT, None),
        (9, "raw_data", VIEW, _OPT, None),
        (13, "external_data", MESSAGE, _REP, "StringStringEntryProto"),
        (14, "data_location", ENUM, _OPT, None),
        (10, "double_data", DOUBLE, _PACKED, None),
        (11, "uint64_data", UINT64, _PACKED, None),
        (16, "metadata_props", MESSAGE, _REP, "StringStringEntryProto"),
    ],
    "SparseTensorProto": [
        (1, "values", MESSAGE, _OPT, "TensorProto"),
        (2, "indices", MESSAGE, _OPT, "TensorProto"),
        (3, "dims", INT64, _REP, None),
    ],
    "Dimension": [
        (1, "dim_value", INT64, _OPT, None),
        (2, "dim_param", STRING, _OPT, None),
        (3, "denotation", STRING, _OPT, None),
    ],
    "TensorShapeProto": [
        (1, "dim", MESSAGE, _REP, "Dimension"),
    ],
    "TypeProtoTensor": [
        (1, "elem_type", INT32, _OPT, None),
        (2, "shape", MESSAGE, _OPT, "TensorShapeProto"),
    ],
    "TypeProtoSequence": [
        (1, "elem_type", MESSAGE, _OPT, "TypeProto"),
    ],
    "TypeProtoMap": [
        (1, "key_type", INT32, _OPT, None),
        (2, "value_type", MESSAGE, _OPT, "TypeProto"),
    ],
    "TypeProtoOptional": [
        (1, "elem_type", MESSAGE, _OPT, "TypeProto"),
    ],
    "TypeProtoSparseTensor": [
        (1, "elem_type", INT32, _OPT, None),
        (2, "shape", MESSAGE, _OPT, "TensorShapeProto"),
    ],
    "TypeProtoOpaque": [
        (1, "domain", STRING, _OPT, None),
        (2, "name", STRING, _OPT, None),
    ],
    "TypeProto": [
        (1, "tensor_type", MESSAGE, _OPT, "TypeProtoTensor"),
        (4, "sequence_type", MESSAGE, _OPT, "TypeProtoSequence"),
        (5, "map_type", MESSAGE, _OPT, "TypeProtoMap"),
        (9, "optional_type", MESSAGE, _OPT, "TypeProtoOptional"),
        (8, "sparse_tensor_type", MESSAGE, _OPT, "TypeProtoSparseTensor"),
        (7, "opaque_type", MESSAGE, _OPT, "TypeProtoOpaque"),
        (6, "denotation", STRING, _OPT, None),
    ],
    "FunctionProto": [
        (1, "name", STRING, _OPT, None),
        (4, "input", STRING, _REP, None),
        (5, "output", STRING, _REP, None),
        (6, "attribute", STRING, _REP, None),
        (11, "attribute_proto", MESSAGE, _REP, "AttributeProto"),
        (7, "node", MESSAGE, _REP, "NodeProto"),
        (8, "doc_string", STRING, _OPT, None),
        (9, "opset_import", MESSAGE, _REP, "OperatorSetIdProto"),
        (10, "domain", STRING, _OPT, None),
        (13, "overload", STRING, _OPT, None),
        (12, "value_info", MESSAGE, _REP, "ValueInfoProto"),
        (14, "metadata_props", MESSAGE, _REP, "StringStringEntryProto"),
    ],
    # onnx-data.proto
    "SequenceProto": [
        (1, "name", STRING, _OPT, None),
        (2, "elem_type", INT32, _OPT, None),
        (3, "tensor_values", MESSAGE, _REP, "TensorProto"),
        (4, "sparse_tensor_values", MESSAGE, _REP, "SparseTensorProto"),
        (5, "sequence_values", MESSAGE, _REP, "SequenceProto"),
        (6, "map_values", MESSAGE, _REP, "MapProto"),
        (7, "optional_values", MESSAGE, _REP, "OptionalProto"),
    ],
    "MapProto": [
        (1, "name", STRING, _OPT, None),
        (2, "key_type", INT32, _OPT, None),
        (3, "keys", INT64, _REP, None),
        (4, "string_keys", BYTES, _REP, None),
        (5, "values", MESSAGE, _OPT, "SequenceProto"),
    ],
    "OptionalProto": [
        (1, "name", STRING, _OPT, None),
        (2, "elem_type", INT32, _OPT, None),
        (3, "tensor_value", MESSAGE, _OPT, "TensorProto"),
        (4, "sparse_tensor_value", MESSAGE, _OPT, "SparseTensorProto"),
        (5, "sequence_value", MESSAGE, _OPT, "SequenceProto"),
        (6, "map_value", MESSAGE, _OPT, "MapProto"),
        (7, "optional_value", MESSAGE, _OPT, "OptionalProto"),
    ],
    # onnx-operators.proto
    "OperatorProto": [
        (1, "op_type", STRING, _OPT, None),
        (2, "since_version", INT64, _OPT, None),
        (3, "status", ENUM, _OPT, None),
        (10, "doc_string", STRING, _OPT, None),
    ],
    "OperatorSetProto": [
        (1, "magic", STRING, _OPT, None),
        (2, "ir_version", INT64, _OPT, None),
        (3, "ir_version_prerelease", STRING, _OPT, None),
        (7, "ir_build_metadata", STRING, _OPT, None),
        (4, "domain", STRING, _OPT, None),
        (5, "opset_version", INT64, _OPT, None),
        (6, "doc_string", STRING, _OPT, None),
        (8, "operator", MESSAGE, _REP, "OperatorProto"),
        (9, "functions", MESSAGE, _REP, "FunctionProto"),
    ],
}

_ONEOFS: dict[str, list[tuple[str, ...]]] = {
    "TypeProto": [("tensor_type", "sequence_type", "map_type", "optional_type",
                   "sparse_tensor_type", "opaque_type")],
    "Dimension": [("dim_value", "dim_param")],
    "SimpleShardedDimProto": [("dim_value", "dim_param")],
}


class Message:
    """Base of all message classes.  ``==`` compares field by field, like protobuf."""

    __slots__ = ("_unknown",)
    _by_number: dict[int, tuple] = {}
    _encode_plan: tuple = ()
    _fields: tuple = ()
    _repeated: tuple = ()
    _oneof_of: dict[str, tuple[str, ...]] = {}

    def __init__(self, **kwargs: Any) -> None:
        self._unknown = None
        for f in self._fields:
            object.__setattr__(self, f, None)
        for f in self._repeated:
            object.__setattr__(self, f, [])
        for k, v in kwargs.items():
            if k not in self._fields and k not in self._repeated:
                raise TypeError(f"{type(self).__name__} has no field {k!r}")
            setattr(self, k, list(v) if k in self._repeated else v)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        for f in self._fields + self._repeated:
            a, b = getattr(self, f), getattr(other, f)
            if isinstance(a, memoryview) or isinstance(b, memoryview):
                if a is None or b is None or bytes(a) != bytes(b):
                    return False
            elif a != b:
                return False
        return (self._unknown or []) == (other._unknown or [])

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        parts = []
        for f in self._fields + self._repeated:
            v = getattr(self, f)
            if v is None or (isinstance(v, list) and not v):
                continue
            if isinstance(v, memoryview):
                v = f"<{len(v)} bytes>"
            parts.append(f"{f}={v!r}")
        return f"{type(self).__name__}({', '.join(parts)})"

    def HasField(self, name: str) -> bool:  # noqa: N802 - protobuf's spelling, for familiarity
        return getattr(self, name) is not None

    def to_bytes(self) -> bytes:
        """Serialize to the protobuf wire format."""
        chunks: list = []
        _wire.encode_message(self, chunks)
        return b"".join(chunks)

    def to_chunks(self) -> list:
        """Serialize as a list of chunks (bytes or memoryview), without joining them."""
        chunks: list = []
        _wire.encode_message(self, chunks)
        return chunks

    @classmethod
    def from_bytes(cls, data) -> Message:
        """Decode ``data`` (bytes, bytearray, memoryview or mmap) as one message."""
        buf = data if isinstance(data, (bytes, memoryview)) else memoryview(data)
        if isinstance(buf, memoryview) and (buf.ndim != 1 or buf.itemsize != 1):
            buf = buf.cast("B")
        return _wire.decode_message(cls, buf, 0, len(buf))


def _build() -> dict[str, type]:
    classes: dict[str, type] = {}
    for name, fields in _SCHEMA.items():
        opt = tuple(f[1] for f in fields if f[3] == _OPT)
        rep = tuple(f[1] for f in fields if f[3] != _OPT)
        classes[name] = type(name, (Message,), {
            "__slots__": opt + rep, "_fields": opt, "_repeated": rep,
            "__module__": __name__,
        })
    for name, fields in _SCHEMA.items():
        cls = classes[name]
        by_number = {}
        plan = []
        # encode in field-number order, as protobuf's own serializers do
        for num, fname, kind, label, sub in sorted(fields):
            subcls = classes[sub] if sub else None
            by_number[num] = (fname, kind, label != _OPT, subcls)
            tag = _wire._tag(num, _wire.wire_type(kind))
            ptag = _wire._tag(num, 2)
            plan.append((fname, kind, label != _OPT, label == _PACKED, tag, ptag))
        cls._by_number = by_number
        cls._encode_plan = tuple(plan)
        oneof_of = {}
        for group in _ONEOFS.get(name, ()):
            for f in group:
                oneof_of[f] = tuple(g for g in group if g != f)
        cls._oneof_of = oneof_of
    return classes


_CLASSES = _build()

# Nested message types under the names the .proto file gives them.
TensorProto = _CLASSES["TensorProto"]
TensorProto.Segment = _CLASSES["Segment"]
TensorShapeProto = _CLASSES["TensorShapeProto"]
TensorShapeProto.Dimension = _CLASSES["Dimension"]
TypeProto = _CLASSES["TypeProto"]
TypeProto.Tensor = _CLASSES["TypeProtoTensor"]
TypeProto.Sequence = _CLASSES["TypeProtoSequence"]
TypeProto.Map = _CLASSES["TypeProtoMap"]
TypeProto.Optional = _CLASSES["TypeProtoOptional"]
TypeProto.SparseTensor = _CLASSES["TypeProtoSparseTensor"]
TypeProto.Opaque = _CLASSES["TypeProtoOpaque"]

MESSAGE_TYPES = tuple(_CLASSES)

# Enum values of the schema (names and numbers as in onnx.proto).
class AttributeType:
    UNDEFINED, FLOAT, INT, STRING, TENSOR, GRAPH = 0, 1, 2, 3, 4, 5
    FLOATS, INTS, STRINGS, TENSORS, GRAPHS = 6, 7, 8, 9, 10
    SPARSE_TENSOR, SPARSE_TENSORS, TYPE_PROTO, TYPE_PROTOS = 11, 12, 13, 14


class DataLocation:
    DEFAULT, EXTERNAL = 0, 1


IR_VERSION = 14
