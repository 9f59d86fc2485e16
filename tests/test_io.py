"""Loading and saving: memory-mapped zero-copy loading, external data and its
safety rules, saving over the loaded file, bytes in and out."""

from __future__ import annotations

import os

import numpy as np
import onnx
import onnx.numpy_helper as nh
import pytest

import onnxkit
from onnxkit.errors import ExternalDataError, FormatError
from onnxkit.ir import ExternalTensor, ProtoTensor


def _model(weights: dict[str, np.ndarray]) -> onnx.ModelProto:
    names = list(weights)
    nodes = [onnx.helper.make_node("Add", ["x", names[0]], ["y0"])]
    for i, n in enumerate(names[1:], 1):
        nodes.append(onnx.helper.make_node("Add", [f"y{i - 1}", n], [f"y{i}"]))
    shape = list(next(iter(weights.values())).shape)
    g = onnx.helper.make_graph(
        nodes, "g", [onnx.helper.make_tensor_value_info("x", 1, shape)],
        [onnx.helper.make_tensor_value_info(f"y{len(names) - 1}", 1, shape)],
        [nh.from_array(w, n) for n, w in weights.items()])
    return onnx.helper.make_model(g, ir_version=10, opset_imports=[onnx.helper.make_opsetid("", 17)])


def test_load_path_keeps_weights_in_the_file(tmp_path):
    w = np.arange(4096, dtype=np.float32).reshape(64, 64)
    p = tmp_path / "m.onnx"
    onnx.save(_model({"w": w}), p)
    m = onnxkit.load(p)
    t = m.graph.initializers["w"].const_value
    assert isinstance(t, ProtoTensor)
    raw = t.proto.raw_data
    assert isinstance(raw, memoryview) and not isinstance(raw.obj, bytes)  # a view of the mmap
    arr = t.numpy()
    assert not arr.flags.writeable and not arr.flags.owndata
    np.testing.assert_array_equal(arr, w)


def test_load_bytes_and_file_object(tmp_path):
    w = np.ones((2, 2), np.float32)
    data = _model({"w": w}).SerializeToString()
    for src in (data, bytearray(data), memoryview(data)):
        np.testing.assert_array_equal(onnxkit.load(src).graph.initializers["w"].const_value.numpy(), w)
    p = tmp_path / "m.onnx"
    p.write_bytes(data)
    with open(p, "rb") as f:
        assert onnxkit.to_bytes(onnxkit.load(f)) == data


def _save_external(tmp_path, weights, **kw):
    p = tmp_path / "ext.onnx"
    onnx.save(_model(weights), p, save_as_external_data=True, all_tensors_to_one_file=True,
              location="ext.data", size_threshold=0, **kw)
    return p


def test_external_data_is_mapped_lazily_and_round_trips(tmp_path):
    ws = {"a": np.random.default_rng(0).random((32, 32), np.float32),
          "b": np.random.default_rng(1).random((32, 32), np.float32)}
    p = _save_external(tmp_path, ws)
    m = onnxkit.load(p)
    a = m.graph.initializers["a"].const_value
    assert isinstance(a, ExternalTensor) and a._files._maps == {}  # nothing opened yet
    np.testing.assert_array_equal(a.numpy(), ws["a"])
    # to_bytes inlines external data exactly as onnx.load does
    assert onnx.load_from_string(onnxkit.to_bytes(m)) == onnx.load(p)
    # save with external data again, to another folder
    out = tmp_path / "out"
    out.mkdir()
    onnxkit.save(m, out / "copy.onnx", external_data=True, size_threshold=0)
    assert os.path.exists(out / "copy.onnx.data")
    assert onnx.load(out / "copy.onnx") == onnx.load(p)


def test_save_over_the_loaded_file_and_its_data(tmp_path):
    ws = {"a": np.arange(1024, dtype=np.float32)}
    p = _save_external(tmp_path, ws)
    m = onnxkit.load(p)
    onnxkit.save(m, p, external_data=True, location="ext.data", size_threshold=0)
    np.testing.assert_array_equal(onnxkit.load(p).graph.initializers["a"].const_value.numpy(), ws["a"])
    m2 = onnxkit.load(p)
    onnxkit.save(m2, p)  # now inline, over the mapped file
    np.testing.assert_array_equal(onnx.numpy_helper.to_array(onnx.load(p).graph.initializer[0]), ws["a"])


