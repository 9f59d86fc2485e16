"""Issue 14 item 5: the conversion rules build their nodes through the typed op
constructors (``ctx.o.Gemm(a, b, transB=1)``), pinned to the export opset, and
every model they write passes onnxkit's full check at the default opset and at
the lowest one the exporter supports."""

from __future__ import annotations

import ast
import pathlib
import warnings

import pytest
import torch

import onnxkit
from onnxkit.check import check_model
from onnxkit.defs import domains, has_schema
from onnxkit.export import ExportError, conversion_rule
from onnxkit.export._api import DEFAULT_OPSET, MIN_OPSET
from onnxkit.export._registry import RULES

from . import _corpus, zoo

EXPORT = pathlib.Path(onnxkit.__file__).parent / "export"
#: the modules whose nodes come from rules: every rule module, and the converter's own helpers
MODULES = sorted((EXPORT / "_rules").glob("*.py")) + [EXPORT / "_convert.py", EXPORT / "_guards.py"]
STANDARD = set(domains())


def _untyped_calls(path: pathlib.Path) -> list[str]:
    """``ctx.op(...)`` calls of ``path`` that should be ``ctx.o.<Op>(...)``: a
    standard-domain op name, or a name the source does not spell out."""
    found = []
    for n in ast.walk(ast.parse(path.read_text(), str(path))):
        if not (isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == "op"):
            continue
        owner = n.func.value
        owner_name = owner.id if isinstance(owner, ast.Name) else getattr(owner, "attr", None)
        if owner_name != "ctx":
            continue
        domain = next((k.value for k in n.keywords if k.arg == "domain"), None)
        where = f"{path.name}:{n.lineno}"
        if domain is not None and not isinstance(domain, ast.Constant):
            found.append(f"{where}: domain not a literal")
            continue
        dom = "" if domain is None else domain.value
        name = n.args[0] if n.args else None
        if not (isinstance(name, ast.Constant) and isinstance(name.value, str)):
            found.append(f"{where}: op name not a literal")
        elif dom in STANDARD and (dom != "" or has_schema(name.value, "")):
            found.append(f"{where}: {name.value!r} of a standard domain")
        elif dom in STANDARD:
            found.append(f"{where}: {name.value!r} is no ONNX op")
    return found


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_rules_use_typed_constructors(path: pathlib.Path) -> None:
    assert _untyped_calls(path) == []


def test_scan_sees_untyped_calls(tmp_path: pathlib.Path) -> None:
    p = tmp_path / "rule.py"
    p.write_text("def r(ctx, x, op):\n"
                 "    a = ctx.op('Gemm', x, x, transB=1)\n"
                 "    b = self.ctx.op(op, x)\n"
                 "    c = ctx.op('MyOp', x, domain='com.example')\n"
                 "    return ctx.o.Relu(ctx.op('LinearClassifier', x, domain='ai.onnx.ml'))\n")
    assert [f.split(":")[1] for f in _untyped_calls(p)] == ["2", "3", "5"]


# ---------------------------------------------------------------- the models check
#: the zoo (every family of rules: attention, conv, pooling, norms, RNNs, ...)
#: and the corpus of control flow and symbolic sizes
ZOO = list(zoo.ZOO)
PROGRAMS = _corpus.programs()


def _export_zoo(name: str, opset: int) -> onnxkit.Model:
    case = zoo.ZOO[name]()
    return onnxkit.export(case.module, case.args, case.kwargs, dynamic_shapes=case.dynamic_shapes,
                          opset=opset)


def _export_program(name: str, opset: int) -> onnxkit.Model:
    p = PROGRAMS[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return onnxkit.export(p.fn, p.args, dynamic_shapes=p.dynamic, opset=opset)


def _check(model: onnxkit.Model, opset: int) -> None:
    assert model.opset_imports[""] == opset
    check_model(model, full=True)


@pytest.mark.parametrize("opset", [DEFAULT_OPSET, MIN_OPSET])
@pytest.mark.parametrize("name", ZOO)
def test_zoo_checks(name: str, opset: int) -> None:
    _check(_export_zoo(name, opset), opset)


@pytest.mark.parametrize("opset", [DEFAULT_OPSET, MIN_OPSET])
@pytest.mark.parametrize("name", list(PROGRAMS))
def test_corpus_checks(name: str, opset: int) -> None:
    _check(_export_program(name, opset), opset)


# ---------------------------------------------------------------- ctx.o itself
def test_typed_nodes_carry_source_and_constants() -> None:
    def f(x: torch.Tensor) -> torch.Tensor:
        return torch.special.i0(x)

    @conversion_rule(torch.ops.aten.i0.default)
    def i0(ctx, x):  # a number input becomes a constant, as with ctx.op
        return ctx.o.Add(ctx.o.Mul(x, 0.25), 1.0)

    try:
        model = onnxkit.export(f, (torch.full((3,), 0.5),))
    finally:
        RULES.pop(torch.ops.aten.i0.default)
    nodes = [n for n in model.graph if n.op_type in ("Mul", "Add")]
    assert [n.op_type for n in nodes] == ["Mul", "Add"]
    assert all("test_rules_typed.py" in n.metadata_props["source"] for n in nodes)
    check_model(model, full=True)


@pytest.mark.parametrize("body, expect", [
    (lambda ctx, x: ctx.o.Gemm(x, x, transb=1), "has no attribute 'transb'"),      # a typo
    (lambda ctx, x: ctx.o.Relu(x, x), "Relu"),                                     # an input too many
    (lambda ctx, x: getattr(ctx.o, "Relux")(x, alpha=1.0), "Relux, which opset 18"),  # no such op
    # ok for the op's latest version, not for the one in force at opset 18
    (lambda ctx, x: ctx.o.AveragePool(x, kernel_shape=[1], dilations=[1]), "dilations"),
])
def test_typed_nodes_are_checked_at_the_export_opset(body, expect) -> None:
    def f(x: torch.Tensor) -> torch.Tensor:
        return torch.special.i0(x)

    conversion_rule(torch.ops.aten.i0.default)(body)
    try:
        with pytest.raises((ExportError, onnxkit.errors.IRError), match=expect):
            onnxkit.export(f, (torch.ones(1, 1, 3),), opset=MIN_OPSET)
    finally:
        RULES.pop(torch.ops.aten.i0.default)
