"""Agreement with onnx.shape_inference on every conformance model: for every
value onnx gives a type (with ``data_prop=True``), onnxkit's is the same or
more specific -- never another element type, rank or number.  The graph
outputs are compared a second time with their declared shapes removed (the
suite declares them all, so this is where the op rules really show; value
names prefixed ``blind:``).  Gaps are
allowed only when listed, with a reason, in ``shape_exclusions.py``, and then
for at most 0.5% of the values."""

from __future__ import annotations

import collections
import warnings

import pytest

pytest.importorskip("onnx")

from .agreement import all_models, compare, compare_blind  # noqa: E402
from .shape_exclusions import EXCLUSIONS  # noqa: E402

TOLERANCE = 0.005


@pytest.fixture(scope="module")
def results():
    total = 0
    gaps = []
    for name, model in all_models():
        for fn in (compare, compare_blind):
            n, mm = fn(name, model)
            total += n
            gaps += mm
    return total, gaps


def test_onnx_types_are_matched_or_refined(results):
    total, gaps = results
    unlisted = [g for g in gaps if g.key not in EXCLUSIONS]
    if unlisted:
        by_op = collections.Counter((g.op, g.kind) for g in unlisted)
        lines = [f"{c:4d} {op} ({kind}), e.g. " + next(
            f"{g.model} {g.value}: onnx {g.onnx_type}, onnxkit {g.ours}"
            for g in unlisted if (g.op, g.kind) == (op, kind)) for (op, kind), c in by_op.most_common()]
        pytest.fail(f"{len(unlisted)} of {total} values typed by onnx where onnxkit says less or "
                    f"otherwise, not listed in shape_exclusions.py:\n" + "\n".join(lines))


def test_exclusions_within_tolerance(results):
    total, gaps = results
    assert len(EXCLUSIONS) <= TOLERANCE * total, \
        f"{len(EXCLUSIONS)} exclusions for {total} values: more than {TOLERANCE:.1%}"
    assert all(reason.strip() for reason in EXCLUSIONS.values())
    stale = set(EXCLUSIONS) - {g.key for g in gaps}
    if stale:
        warnings.warn(f"shape_exclusions.py lists {len(stale)} values that now agree: "
                      f"{sorted(stale)[:5]} ...")
