"""The export API: names, metadata, errors, custom rules, verify, the command line."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

import onnxkit
from onnxkit.export import ExportError, conversion_rule
from onnxkit.export._registry import RULES

from ._helpers import run_and_compare, session


class Small(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = torch.nn.Linear(4, 3)
        self.register_buffer("scale", torch.tensor([1.0, 2.0, 3.0]))

    def forward(self, x: torch.Tensor, bias: torch.Tensor | None = None) -> dict:
        y = self.lin(x) * self.scale
        return {"y": y, "norm": y.norm(dim=-1)} if bias is None else {"y": y + bias}


def test_names_initializers_and_source_lines() -> None:
    m = Small().eval()
    model = onnxkit.export(m, (torch.randn(2, 4),), dynamic_shapes={0: {0: "batch"}})
    assert [v.name for v in model.graph.inputs] == ["x"]
    assert [v.name for v in model.graph.outputs] == ["y", "norm"]
    assert list(model.graph.outputs[0].shape) == ["batch", 3]
    assert {"lin.weight", "lin.bias", "scale"} <= set(model.graph.initializers)
    assert model.opset_imports[""] == onnxkit.export.DEFAULT_OPSET and model.ir_version == 10
    srcs = [n.metadata_props.get("source", "") for n in model.graph]
    assert any("test_api.py" in s and "forward" in s for s in srcs)
    run_and_compare(session(model), m, (torch.randn(5, 4),))


def test_explicit_names_kwargs_and_list_dynamic_spec() -> None:
    m = Small().eval()
    model = onnxkit.export(m, (torch.randn(2, 4),), {"bias": torch.randn(3)},
                           input_names=["inp", "b"], output_names=["out"],
                           dynamic_shapes={"inp": ["n", None]})
    assert [v.name for v in model.graph.inputs] == ["inp", "b"]
    assert [v.name for v in model.graph.outputs] == ["out"]
    run_and_compare(session(model), m, (torch.randn(4, 4),), {"bias": torch.randn(3)})


def test_bad_dynamic_shapes() -> None:
    m = Small().eval()
    with pytest.raises(ExportError, match="not among the tensor inputs"):
        onnxkit.export(m, (torch.randn(2, 4),), dynamic_shapes={"nope": {0: "b"}})
    with pytest.raises(ExportError, match="size 2 or more"):
        onnxkit.export(m, (torch.randn(1, 4),), dynamic_shapes={"x": {0: "b"}})


def test_missing_rule_names_op_line_and_fix() -> None:
    def f(x: torch.Tensor) -> torch.Tensor:
        return torch.special.i0(x) + 1

    saved = {k: RULES.pop(k) for k in [torch.ops.aten.i0.default] if k in RULES}
    try:
        with pytest.raises(ExportError) as e:
            onnxkit.export(f, (torch.randn(3),))
    finally:
        RULES.update(saved)
    msg = str(e.value)
    assert "aten::i0" in msg and "test_api.py" in msg and "conversion_rule" in msg


def test_custom_rule_is_used() -> None:
    def f(x: torch.Tensor) -> torch.Tensor:
        return torch.special.i0(x)

    @conversion_rule(torch.ops.aten.i0.default)
    def i0(ctx, x):  # a (poor) series, enough to show the rule is used
        x2 = ctx.op("Mul", x, x)
        return ctx.op("Add", ctx.const(1.0), ctx.op("Mul", x2, ctx.const(0.25)))

    try:
        model = onnxkit.export(f, (torch.full((3,), 0.01),))
    finally:
        RULES.pop(torch.ops.aten.i0.default)
    assert [n.op_type for n in model.graph if n.op_type != "Constant"] == ["Mul", "Mul", "Add"]
    run_and_compare(session(model), f, (torch.full((3,), 0.01),))


def test_verify_reports_errors(capsys: pytest.CaptureFixture) -> None:
    m = Small().eval()
    onnxkit.export(m, (torch.randn(2, 4),), dynamic_shapes={"x": {0: "batch"}}, verify=True)
    err = capsys.readouterr().err
    assert "onnxruntime" in err and "batch=3" in err and "max abs error" in err and "OK" in err
    model = onnxkit.export(m, (torch.randn(2, 4),))
    report = onnxkit.export.verify(model, lambda x: {"y": m(x)["y"] + 1, "norm": m(x)["norm"]},
                                   (torch.randn(2, 4),))
    assert not report.ok and report.max_abs >= 0.99


def test_cli_export(tmp_path) -> None:
    (tmp_path / "facmod.py").write_text(
        "import torch\n"
        "def make():\n"
        "    torch.manual_seed(0)\n"
        "    m = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU()).eval()\n"
        "    return m, (torch.randn(2, 3, 8, 8),)\n")
    out = tmp_path / "m.onnx"
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    r = subprocess.run([sys.executable, "-m", "onnxkit", "export", "facmod:make", "-o", str(out),
                        "--dynamic", "0:0=batch,2=h,3=w"], capture_output=True, text=True, env=env,
                       cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    # progress on stderr, stage by stage; the summary on stdout
    assert "tracing Sequential (2 weights, 1 input) ..." in r.stderr, r.stderr
    assert "converted: " in r.stderr and "wrote " in r.stdout
    model = onnxkit.load(str(out))
    assert list(model.graph.inputs[0].shape) == ["batch", 3, "h", "w"]


def test_cli_export_refuses_opsets_it_cannot_write(capsys) -> None:
    from onnxkit.cli import main

    assert main(["export", "nomod:make", "--opset", "99"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--opset 99: onnxkit exports opsets 18 to" in err
    with pytest.raises(onnxkit.export.ExportError, match="newer than the newest"):
        onnxkit.export(torch.nn.ReLU(), (torch.randn(2),), opset=99)


def test_help_shows_the_signature() -> None:
    import inspect
    import pydoc

    assert list(inspect.signature(onnxkit.export).parameters)[:3] == ["fn", "args", "kwargs"]
    assert "dynamic_shapes=None" in pydoc.render_doc(onnxkit.export)
