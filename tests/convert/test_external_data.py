"""A model of 2.5 GiB of external weights converts in seconds and saves with
its external data, the weights never read: the data file is sparse (made
with truncate, nothing written), and the test fails if any weight's bytes
are mapped or read.  The same model at a small size, with real weights,
checks the kept external data against onnxruntime."""

from __future__ import annotations

import os
import time

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

import onnxkit
from onnxkit.convert import convert_version
from onnxkit.ir._tensor import ExternalFiles, ExternalTensor

LAYERS = 10


@pytest.fixture
def opened(monkeypatch) -> list:
    """The names of the external tensors whose data is read from now on."""
    names = []
    real_get = ExternalFiles.get

    def get(self, path, name):
        names.append(name)
        return real_get(self, path, name)
    monkeypatch.setattr(ExternalFiles, "get", get)
    return names


def _model(folder, dim: int, *, sparse: bool):
    """x[1, dim] -> LAYERS x (MatMul by an external [dim, dim] float weight,
    Relu) -> LayerNormalization -> ReduceMean (axes input) -> Softmax, at
    opset 18: going to 13 expands LayerNormalization and moves the axes.
    The weights lie in one file "w.data" (a sparse file when ``sparse``)."""
    os.makedirs(folder, exist_ok=True)
    nbytes = dim * dim * 4
    data = os.path.join(folder, "w.data")
    rng = np.random.default_rng(0)
    with open(data, "wb") as f:
        if sparse:
            f.truncate(nbytes * LAYERS)
        else:
            for _ in range(LAYERS):
                f.write((rng.standard_normal((dim, dim), np.float32) / np.sqrt(dim)).tobytes())
    nodes, inits, prev = [], [], "x"
    for k in range(LAYERS):
        t = TensorProto(name=f"w{k}", data_type=TensorProto.FLOAT, dims=[dim, dim])
        t.data_location = TensorProto.EXTERNAL
        for key, val in (("location", "w.data"), ("offset", str(k * nbytes)), ("length", str(nbytes))):
            t.external_data.add(key=key, value=val)
        inits.append(t)
        nodes += [helper.make_node("MatMul", [prev, f"w{k}"], [f"m{k}"]),
                  helper.make_node("Relu", [f"m{k}"], [f"r{k}"])]
        prev = f"r{k}"
    inits += [helper.make_tensor("scale", TensorProto.FLOAT, [dim], np.ones(dim)),
              helper.make_tensor("axes", TensorProto.INT64, [1], [0])]
    nodes += [helper.make_node("LayerNormalization", [prev, "scale"], ["ln"], axis=-1),
              helper.make_node("ReduceMean", ["ln", "axes"], ["mean"], keepdims=1),
              helper.make_node("Softmax", ["mean"], ["y"], axis=-1)]
    g = helper.make_graph(nodes, "big", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, dim])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, dim])], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 18)], ir_version=10)
    path = os.path.join(folder, "big.onnx")
    with open(path, "wb") as f:
        f.write(m.SerializeToString())
    return path


def test_2_5_gib_model_converts_and_saves_without_reading_weights(tmp_path, opened):
    dim = 8192                              # 10 x 256 MiB = 2.5 GiB of float weights
    src = _model(str(tmp_path / "src"), dim, sparse=True)
    data = str(tmp_path / "src" / "w.data")
    assert os.path.getsize(data) == LAYERS * dim * dim * 4 == 5 * 2**29
    out = tmp_path / "dst" / "big13.onnx"
    out.parent.mkdir()
    t0 = time.perf_counter()
    m = onnxkit.load(src)
    m13 = convert_version(m, 13)
    onnxkit.save(m13, out)                  # > 2 GiB: external by itself
    took = time.perf_counter() - t0
    assert not opened, f"weights read: {opened[:3]}"
    assert took < 10, f"{took:.1f} s"       # about 0.1 s on an idle machine

    kept = str(out) + ".data"
    st = os.stat(kept)
    # the weights' file, with the LayerNormalization scale (32 KiB) after it
    assert st.st_size == os.path.getsize(data) + dim * 4
    assert st.st_blocks * 512 < 2**20       # still sparse: nothing was written
    back = onnxkit.load(out)
    assert back.opset == 13
    assert {n.op_type for n in back.graph} >= {"MatMul", "ReduceMean", "Softmax"}
    assert "LayerNormalization" not in {n.op_type for n in back.graph}
    for k in range(LAYERS):
        w = back.graph.initializers[f"w{k}"].const_value
        assert isinstance(w, ExternalTensor)
        assert (w.location, w.offset, w.length) == ("big13.onnx.data", k * dim * dim * 4, dim * dim * 4)
    onnx.checker.check_model(str(out))      # the path form: the data file is checked too
    assert os.path.getsize(out) < 2**16


@pytest.mark.parametrize("same_folder", [False, True])
def test_kept_external_data_gives_the_same_outputs(tmp_path, same_folder):
    ort = pytest.importorskip("onnxruntime")
    src = _model(str(tmp_path / "src"), 64, sparse=False)
    m = onnxkit.load(src)
    out = tmp_path / ("src" if same_folder else "dst") / "m13.onnx"
    out.parent.mkdir(exist_ok=True)
    # in the same folder, naming the source's file keeps it by reference
    location = "w.data" if same_folder else None
    onnxkit.save(convert_version(m, 13), out, external_data=True, location=location)
    kept = out.parent / (location or "m13.onnx.data")
    assert os.path.getsize(kept) == os.path.getsize(tmp_path / "src" / "w.data")
    x = {"x": np.random.default_rng(1).standard_normal((1, 64), np.float32)}
    want = ort.InferenceSession(src, providers=["CPUExecutionProvider"]).run(None, x)[0]
    got = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"]).run(None, x)[0]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(onnxkit.Session(str(out)).run(None, x)[0], want, rtol=1e-4, atol=1e-6)


def test_real_bert_converts_without_reading_weights(exported, tmp_path, opened):
    """A BERT export with every tensor in external data: 17 -> 13 maps no
    external file (type inference folds no weight, no adapter reads one)."""
    pytest.importorskip("torch")
    m = onnxkit.load(exported("bert", "torchscript"))
    onnxkit.save(m, tmp_path / "bert.onnx", external_data=True, size_threshold=0)
    m = onnxkit.load(tmp_path / "bert.onnx")
    m13 = convert_version(m, 13)
    assert m13.opset == 13 and not opened, opened[:5]


def test_cli_convert_keeps_external_data(tmp_path, capsys, opened):
    """`onnxkit convert MODEL OUT --opset 13` on a model with external data
    writes OUT with its own copy of the data file, no weight read."""
    from onnxkit.cli import main

    src = _model(str(tmp_path / "src"), 64, sparse=False)
    out = tmp_path / "dst" / "m13.onnx"
    out.parent.mkdir()
    assert main(["convert", src, str(out), "--opset", "13"]) == 0, capsys.readouterr().err
    assert not opened, opened
    assert "m13.onnx.data" in capsys.readouterr().out
    m = onnxkit.load(out)
    assert m.opset == 13 and isinstance(m.graph.initializers["w0"].const_value, ExternalTensor)
    with open(tmp_path / "src" / "w.data", "rb") as a, open(str(out) + ".data", "rb") as b:
        assert a.read() == b.read()