def _with_location(tmp_path, location: str) -> str:
    m = _model({"w": np.ones(4, np.float32)})
    t = m.graph.initializer[0]
    t.ClearField("raw_data")
    t.data_location = onnx.TensorProto.EXTERNAL
    t.external_data.add(key="location", value=location)
    p = tmp_path / "model" / "m.onnx"
    p.parent.mkdir(exist_ok=True)
    p.write_bytes(m.SerializeToString())
    return p


@pytest.mark.parametrize("location", ["/etc/passwd", "../secret.bin", "sub/../../secret.bin",
                                      "..\\secret.bin", "C:\\secret.bin"])
def test_external_location_outside_the_folder_is_refused(tmp_path, location):
    (tmp_path / "secret.bin").write_bytes(b"\x00" * 16)
    p = _with_location(tmp_path, location)
    with pytest.raises(ExternalDataError, match="refused"):
        onnxkit.load(p)


def test_external_location_through_a_symlink_is_refused(tmp_path):
    (tmp_path / "secret.bin").write_bytes(b"\x00" * 16)
    p = _with_location(tmp_path, "link.bin")
    os.symlink(tmp_path / "secret.bin", p.parent / "link.bin")
    with pytest.raises(ExternalDataError, match="outside the model's folder"):
        onnxkit.load(p)


def test_external_data_size_and_range_errors(tmp_path):
    p = _with_location(tmp_path, "w.bin")
    (p.parent / "w.bin").write_bytes(b"\x00" * 8)  # needs 16
    m = onnxkit.load(p)
    with pytest.raises(onnxkit.OnnxkitError, match="needs 16"):
        m.graph.initializers["w"].const_value.numpy()
    (p.parent / "w.bin").unlink()
    with pytest.raises(ExternalDataError, match="cannot open"):
        onnxkit.load(p).graph.initializers["w"].const_value.numpy()


def test_external_data_from_bytes_needs_a_folder(tmp_path):
    p = _with_location(tmp_path, "w.bin")
    (p.parent / "w.bin").write_bytes(np.ones(4, np.float32).tobytes())
    m = onnxkit.load(p.read_bytes())
    with pytest.raises(ExternalDataError, match="no folder"):
        m.graph.initializers["w"].const_value.numpy()
    m = onnxkit.load(p.read_bytes(), base_dir=str(p.parent))
    np.testing.assert_array_equal(m.graph.initializers["w"].const_value.numpy(), np.ones(4))


def test_bad_file_gives_format_error_naming_the_file(tmp_path):
    p = tmp_path / "bad.onnx"
    p.write_bytes(b"\x3a\xff\xff\xff\x0f")
    with pytest.raises(FormatError) as e:
        onnxkit.load(p)
    assert "bad.onnx" in str(e.value) and e.value.offset == 0


def test_empty_file_is_no_model(tmp_path):
    # protobuf reads 0 bytes as an empty message (onnx.load too); as a model that is
    # always a mistake (a failed download, a truncated copy): load says so
    p = tmp_path / "empty.onnx"
    p.write_bytes(b"")
    assert onnxkit.load_proto(p).to_bytes() == b""
    with pytest.raises(onnxkit.errors.FormatError, match="empty.onnx: empty"):
        onnxkit.load(p)


def test_save_refuses_external_location_outside_folder(tmp_path):
    m = onnxkit.load(_model({"w": np.ones(4, np.float32)}).SerializeToString())
    with pytest.raises(ExternalDataError):
        onnxkit.save(m, tmp_path / "m.onnx", external_data=True, location="../x.data")


