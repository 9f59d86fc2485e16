"""Issue 22: the exporter is never silently wrong.  Every program of the corpus
(tests/export/_corpus.py) exports and gives eager PyTorch's outputs in
onnxruntime and onnxkit's runtime on inputs that take every side and at other
sizes of its dynamic dims, or refuses sizes it was not traced for at run time
(its size guard), listed in the model's metadata and in a warning."""

from __future__ import annotations

import json
import warnings

import pytest
import torch

import onnxkit
from onnxkit.export import ExportError

from . import _corpus
from ._helpers import if_nodes, run_and_compare, session

PROGRAMS = _corpus.programs()


@pytest.mark.parametrize("name", list(PROGRAMS))
def test_corpus(name: str) -> None:
    _corpus.check(PROGRAMS[name])


def test_sequential_branches_need_two_traces_each() -> None:
    from onnxkit.export import _trace

    count = [0]
    orig = _trace.trace_once

    def counted(*a, **k):
        count[0] += 1
        return orig(*a, **k)

    _trace.trace_once = counted
    try:
        onnxkit.export(_corpus.if_in_fixed_loop, (torch.randn(3, 5),))
    finally:
        _trace.trace_once = orig
    # 5 decisions in sequence: the other side of each, and the same side after the
    # other sides of the earlier ones (to see code that depends on them): 2 * 5, not 2**5
    assert count[0] <= 10


def test_many_sequential_branches_and_the_bound_says_why() -> None:
    def f(x):
        for i in range(20):
            if x[i].sum() > 0:
                x = x + 1
        return x

    with pytest.raises(ExportError) as e:
        onnxkit.export(f, (torch.randn(20, 2),))
    msg = str(e.value)
    assert "max_branches" in msg and "trip count" not in msg and "test_never_wrong.py" in msg
    model = onnxkit.export(f, (torch.randn(20, 2),), max_branches=24)
    assert len(if_nodes(model)) == 20
    sess = session(model)
    for _ in range(3):
        run_and_compare(sess, f, (torch.randn(20, 2),))


def test_size_guard_is_listed_and_warned() -> None:
    with pytest.warns(UserWarning, match="Eq\\(b, 3\\)"):
        model = onnxkit.export(_corpus.range_over_size, (torch.randn(3, 4),),
                               dynamic_shapes={"x": {0: "b"}})
    (guard,) = json.loads(model.metadata_props["onnxkit.size_guards"])
    assert guard["condition"] == "Eq(b, 3)" and "_corpus.py" in guard["source"]
    assert json.loads(model.metadata_props["onnxkit.guard_sizes"])["b"] == [1, 2, 3, 4]


def test_size_comparison_becomes_an_if_on_the_size() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no guard: every size is right
        model = onnxkit.export(_corpus.size_eq_1, (torch.randn(3, 4),), dynamic_shapes={"x": {0: "b"}})
    (node,) = if_nodes(model)
    assert "_corpus.py" in node.metadata_props["source"]
    assert "onnxkit.size_guards" not in model.metadata_props


def test_verify_crosses_the_recorded_decisions(capsys) -> None:
    onnxkit.export(_corpus.shape_gt_6, (torch.randn(3, 8),), dynamic_shapes={"x": {1: "n"}}, verify=True)
    report = capsys.readouterr().err
    for n in (1, 6, 7):  # size 1 and both sides of `> 6`
        assert f"n={n} " in report
    with pytest.warns(UserWarning):
        onnxkit.export(_corpus.range_over_size, (torch.randn(3, 4),), dynamic_shapes={"x": {0: "b"}},
                       verify=True)
    report = capsys.readouterr().err
    assert "b=1 " in report and "b=4 " in report and "refused" in report


def test_verify_catches_a_wrong_model_at_size_one(monkeypatch) -> None:
    """verify runs size 1 of each dynamic dim, which the default sizes never hit."""
    from onnxkit.export import _verify

    model = onnxkit.export(_corpus.size_eq_1, (torch.randn(3, 4),), dynamic_shapes={"x": {0: "b"}})

    def wrong(x):  # what the exporter used to write: the batch>1 side only
        return x.sum(0)

    report = _verify.verify(model, wrong, (torch.randn(3, 4),), dynamic_shapes={"x": {0: "b"}})
    assert not report.ok and any(r.inputs == "b=1" and not r.ok for r in report.rows)


def _while_data(x):
    while x.sum() > 0:
        x = x - 1
    return x


def _sides_of_different_rank(x):
    if x.sum() > 0:
        return x.sum(0)
    return x


def _int_of_data(x):
    return torch.zeros(int(x.sum()))


@pytest.mark.parametrize("fn,words", [
    (_while_data, "trip count"), (_sides_of_different_rank, "different types"),
    (_int_of_data, "item()"),
])
def test_refusals_name_file_and_line(fn, words: str) -> None:
    """What cannot be exported is refused with an ExportError naming the line."""
    with pytest.raises(ExportError) as e:
        onnxkit.export(fn, (torch.rand(3, 2),))
    msg = str(e.value)
    assert words in msg and "test_never_wrong.py:" in msg, msg
