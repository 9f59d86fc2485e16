"""Lossless round trip: load then save gives the same protobuf message as the original,
for every model of the ONNX conformance suite."""

from __future__ import annotations

import os

import onnx
import pytest

import onnxkit

from tests.conftest import conformance_files


def _roundtrip_equal(data: bytes) -> None:
    original = onnx.load_from_string(data)
    ours = onnx.load_from_string(onnxkit.to_bytes(onnxkit.load(data)))
    assert ours == original


def test_every_conformance_case_round_trips(cases):
    assert len(cases) > 1500
    failed = []
    for name, proto in cases:
        data = proto.SerializeToString()
        try:
            _roundtrip_equal(data)
        except AssertionError:
            failed.append(name)
    assert failed == []


@pytest.mark.parametrize("path", conformance_files(), ids=os.path.basename)
def test_conformance_file_round_trips(path, tmp_path):
    original = onnx.load(path)
    model = onnxkit.load(path)
    assert onnx.load_from_string(onnxkit.to_bytes(model)) == original
    out = tmp_path / "copy.onnx"
    onnxkit.save(model, out)
    assert onnx.load(str(out)) == original


def test_proto_layer_alone_round_trips_bytes_exactly():
    # protobuf writes fields in number order; so does onnxkit, so the bytes match
    for path in conformance_files(("simple", "pytorch-operator")):
        data = open(path, "rb").read()
        assert onnxkit.proto.ModelProto.from_bytes(data).to_bytes() == data, path


def test_test_data_files_round_trip_as_tensors():
    """The input/output .pb files beside the conformance models are TensorProtos."""
    import glob

    from tests.conftest import _data_dir

    files = sorted(glob.glob(os.path.join(_data_dir(), "**", "*.pb"), recursive=True))
    assert len(files) > 100
    for path in files:
        data = open(path, "rb").read()
        assert onnxkit.proto.TensorProto.from_bytes(data).to_bytes() == data, path


def _odd_model() -> onnx.ModelProto:
    """A model with what a dict-based IR easily loses: repeated opset domains,
    repeated metadata keys, opaque types with and without domain/name."""
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N"])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N"])
    node = helper.make_node("Relu", ["x"], ["y"])
    node.metadata_props.add(key="k", value="1")
    node.metadata_props.add(key="k", value="2")
    opaque = onnx.TypeProto()
    opaque.opaque_type.SetInParent()
    named = onnx.TypeProto()
    named.opaque_type.domain = "com.x"
    named.opaque_type.name = "Thing"
    extra = [helper.make_value_info("o1", opaque), helper.make_value_info("o2", named)]
    g = helper.make_graph([node], "g", [x], [y], value_info=extra)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 18), helper.make_opsetid("", 13),
                                            helper.make_opsetid("com.x", 1)])
    m.metadata_props.add(key="a", value="first")
    m.metadata_props.add(key="a", value="second")
    return m


def test_repeated_opsets_metadata_keys_and_opaque_types_round_trip():
    original = _odd_model()
    model = onnxkit.load(original.SerializeToString())
    assert model.opset_imports[""] == 18          # the first entry of a domain is in force
    assert model.metadata_props == {"a": "second"}
    assert onnx.load_from_string(onnxkit.to_bytes(model)) == original


def test_edited_metadata_and_opsets_save_as_edited():
    model = onnxkit.load(_odd_model().SerializeToString())
    model.metadata_props["b"] = "new"
    model.opset_imports[""] = 21
    back = onnx.load_from_string(onnxkit.to_bytes(model))
    assert [(p.key, p.value) for p in back.metadata_props] == [("a", "second"), ("b", "new")]
    assert {(o.domain, o.version) for o in back.opset_import} == {("", 21), ("com.x", 1)}
