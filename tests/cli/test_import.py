"""``onnxkit import MODEL -o DIR``: the written package loads and runs with
torch alone and gives onnxruntime's outputs."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
ort = pytest.importorskip("onnxruntime")

import onnxkit  # noqa: E402
from onnxkit.builder import GraphBuilder  # noqa: E402
from onnxkit.cli import main  # noqa: E402


def _model():
    b = GraphBuilder("mlp2")
    x = b.input("x", "float", ["batch", 4])
    w1 = b.initializer(np.linspace(-1, 1, 24, dtype=np.float32).reshape(4, 6), "layer1.weight")
    b1 = b.initializer(np.linspace(0, 1, 6, dtype=np.float32), "layer1.bias")
    w2 = b.initializer(np.linspace(1, -1, 12, dtype=np.float32).reshape(6, 2), "layer2.weight")
    h = b.node("MatMul", x, w1, name="mm1")
    h = b.node("Add", h, b1, name="bias1")
    h = b.node("Tanh", h, name="act")
    y = b.node("MatMul", h, w2, name="mm2")
    b.output(y, "scores", dtype="float", shape=["batch", 2])
    m = b.model(opset=17)
    m.ir_version = 8
    return m


def test_import_writes_a_package_that_runs_without_onnxkit(tmp_path, capsys):
    path = str(tmp_path / "mlp.onnx")
    onnxkit.save(_model(), path)
    out = tmp_path / "pkgs" / "mlp2"
    assert main(["import", path, "-o", str(out), "--class-name", "Net"]) == 0
    text = capsys.readouterr().out
    assert f"wrote {out / 'module.py'} (class Net, 4 ops)" in text
    assert "(42 parameter and 0 buffer elements)" in text
    assert "fallbacks: none" in text
    assert sorted(os.listdir(out)) == ["__init__.py", "_support", "module.py", "weights.pt"]
    source = (out / "module.py").read_text()
    assert "class Net(torch.nn.Module):" in source and "'layer1_weight': 'layer1.weight'" in source

    x = np.random.default_rng(0).standard_normal((3, 4), dtype=np.float32)
    np.save(tmp_path / "x.npy", x)
    code = ("import sys; sys.modules['onnxkit'] = None\n"
            "import numpy as np, torch\n"
            "from mlp2.module import Net\n"
            "m = Net()\n"
            "assert all(p.requires_grad for p in m.parameters()) and len(list(m.parameters())) == 3\n"
            f"y = m(torch.from_numpy(np.load({str(tmp_path / 'x.npy')!r})))\n"
            f"np.save({str(tmp_path / 'y.npy')!r}, y.detach().numpy())\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(tmp_path / "pkgs")
    p = subprocess.run([sys.executable, "-c", code], cwd=str(tmp_path / "pkgs"), env=env,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr[-2000:]
    want = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), want, rtol=1e-5, atol=1e-6)


def test_import_errors(tmp_path, capsys):
    assert main(["import", str(tmp_path / "missing.onnx"), "-o", str(tmp_path / "o")]) == 1
    assert "missing.onnx" in capsys.readouterr().err
    # a node with no torch form (strings): refused, naming the node
    from onnx import TensorProto, helper
    node = helper.make_node("StringNormalizer", ["s"], ["t"], name="lower_words", case_change_action="LOWER")
    g = helper.make_graph([node], "g", [helper.make_tensor_value_info("s", TensorProto.STRING, [2])],
                          [helper.make_tensor_value_info("t", TensorProto.STRING, [2])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    path = tmp_path / "strings.onnx"
    path.write_bytes(m.SerializeToString())
    assert main(["import", str(path), "-o", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("onnxkit: error:") and "StringNormalizer 'lower_words'" in err and "numpy kernel" in err
    assert main(["import", str(path)]) == 2                     # -o is required
