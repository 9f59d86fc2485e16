"""The wire-format codec, against protobuf (through the onnx package) as the oracle."""

from __future__ import annotations

import time

import onnx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from onnxkit import proto as P
from onnxkit.errors import FormatError
from onnxkit.proto import _wire


def test_negative_int64_varints():
    t = onnx.TensorProto(dims=[-1, 2**62, -(2**63), 0], data_type=7, int64_data=[-5, 2**63 - 1])
    ours = P.TensorProto.from_bytes(t.SerializeToString())
    assert ours.dims == [-1, 2**62, -(2**63), 0]
    assert ours.int64_data == [-5, 2**63 - 1]
    assert ours.to_bytes() == t.SerializeToString()


def test_negative_int32_uses_ten_byte_varint():
    t = onnx.TensorProto(data_type=3, int32_data=[-1, -128, 127])
    ours = P.TensorProto.from_bytes(t.SerializeToString())
    assert ours.int32_data == [-1, -128, 127]
    assert onnx.TensorProto.FromString(ours.to_bytes()) == t


def test_packed_and_unpacked_repeated_fields_are_both_read():
    # AttributeProto.ints is not declared packed: protobuf writes it unpacked
    a = onnx.helper.make_attribute("k", [1, -2, 300])
    raw = a.SerializeToString()
    assert P.AttributeProto.from_bytes(raw).ints == [1, -2, 300]
    # the same field written packed (tag 8, wire type 2)
    packed_body = b"".join(_wire.encode_varint(x) for x in (1, -2, 300))
    raw2 = _wire._tag(8, 2) + _wire.encode_varint(len(packed_body)) + packed_body
    assert P.AttributeProto.from_bytes(raw2).ints == [1, -2, 300]
    # TensorProto.float_data is packed; an unpacked writer must still be understood
    import struct
    raw3 = b"".join(_wire._tag(4, 5) + struct.pack("<f", x) for x in (1.5, -2.0))
    assert P.TensorProto.from_bytes(raw3).float_data == [1.5, -2.0]


def test_presence_is_kept():
    n = onnx.NodeProto(op_type="Relu")
    n.name = ""
    ours = P.NodeProto.from_bytes(n.SerializeToString())
    assert ours.name == "" and ours.domain is None
    assert onnx.NodeProto.FromString(ours.to_bytes()) == n


def test_unknown_fields_are_preserved():
    n = onnx.NodeProto(op_type="Relu", input=["x"], output=["y"])
    extra = _wire._tag(99, 0) + _wire.encode_varint(7) + _wire._tag(98, 2) + b"\x03abc"
    data = n.SerializeToString() + extra
    ours = P.NodeProto.from_bytes(data)
    assert ours.op_type == "Relu"
    assert ours.to_bytes().endswith(extra)
    assert onnx.NodeProto.FromString(ours.to_bytes()) == onnx.NodeProto.FromString(data)


def test_raw_data_is_a_view_not_a_copy():
    t = onnx.numpy_helper.from_array(__import__("numpy").arange(1000, dtype="float32"))
    buf = bytearray(t.SerializeToString())
    ours = P.TensorProto.from_bytes(memoryview(buf))
    assert isinstance(ours.raw_data, memoryview)
    buf[-4:] = b"\0\0\0\0"  # changing the buffer shows through the view
    assert bytes(ours.raw_data[-4:]) == b"\0\0\0\0"


def test_repeated_submessage_merges_like_protobuf():
    g1 = onnx.GraphProto(name="a")
    g2 = onnx.GraphProto(doc_string="d")
    a1 = onnx.AttributeProto(name="body", type=5, g=g1).SerializeToString()
    a2 = onnx.AttributeProto(g=g2).SerializeToString()
    merged = onnx.AttributeProto.FromString(a1 + a2)
    ours = P.AttributeProto.from_bytes(a1 + a2)
    assert onnx.AttributeProto.FromString(ours.to_bytes()) == merged


def test_oneof_last_member_wins():
    d1 = onnx.TensorShapeProto.Dimension(dim_value=3).SerializeToString()
    d2 = onnx.TensorShapeProto.Dimension(dim_param="N").SerializeToString()
    ours = P.TensorShapeProto.Dimension.from_bytes(d1 + d2)
    assert ours.dim_value is None and ours.dim_param == "N"


def test_every_message_class_round_trips_an_onnx_instance():
    m = onnx.helper.make_model(
        onnx.helper.make_graph(
            [onnx.helper.make_node("Relu", ["x"], ["y"], name="n", doc_string="d")], "g",
            [onnx.helper.make_tensor_value_info("x", 1, ["N", 3])],
            [onnx.helper.make_tensor_value_info("y", 1, None)],
            sparse_initializer=[onnx.helper.make_sparse_tensor(
                onnx.helper.make_tensor("v", 1, [2], [1.0, 2.0]),
                onnx.helper.make_tensor("i", 7, [2], [0, 3]), [4])]),
        functions=[onnx.helper.make_function("dom", "F", ["a"], ["b"],
                                             [onnx.helper.make_node("Relu", ["a"], ["b"])],
                                             [onnx.helper.make_opsetid("", 18)], ["alpha"])])
    m.training_info.add(initialization=onnx.GraphProto(name="init"))
    m.configuration.add(name="cfg", num_devices=2, device=["d0", "d1"])
    dc = m.graph.node[0].device_configurations.add(configuration_id="cfg", pipeline_stage=1)
    sh = dc.sharding_spec.add(tensor_name="x", device=[0, 1])
    sh.index_to_device_group_map.add(key=0, value=[0, 1])
    sh.sharded_dim.add(axis=0).simple_sharding.add(dim_param="N", num_shards=2)
    qa = m.graph.quantization_annotation.add(tensor_name="x")
    qa.quant_parameter_tensor_names.add(key="SCALE_TENSOR", value="s")
    onnx.helper.set_model_props(m, {"k": "v"})
    data = m.SerializeToString()
    assert P.ModelProto.from_bytes(data).to_bytes() == data


