"""Real models, exported from PyTorch, through onnxkit: lossless round trips
(inline and external data), identical onnxruntime results, and ``onnxkit info``.

The models are small configurations of transformers' BERT, GPT-2 and LLaMA
(random weights: nothing is downloaded) and a small ResNet-like CNN in plain
torch.  Each is exported once per session with each exporter that works here:

* ``torchscript``: ``torch.onnx.export(..., dynamo=False, dynamic_axes=...)``;
* ``dynamo``: ``torch.onnx.export(..., dynamo=True, dynamic_shapes=...)``,
  which needs the ``onnxscript`` package (skipped without it);
* ``torchscript-functions`` (the CNN only): the residual blocks exported as
  model-local functions (``export_modules_as_functions``), so FunctionProto
  round-trips too.  (transformers' modules cannot be exported that way.)
"""

from __future__ import annotations

import importlib.util
import os
import re
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

import onnxkit  # noqa: E402

from ._real_models import BATCH, SEQ, VOCAB, _Block, feeds_for  # noqa: E402,F401

MODELS = ["bert", "gpt2", "llama", "resnet"]
EXPORTERS = ["torchscript", "dynamo"]


@pytest.fixture(scope="session")
def external(exported, tmp_path_factory):
    """get(model, exporter) -> the same model saved by onnx with all weights in one
    external file (size_threshold=0)."""
    done: dict = {}

    def get(name: str, exporter: str) -> str:
        key = (name, exporter)
        if key not in done:
            src = exported(name, exporter)
            folder = tmp_path_factory.mktemp(f"ext-{name}-{exporter}")
            path = str(folder / "model.onnx")
            onnx.save(onnx.load(src), path, save_as_external_data=True,
                      all_tensors_to_one_file=True, location="model.weights", size_threshold=0)
            done[key] = path
        return done[key]

    return get


CASES = [pytest.param(m, e, id=f"{m}-{e}") for m in MODELS for e in EXPORTERS] + [
    pytest.param("resnet", "torchscript-functions", id="resnet-torchscript-functions")]


# ---------------------------------------------------------------- helpers


def _session(model):
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])


def _assert_same_outputs(path: str, data: bytes) -> None:
    """onnxruntime gives bit-identical outputs on the file and on ``data``, at the
    export shape and at another one (the axes are dynamic)."""
    ref = _session(path)
    new = _session(data)
    assert [i.name for i in new.get_inputs()] == [i.name for i in ref.get_inputs()]
    for seed, (batch, seq) in enumerate([(BATCH, SEQ), (3, 5)]):
        feeds = feeds_for([i.name for i in ref.get_inputs()], batch, seq, seed)
        a = ref.run(None, feeds)
        b = new.run(None, feeds)
        assert len(a) == len(b)
        for x, y in zip(a, b):
            assert x.shape == y.shape and x.dtype == y.dtype
            assert np.isfinite(x).all()
            np.testing.assert_array_equal(x, y)


def _inline(path: str):
    """The model at ``path`` with every tensor inline and no external-data marks."""
    mp = onnx.load(path)
    for t in mp.graph.initializer:
        t.ClearField("data_location")
        del t.external_data[:]
    return mp


def _param_count(mp) -> int:
    """Elements in all initializers (dense and sparse) of the main graph."""
    n = 0
    for t in mp.graph.initializer:
        n += int(np.prod(t.dims, dtype=np.int64))
    for s in mp.graph.sparse_initializer:
        n += int(np.prod(s.dims, dtype=np.int64))
    return n


# ---------------------------------------------------------------- the tests


@pytest.mark.parametrize("name,exporter", CASES)
def test_export_is_a_valid_model(exported, name, exporter):
    mp = onnx.load(exported(name, exporter))
    onnx.checker.check_model(mp, full_check=True)
    assert len(mp.graph.initializer) > 0
    if exporter == "torchscript-functions":
        assert {f.name for f in mp.functions} >= {"_Block"}
    else:
        assert len(mp.graph.node) > 10


@pytest.mark.parametrize("name,exporter", CASES)
def test_round_trip_is_lossless(exported, tmp_path, name, exporter):
    path = exported(name, exporter)
    want = onnx.load(path)
    m = onnxkit.load(path)
    data = onnxkit.to_bytes(m)
    assert onnx.load_from_string(data) == want
    # the exporters write fields in canonical order, so even the bytes agree
    with open(path, "rb") as f:
        assert data == f.read()
    out = tmp_path / "copy.onnx"
    onnxkit.save(m, out)
    assert onnx.load(str(out)) == want
    assert out.read_bytes() == data
    # the model is usable after load: same graph as onnx sees it
    assert [n.op_type for n in m.graph] == [n.op_type for n in want.graph.node]
    assert [v.name for v in m.graph.inputs] == [i.name for i in want.graph.input]
    assert set(m.graph.initializers) == {t.name for t in want.graph.initializer}


