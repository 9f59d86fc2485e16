"""Lossless round trip: load then save gives the same protobuf message as the original,
for every model of the ONNX conformance suite."""

from __future__ import annotations

import os

import onnx
import pytest

import onnxkit

from .conftest import conformance_files


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

    from .conftest import _data_dir

    files = sorted(glob.glob(os.path.join(_data_dir(), "**", "*.pb"), recursive=True))
    assert len(files) > 100
    for path in files:
        data = open(path, "rb").read()
        assert onnxkit.proto.TensorProto.from_bytes(data).to_bytes() == data, path