def test_data_messages_round_trip():
    import numpy as np
    seq = onnx.numpy_helper.from_list([np.arange(3, dtype=np.int64), np.ones(2, dtype=np.int64)])
    mp = onnx.numpy_helper.from_dict({1: np.arange(2.0, dtype=np.float32)})
    opt = onnx.numpy_helper.from_optional(np.arange(2, dtype=np.int32))
    for msg, cls in ((seq, P.SequenceProto), (mp, P.MapProto), (opt, P.OptionalProto)):
        data = msg.SerializeToString()
        assert cls.from_bytes(data).to_bytes() == data


# ---------------------------------------------------------------- bad input

@pytest.mark.parametrize("data, what", [
    (b"\x08", "truncated varint"),
    (b"\x3a\x05ab", "runs past the end"),                  # graph (7), length 5, 2 bytes
    (b"\x3a\xff\xff\xff\xff\x0f", "runs past the end"),      # absurd length
    (b"\x0a\x00", "wire type 2"),                          # ir_version as length-delimited
    (b"\x0b", "wire type"),                                # group start
    (b"\x0f", "wire type"),                                # wire type 7
    (b"\x00\x00", "field number 0"),
    (b"\x08" + b"\xff" * 11, "longer than 10 bytes"),
])
def test_bad_bytes_raise_format_error_with_offset(data, what):
    with pytest.raises(FormatError) as e:
        P.ModelProto.from_bytes(data)
    assert what in str(e.value)
    assert e.value.offset is not None and 0 <= e.value.offset <= len(data)


def test_error_names_message_and_field():
    g = onnx.GraphProto(node=[onnx.NodeProto(op_type="Relu")]).SerializeToString()
    bad = g[:-1]
    with pytest.raises(FormatError) as e:
        P.GraphProto.from_bytes(bad)
    assert e.value.message in ("GraphProto", "NodeProto")


def test_deep_nesting_is_refused_quickly():
    # a graph attribute holding a graph holding a node with a graph attribute ... 200 levels
    inner = b""
    for _ in range(200):
        attr = b"\x32" + _wire.encode_varint(len(inner)) + inner       # AttributeProto.g
        node = b"\x2a" + _wire.encode_varint(len(attr)) + attr         # NodeProto.attribute
        inner = b"\x0a" + _wire.encode_varint(len(node)) + node        # GraphProto.node
    t0 = time.perf_counter()
    with pytest.raises(FormatError) as e:
        P.GraphProto.from_bytes(inner)
    assert "nested deeper" in str(e.value)
    assert time.perf_counter() - t0 < 0.5


def test_packed_floats_of_wrong_length():
    data = _wire._tag(4, 2) + b"\x03abc"
    with pytest.raises(FormatError, match="multiple of 4"):
        P.TensorProto.from_bytes(data)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=512))
def test_random_bytes_only_raise_format_error(data):
    t0 = time.perf_counter()
    try:
        m = P.ModelProto.from_bytes(data)
    except FormatError:
        pass
    else:
        m.to_bytes()
    assert time.perf_counter() - t0 < 0.5


def _valid_model_bytes() -> bytes:
    import numpy as np
    g = onnx.helper.make_graph(
        [onnx.helper.make_node("Add", ["x", "w"], ["y"], alpha=1.0),
         onnx.helper.make_node("If", ["c"], ["z"],
                               then_branch=onnx.helper.make_graph([], "t", [], []),
                               else_branch=onnx.helper.make_graph([], "e", [], []))],
        "g", [onnx.helper.make_tensor_value_info("x", 1, ["N", 4])],
        [onnx.helper.make_tensor_value_info("y", 1, ["N", 4])],
        [onnx.numpy_helper.from_array(np.arange(4, dtype=np.float32), "w")])
    return onnx.helper.make_model(g).SerializeToString()


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_models_only_raise_format_error(data):
    raw = bytearray(_valid_model_bytes())
    for _ in range(data.draw(st.integers(1, 4))):
        op = data.draw(st.sampled_from(["flip", "truncate", "insert"]))
        i = data.draw(st.integers(0, len(raw) - 1))
        if op == "flip":
            raw[i] = data.draw(st.integers(0, 255))
        elif op == "truncate":
            del raw[i:]
            if not raw:
                break
        else:
            raw[i:i] = data.draw(st.binary(min_size=1, max_size=8))
    try:
        m = P.ModelProto.from_bytes(bytes(raw))
    except FormatError:
        return
    # whatever decodes must encode again and decode to the same message
    assert P.ModelProto.from_bytes(m.to_bytes()) == m