@pytest.mark.parametrize("name,exporter", CASES)
def test_round_trip_through_external_data(external, tmp_path, name, exporter):
    path = external(name, exporter)
    assert os.path.exists(os.path.join(os.path.dirname(path), "model.weights"))
    want = onnx.load(path)  # external data read back inline
    m = onnxkit.load(path)
    assert onnx.load_from_string(onnxkit.to_bytes(m)) == want
    out = tmp_path / "sub"
    out.mkdir()
    p2 = out / "again.onnx"
    onnxkit.save(m, p2, external_data=True, size_threshold=0)
    assert os.path.exists(out / "again.onnx.data")
    assert onnx.load(str(p2)) == want
    # and the external copy onnxkit wrote loads in onnxkit again
    assert onnx.load_from_string(onnxkit.to_bytes(onnxkit.load(p2))) == want


@pytest.mark.parametrize("name,exporter", CASES)
def test_inline_model_saved_with_external_data(exported, tmp_path, name, exporter):
    path = exported(name, exporter)
    m = onnxkit.load(path)
    p2 = tmp_path / "ext.onnx"
    onnxkit.save(m, p2, external_data=True, size_threshold=0, location="w.bin")
    assert os.path.getsize(p2) < os.path.getsize(path)
    assert os.path.exists(tmp_path / "w.bin")
    assert _inline(str(p2)) == _inline(path)
    # the weights are the same, wherever they are
    got = {t.name: onnx.numpy_helper.to_array(t) for t in onnx.load(str(p2)).graph.initializer}
    want = {t.name: onnx.numpy_helper.to_array(t) for t in onnx.load(path).graph.initializer}
    assert got.keys() == want.keys()
    for k in want:
        assert got[k].dtype == want[k].dtype
        np.testing.assert_array_equal(got[k], want[k])
    # onnxruntime cannot run a model whose small shape-giving initializers (Slice's
    # starts, Unsqueeze's axes, ...) are external ("Cannot parse data from external
    # tensors"): run it on a copy with onnxkit's default threshold (1 KiB) instead
    p3 = tmp_path / "ext1k.onnx"
    onnxkit.save(m, p3, external_data=True)
    _assert_same_outputs(path, str(p3))


@pytest.mark.parametrize("name,exporter", CASES)
def test_onnxruntime_gives_identical_outputs(exported, name, exporter):
    path = exported(name, exporter)
    _assert_same_outputs(path, onnxkit.to_bytes(onnxkit.load(path)))


@pytest.mark.parametrize("name,exporter", CASES)
def test_onnxruntime_on_external_data_model(exported, external, name, exporter):
    # the reference is the inline export: onnxruntime refuses the external file
    # itself when small shape-giving initializers are external (size_threshold=0)
    _assert_same_outputs(exported(name, exporter),
                         onnxkit.to_bytes(onnxkit.load(external(name, exporter))))


@pytest.mark.parametrize("name,exporter", CASES)
def test_cli_info(exported, external, capsys, name, exporter):
    cli = pytest.importorskip("onnxkit.cli")
    path = exported(name, exporter)
    mp = onnx.load(path)
    capsys.readouterr()
    rc = cli.main(["info", path])
    out = capsys.readouterr().out
    assert rc == 0, out
    for i in mp.graph.input:
        assert i.name in out
    for op in {n.op_type for n in mp.graph.node}:
        assert re.search(rf"\b{re.escape(op)}\b", out), f"op {op} not in the output:\n{out}"
    count = _param_count(mp)
    digits = {m.replace(",", "").replace("_", "").replace(" ", "")
              for m in re.findall(r"\d[\d,_]*\d|\d", out)}
    assert str(count) in digits, f"parameter count {count} not in the output:\n{out}"
    # the same model with its weights in an external file: same count, weights not needed
    capsys.readouterr()
    assert cli.main(["info", external(name, exporter)]) == 0
    out = capsys.readouterr().out
    digits = {m.replace(",", "").replace("_", "") for m in re.findall(r"\d[\d,_]*\d|\d", out)}
    assert str(count) in digits, f"parameter count {count} not in the output:\n{out}"
