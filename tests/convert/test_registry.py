"""The step tables: every version step of the schemas has an adapter or a
recorded reason, and no table names a step that does not exist."""

from __future__ import annotations

from onnxkit.convert._reasons import REASONS
from onnxkit.convert._registry import Adapter, all_adapters
from onnxkit.defs import all_schemas, get_schema, schema_versions

DOMAINS = ("", "ai.onnx.ml")


def _steps():
    for dom in DOMAINS:
        for op in sorted({s.name for s in all_schemas(dom)}):
            vs = schema_versions(op, dom)
            for b in vs[1:]:
                yield dom, op, b.since_version


def test_every_step_has_an_adapter_or_a_reason():
    table = all_adapters()
    missing = [s for s in _steps() if s not in table]
    assert not missing, f"version steps with neither an adapter nor a reason in _reasons.py: {missing}"


def test_tables_name_real_steps_or_first_versions():
    real = set(_steps())
    for (dom, op, since), a in all_adapters().items():
        assert isinstance(a, Adapter)
        first = get_schema(op, since, dom)
        assert first is not None and first.since_version == since, (dom, op, since)
        if (dom, op, since) not in real:      # an op's first version: only "down" makes sense
            assert get_schema(op, since - 1, dom) is None and a.down is not None, (dom, op, since)


def test_reasons_are_sentences():
    for key, why in REASONS.items():
        assert key in set(_steps()), key
        assert isinstance(why, str) and len(why) > 20, key


def test_counts():
    steps = list(_steps())
    table = all_adapters()
    refused = sum(1 for s in steps if isinstance(table[s].up, str) and isinstance(table[s].down, str))
    assert len(steps) >= 430
    assert refused == len(REASONS)
