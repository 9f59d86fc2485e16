"""The conformance sweep of the version converters: every node test of
onnx.backend.test (model + test_data_set_0) and every model test of its
``simple``, ``pytorch-converted`` and ``pytorch-operator`` data (model.onnx
+ test_data_set_0; :func:`model_cases`) converted to a target opset,
then checked by onnxkit's checker and run in onnxkit.Session against the
expected outputs.  Shared by tests/convert/test_conformance.py and
benchmarks/version_convert.py.

Outcomes: ``same`` (the model is already at the target), ``ok`` (converted,
valid, expected outputs), ``refused`` (a clear error), ``invalid`` (converted
but the checker or the runtime rejects it), ``wrong`` (runs, other outputs),
``crash`` (the converter failed with another exception), ``baseline`` (the
original model itself does not give the expected outputs in onnxkit: not
counted).
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

OUTCOMES = ("ok", "refused", "invalid", "wrong", "crash")

#: the model-test folders of onnx/backend/test/data swept besides the node tests
#: (``real`` and ``light`` hold downloads / random weights without test data)
MODEL_KINDS = ("simple", "pytorch-converted", "pytorch-operator")


@dataclass
class Case:
    name: str                   # the node test's name, or "kind/test_name" for a model test
    data: bytes                 # the model's bytes
    opset: int
    inputs: dict[str, Any]
    outputs: list[Any]
    rtol: float
    atol: float


@functools.cache
def cases() -> list[Case]:
    from onnx.backend.test.case import node

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        raw = node.collect_testcases()
    out = []
    for c in raw:
        if c.model is None or not c.data_sets:
            continue
        m = c.model
        ins, outs = c.data_sets[0]
        init = {t.name for t in m.graph.initializer}
        names = [i.name for i in m.graph.input if i.name not in init]
        opset = next((o.version for o in m.opset_import if o.domain in ("", "ai.onnx")), None)
        if opset is None or len(ins) > len(names):
            continue
        out.append(Case(c.name, m.SerializeToString(), opset, dict(zip(names, map(_array, ins))),
                        [_array(o) for o in outs], c.rtol, c.atol))
    return out


@functools.cache
def model_cases(kinds: tuple[str, ...] = MODEL_KINDS) -> list[Case]:
    """The model tests of onnx's test data (each folder's model.onnx and
    test_data_set_0, read the way onnx's backend runner reads them: input
    ``k`` is the graph's input ``k``, typed by that input)."""
    import glob
    import os

    import onnx
    from onnx.backend.test.loader import load_model_tests

    out = []
    for kind in kinds:
        for c in sorted(load_model_tests(kind=kind), key=lambda c: c.name):
            d = c.model_dir
            if d is None or not os.path.exists(os.path.join(d, "model.onnx")):
                continue
            sets = sorted(glob.glob(os.path.join(d, "test_data_set_*")))
            if not sets:
                continue
            data = open(os.path.join(d, "model.onnx"), "rb").read()
            m = onnx.load_from_string(data)
            opset = next((o.version for o in m.opset_import if o.domain in ("", "ai.onnx")), None)
            if opset is None:
                continue
            n_in = len(glob.glob(os.path.join(sets[0], "input_*.pb")))
            n_out = len(glob.glob(os.path.join(sets[0], "output_*.pb")))
            if n_in > len(m.graph.input) or n_out > len(m.graph.output):
                continue
            ins = {m.graph.input[k].name: _read_proto(os.path.join(sets[0], f"input_{k}.pb"),
                                                      m.graph.input[k].type) for k in range(n_in)}
            outs = [_read_proto(os.path.join(sets[0], f"output_{k}.pb"), m.graph.output[k].type)
                    for k in range(n_out)]
            out.append(Case(f"{kind}/{c.name}", data, opset, ins, outs, c.rtol, c.atol))
    return out


@functools.cache
def all_cases() -> list[Case]:
    """Node tests then model tests."""
    return cases() + model_cases()


@functools.cache
def _by_name() -> dict[str, Case]:
    return {c.name: c for c in all_cases()}


def _read_proto(path: str, type_proto: Any) -> Any:
    import onnx
    from onnx import numpy_helper

    raw = open(path, "rb").read()
    if type_proto.HasField("sequence_type"):
        seq = onnx.SequenceProto()
        seq.ParseFromString(raw)
        return numpy_helper.to_list(seq)
    if type_proto.HasField("optional_type"):
        opt = onnx.OptionalProto()
        opt.ParseFromString(raw)
        return numpy_helper.to_optional(opt)
    t = onnx.TensorProto()
    t.ParseFromString(raw)
    return numpy_helper.to_array(t)


def _array(v: Any) -> Any:
    """Test data as numpy: some cases store TensorProtos (float8, int4, bfloat16 ...)."""
    from onnx import TensorProto, numpy_helper

    if isinstance(v, TensorProto):
        return numpy_helper.to_array(v)
    if isinstance(v, (list, tuple)):
        return [_array(x) for x in v]
    return v


def _close(got: Any, want: Any, rtol: float, atol: float) -> bool:
    if isinstance(want, (list, tuple)):
        return isinstance(got, (list, tuple)) and len(got) == len(want) and all(
            _close(g, w, rtol, atol) for g, w in zip(got, want))
    if want is None:
        return got is None
    if isinstance(want, dict):
        return isinstance(got, dict) and set(got) == set(want) and all(
            _close(got[k], want[k], rtol, atol) for k in want)
    g, w = np.asarray(got), np.asarray(want)
    if g.shape != w.shape:
        return False
    if w.dtype.kind in "OUSb" or g.dtype.kind in "OUSb":
        return g.dtype.kind == w.dtype.kind and bool(np.array_equal(g, w))
    if g.dtype != w.dtype:
        return False
    try:
        gf, wf = g.astype(np.float64), w.astype(np.float64)
    except (TypeError, ValueError):
        return bool(np.array_equal(g, w))
    return bool(np.allclose(gf, wf, rtol=rtol, atol=atol, equal_nan=True))


