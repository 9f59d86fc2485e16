"""``convert_version(model, "onnxruntime")`` on the conformance cases (node
and model tests) that an onnxruntime release refuses for their IR or opset
version: after the conversion they load and give the expected outputs in the
installed onnxruntime, or the converter refuses them (an op or type that
does not exist at that release's opset).  Never a wrong result, never a
model onnxruntime cannot load when it runs the original.

The installed onnxruntime (1.32) loads every case as written (IR 14, opset
28), so the sweep takes the limits of older releases from the facts table
(``"onnxruntime==1.20"``: IR 10, opset 21) and runs the conversions in the
installed one, which checks each node against the opset the model names."""

from __future__ import annotations

import collections
import os
import zlib

import pytest

from . import _harness as h

ort = pytest.importorskip("onnxruntime")

FULL = os.environ.get("ONNXKIT_CONVERT_FULL") == "1"

#: the fewest cases beyond onnxruntime 1.20's limits that must run right after
#: the conversion (654 of 978 in the full sweep; the rest are refused, or
#: onnxruntime cannot run the original either)
FLOOR = 645


def _sampled(name: str) -> bool:
    return FULL or zlib.crc32(name.encode()) % 3 == 0


@pytest.mark.parametrize("version", ["1.20"])
def test_cases_beyond_an_onnxruntime_release_run_after_convert(version):
    counts: collections.Counter = collections.Counter()
    bad = []
    for case in h.all_cases():
        if not _sampled(case.name):
            continue
        result, detail = h.for_onnxruntime_outcome(case, version)
        counts[result] += 1
        if result in ("wrong", "fails"):
            bad.append(f"{case.name}: {result}: {detail}")
    print(f"\nonnxruntime=={version}: {dict(counts)}")
    assert not bad, "\n".join(bad[:30])
    floor = FLOOR if FULL else FLOOR // 3 * 0.85
    assert counts["runs right"] >= floor, dict(counts)


def test_installed_onnxruntime_loads_every_case_version():
    """With the installed onnxruntime's own limits nothing needs converting:
    the facts table's row for it is right about every case's IR and opset."""
    ir, opset, _ = h.onnxruntime_limits(None)
    import onnx
    for case in h.all_cases():
        m = onnx.load_from_string(case.data)
        assert m.ir_version <= ir, case.name
        assert max((o.version for o in m.opset_import if o.domain in ("", "ai.onnx")), default=0) <= opset


def test_onnxruntime_version_target(tmp_path):
    """``onnxruntime==X.Y`` takes that release's limits; a model newer is
    converted down to them, an older one is left alone."""
    import onnxkit
    from onnxkit.convert import ConversionError, convert_version

    case = next(c for c in h.cases() if c.name == "test_gelu_tanh_1")
    m = onnxkit.load(case.data)
    assert m.opset > 17
    out = convert_version(m, "onnxruntime==1.14")
    assert (out.ir_version, out.opset) == (8, 18)
    assert h.run_onnxruntime(onnxkit.to_bytes(out), case)
    assert convert_version(out, "onnxruntime==1.20").opset == 18
    with pytest.raises(ConversionError, match="onnxruntime==X.Y"):
        convert_version(m, "onnxruntime==")
