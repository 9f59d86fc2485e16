"""Beyond onnx, in small: tiny BERT and GPT-2 configurations exported with
dynamic batch and sequence by both torch exporters, stripped of the types the
exporter wrote, are fully shaped by onnxkit (>= 98% of the values), and what
onnxkit infers never contradicts what the exporter had written.
(The full-size comparison with timings is benchmarks/infer_shapes.py.)"""

from __future__ import annotations

import pytest

onnx = pytest.importorskip("onnx")
pytest.importorskip("torch")
pytest.importorskip("transformers")

import onnxkit  # noqa: E402
from onnxkit.infer import infer  # noqa: E402

from .agreement import _types, judge  # noqa: E402

CASES = [(m, e) for m in ("bert", "gpt2") for e in ("torchscript", "dynamo")]


@pytest.mark.parametrize("name, exporter", CASES, ids=[f"{m}-{e}" for m, e in CASES])
def test_fully_shaped(exported, name, exporter):
    proto = onnx.load(exported(name, exporter))     # (tests/_real_models.py: the export)
    declared: dict = {}
    _types(proto.graph, "", declared, {})
    del proto.graph.value_info[:]
    m = onnxkit.load(proto.SerializeToString())
    report = infer(m)
    assert not report.problems, report.summary()
    assert report.shaped >= 0.98 * report.values, report.summary()
    got: dict = {}
    _types(onnx.load_from_string(onnxkit.to_bytes(m)).graph, "", got, {})
    wrong = [(k, str(t), str(got.get(k))) for k, t in declared.items() if judge(t, got.get(k)) == "different"]
    assert not wrong, wrong[:5]