def test_model_over_2gib_loads_and_saves(tmp_path):
    """An external tensor of 2.1 GiB: load is lazy, save goes external by itself,
    and the data survives (checked at both ends of the tensor)."""
    n = (2**31 + 2**27) // 4  # float32 elements, 2.125 GiB
    data = tmp_path / "src" / "big.bin"
    data.parent.mkdir()
    arr = np.memmap(data, dtype=np.float32, mode="w+", shape=(n,))
    arr[0], arr[-1] = 1.5, -2.5
    arr.flush()
    del arr
    m = onnx.helper.make_model(onnx.helper.make_graph(
        [onnx.helper.make_node("Identity", ["w"], ["y"])], "g", [],
        [onnx.helper.make_tensor_value_info("y", 1, [n])]), ir_version=10)
    t = m.graph.initializer.add(name="w", data_type=1, dims=[n])
    t.data_location = onnx.TensorProto.EXTERNAL
    t.external_data.add(key="location", value="big.bin")
    (data.parent / "m.onnx").write_bytes(m.SerializeToString())
    model = onnxkit.load(data.parent / "m.onnx")
    out = tmp_path / "dst" / "m.onnx"
    out.parent.mkdir()
    onnxkit.save(model, out)  # > 2 GiB: must go external on its own
    assert os.path.getsize(out) < 4096
    back = onnxkit.load(out).graph.initializers["w"].const_value
    assert isinstance(back, ExternalTensor)
    v = back.numpy()
    assert v.shape == (n,) and v[0] == 1.5 and v[-1] == -2.5
    with pytest.raises(onnxkit.OnnxkitError, match="2 GiB"):
        onnxkit.save(model, out, external_data=False)


def _fuzz_seed() -> bytes:
    sub = onnx.helper.make_graph([onnx.helper.make_node("Relu", ["x"], ["r"])], "b", [],
                                 [onnx.helper.make_tensor_value_info("r", 1, [2])])
    g = onnx.helper.make_graph(
        [onnx.helper.make_node("If", ["c"], ["y"], then_branch=sub, else_branch=sub),
         onnx.helper.make_node("Cast", ["y"], ["z"], to=7, name="cast"),
         onnx.helper.make_node("Constant", [], ["k"], value=nh.from_array(np.ones((2, 2), np.float16)))],
        "g", [onnx.helper.make_tensor_value_info("c", 9, []),
              onnx.helper.make_tensor_value_info("x", 1, ["N"])],
        [onnx.helper.make_tensor_value_info("z", 7, [2]),
         onnx.helper.make_tensor_value_info("k", 10, [2, 2])],
        [nh.from_array(np.arange(6, dtype=np.int64).reshape(2, 3), "w")],
        value_info=[onnx.helper.make_tensor_value_info("y", 1, [2])])
    m = onnx.helper.make_model(g, functions=[onnx.helper.make_function(
        "d", "F", ["a"], ["b"], [onnx.helper.make_node("Relu", ["a"], ["b"])],
        [onnx.helper.make_opsetid("", 18)])])
    return m.SerializeToString()


from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_load_of_mutated_model_raises_only_onnxkit_errors(data):
    raw = bytearray(_fuzz_seed())
    for _ in range(data.draw(st.integers(1, 3))):
        i = data.draw(st.integers(0, len(raw) - 1))
        raw[i] = data.draw(st.integers(0, 255))
    try:
        m = onnxkit.load(bytes(raw))
        out = onnxkit.to_bytes(m)
        for v in m.graph.initializers.values():
            v.const_value.numpy()
    except onnxkit.OnnxkitError:
        return
    assert onnxkit.load(out) is not None


def test_saved_files_get_the_usual_permissions(tmp_path):
    m = onnxkit.load(_model({"w": np.ones(300, np.float32)}).SerializeToString())
    onnxkit.save(m, tmp_path / "m.onnx", external_data=True, size_threshold=0)
    umask = os.umask(0o022)
    os.umask(umask)
    for name in ("m.onnx", "m.onnx.data"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o666 & ~umask


def test_external_location_in_a_new_subfolder(tmp_path):
    m = onnxkit.load(_model({"w": np.arange(300, dtype=np.float32)}).SerializeToString())
    onnxkit.save(m, tmp_path / "m.onnx", external_data=True, location="sub/w.bin", size_threshold=0)
    assert (tmp_path / "sub" / "w.bin").exists()
    np.testing.assert_array_equal(
        onnx.numpy_helper.to_array(onnx.load(tmp_path / "m.onnx").graph.initializer[0]), np.arange(300))


def test_save_into_a_missing_folder_is_an_onnxkit_error(tmp_path):
    m = onnxkit.load(_model({"w": np.ones(4, np.float32)}).SerializeToString())
    with pytest.raises(onnxkit.OnnxkitError, match="cannot save"):
        onnxkit.save(m, tmp_path / "nope" / "m.onnx")