def run_onnxkit(data: bytes, case: Case) -> bool:
    """Whether the model (bytes) gives the case's expected outputs in onnxkit."""
    import onnxkit

    sess = onnxkit.Session(onnxkit.load(data), seed=0, optimize="none")
    got = sess.run(None, case.inputs)
    return len(got) == len(case.outputs) and all(
        _close(g, w, case.rtol, case.atol) for g, w in zip(got, case.outputs))


@functools.cache
def baseline_ok(name: str) -> bool:
    case = _by_name()[name]
    try:
        return run_onnxkit(case.data, case)
    except Exception:   # noqa: BLE001
        return False


def onnxkit_convert(data: bytes, target: int) -> bytes:
    import onnxkit
    from onnxkit.convert import convert_version

    return onnxkit.to_bytes(convert_version(onnxkit.load(data), target))


def onnx_convert(data: bytes, target: int) -> bytes:
    import onnx
    from onnx import version_converter

    return version_converter.convert_version(onnx.load_from_string(data), target).SerializeToString()


def outcome(case: Case, target: int, convert: Callable[[bytes, int], bytes] = onnxkit_convert,
            refusal: tuple[type, ...] | None = None) -> tuple[str, str]:
    """(outcome, detail) of converting ``case`` to ``target`` with ``convert``;
    ``baseline`` when the result is not right and neither is the original's."""
    result, detail = _outcome(case, target, convert, refusal)
    if result in ("wrong", "invalid") and not baseline_ok(case.name):
        return "baseline", "the original model does not give the expected outputs in onnxkit"
    return result, detail


def _outcome(case: Case, target: int, convert: Callable[[bytes, int], bytes],
             refusal: tuple[type, ...] | None) -> tuple[str, str]:
    import onnxkit
    from onnxkit.check import find_problems
    from onnxkit.convert import ConversionError

    refusal = refusal or (ConversionError,)
    try:
        out = convert(case.data, target)
    except refusal as e:
        return "refused", str(e).splitlines()[-1][:300]
    except Exception as e:   # noqa: BLE001
        return "crash", f"{type(e).__name__}: {e}"[:300]
    try:
        m = onnxkit.load(out)
        if (m.opset or 0) != target:
            return "invalid", f"opset {m.opset} written, {target} asked"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            problems = find_problems(m)
        if problems:
            return "invalid", str(problems[0])[:300]
    except Exception as e:   # noqa: BLE001
        return "invalid", f"{type(e).__name__}: {e}"[:300]
    try:
        good = run_onnxkit(out, case)
    except Exception as e:   # noqa: BLE001
        return "invalid", f"does not run: {type(e).__name__}: {e}"[:300]
    return ("ok", "") if good else ("wrong", "outputs differ")


def run_onnxruntime(data: bytes, case: Case) -> bool:
    """Whether onnxruntime gives the case's expected outputs on the model (bytes)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 4
    feeds = {k: np.asarray(v) if isinstance(v, np.generic) else v for k, v in case.inputs.items()}
    got = ort.InferenceSession(data, opts, providers=["CPUExecutionProvider"]).run(None, feeds)
    return len(got) == len(case.outputs) and all(
        _close(g, w, case.rtol, case.atol) for g, w in zip(got, case.outputs))


def onnxruntime_limits(version: str | None) -> tuple[int, int, int]:
    from onnxkit.convert import onnxruntime_limits as limits

    return limits(version)


def for_onnxruntime_outcome(case: Case, version: str | None = None) -> tuple[str, str]:
    """A case against onnxruntime ``version``'s limits (None: the installed
    one): ``loads`` (its IR version and opsets are within them: nothing to
    do), else converted with ``target="onnxruntime==version"`` and run in the
    installed onnxruntime: ``runs right``, ``refused`` (the converter),
    ``cannot run`` (onnxruntime cannot run the converted model, nor the
    original at its own opset: a missing kernel, an input type it cannot take), ``fails`` (it cannot load the conversion but
    can the original), ``wrong`` (other outputs), ``n/a`` (onnxruntime does
    not give the expected outputs on the original either)."""
    import onnx
    import onnxkit
    from onnxkit.convert import ConversionError, convert_version

    ir, opset, ml = onnxruntime_limits(version)
    m = onnx.load_from_string(case.data)
    ops = {o.domain or "ai.onnx": o.version for o in m.opset_import}
    if m.ir_version <= ir and ops.get("ai.onnx", 0) <= opset and ops.get("ai.onnx.ml", 0) <= ml:
        return "loads", ""
    target = "onnxruntime" if version is None else f"onnxruntime=={version}"
    try:
        out = convert_version(onnxkit.load(case.data), target)
    except ConversionError as e:
        return "refused", str(e).splitlines()[-1][:300]
    assert out.ir_version <= ir and out.opset <= opset, (out.ir_version, out.opset)
    data = onnxkit.to_bytes(out)
    try:
        good = run_onnxruntime(data, case)
    except Exception as e:   # noqa: BLE001
        try:
            run_onnxruntime(case.data, case)
        except Exception:   # noqa: BLE001
            return "cannot run", f"{type(e).__name__}: {e}"[:300]
        return "fails", f"{type(e).__name__}: {e}"[:300]
    if good:
        return "runs right", ""
    try:
        base = run_onnxruntime(case.data, case)
    except Exception:   # noqa: BLE001
        base = False
    return ("wrong", "outputs differ") if base else ("n/a", "onnxruntime is not right on the original")
