"""Every kernel's keyword defaults are the spec's attribute defaults.

An attribute a node does not set is not passed to the kernel, so the kernel's
keyword default *is* the attribute's default (``ops/_registry.py``).  For each
registered kernel (all domains, all versions) and each schema version it
serves (from its own version up to the op's next registration), every
parameter with a default that names an attribute of that schema must hold the
schema's default: floats approximately, lists and tuples alike, bytes as
UTF-8 text, and None where the schema gives no default (an optional attribute
without one, or a required attribute).  Where a kernel's default differs on
purpose, it is listed in :data:`EXCLUDED` with the reason.
"""

from __future__ import annotations

import inspect
import math
from typing import Any, Iterator

import pytest

from onnxkit.defs import OpSchema, get_schema, schema_versions
from onnxkit.ops import _registry

#: (domain, op, schema since_version, attribute) -> why the kernel's default differs
EXCLUDED: dict[tuple[str, str, int, str], str] = {
    ("", "Concat", 1, "axis"):
        "Concat-1's schema gives no default; its documentation says 1",
    ("", "Split", 1, "axis"):
        "Split-1's schema gives no default; later versions' default, 0, is what it meant",
    ("", "GRU", 1, "direction"):
        "GRU-1's schema spells its default 'foward' (a typo in onnx); the kernel's 'forward' "
        "is what it means",
    ("", "GridSample", 20, "mode"):
        "one kernel serves opsets 16 and 20+: opset 20 renamed 'bilinear' to 'linear'; the "
        "kernel takes both names, so its 'bilinear' is opset 20's 'linear'",
    ("", "GridSample", 22, "mode"): "as for GridSample-20",
    ("", "Reshape", 1, "shape"):
        "no default in the schema; the kernel's () is an empty target shape",
    ("", "SequenceEmpty", 11, "dtype"):
        "no default in the schema, whose documentation says float (1) when it is not given",
    ("", "StringNormalizer", 10, "locale"):
        "no default in the schema (it is left to the implementation); '' is Python's case rules",
    ("", "StringSplit", 20, "delimiter"):
        "no default in the schema; '' splits at runs of whitespace, as the spec says for a "
        "missing or empty delimiter",
    ("", "StringSplit", 20, "maxsplit"):
        "no default in the schema; -1 is 'no limit', as the spec says for a missing maxsplit",
    ("", "RegexFullMatch", 20, "pattern"):
        "no default in the schema; the kernel's '' matches only empty strings",
    ("", "RotaryEmbedding", 23, "num_heads"):
        "no default in the schema; 0 means 'take it from the 4-D input' (it must be given "
        "for a 3-D one)",
}

#: ops of onnxkit's own domain that are a spec op again: {(domain, op): (spec op, version)}
SPEC_TWINS: dict[tuple[str, str], tuple[str, int]] = {
    ("ai.onnxkit", "LayerNormalization"): ("LayerNormalization", 17),
    ("ai.onnxkit", "Gelu"): ("Gelu", 20),
    ("ai.onnxkit", "Attention"): ("Attention", 23),
    ("ai.onnxkit", "NhwcConv"): ("Conv", 11),         # Conv's attributes, channels last
    ("ai.onnxkit", "NhwcMaxPool"): ("MaxPool", 12),   # MaxPool's attributes, channels last
}

#: kernels with no schema to compare with, and why
NO_SCHEMA: dict[tuple[str, str], str] = {
    ("ai.onnxkit", "FusedMatMul"): "onnxkit's own fusion (MatMul, bias, activation); no spec op",
}


def _served_schemas(domain: str, op: str, since: int, until: int | None) -> list[OpSchema]:
    """The schemas in force at the opsets a kernel registered at ``since`` serves."""
    twin = SPEC_TWINS.get((domain, op))
    if twin is not None:
        return [get_schema(twin[0], twin[1])]
    first = get_schema(op, since, domain)
    later = [s for s in schema_versions(op, domain)
             if s.since_version > since and (until is None or s.since_version < until)]
    return ([first] if first is not None else []) + later


def _cases() -> Iterator[tuple[str, str, int, int | None, Any]]:
    for (domain, op), versions in sorted(_registry.registered_ops().items()):
        for i, since in enumerate(versions):
            reg = _registry.find_kernel(op, since, domain)
            if not reg.fn.__module__.startswith("onnxkit."):
                continue    # registered by another test in this process, not one of onnxkit's kernels
            until = versions[i + 1] if i + 1 < len(versions) else None
            yield domain, op, since, until, reg.fn


def _same(kernel_default: Any, spec_default: Any) -> bool:
    if spec_default is None:
        return kernel_default is None
    if isinstance(spec_default, (tuple, list)):
        return isinstance(kernel_default, (tuple, list)) and len(kernel_default) == len(spec_default) \
            and all(_same(k, s) for k, s in zip(kernel_default, spec_default))
    if isinstance(spec_default, bytes):
        spec_default = spec_default.decode("utf-8")
    if isinstance(spec_default, str):
        if isinstance(kernel_default, bytes):
            kernel_default = kernel_default.decode("utf-8")
        return isinstance(kernel_default, str) and kernel_default == spec_default
    if isinstance(kernel_default, bool) or not isinstance(kernel_default, (int, float)):
        return False
    if isinstance(spec_default, float):
        if math.isnan(spec_default):
            return math.isnan(kernel_default)
        return math.isclose(kernel_default, spec_default, rel_tol=1e-6, abs_tol=1e-12)
    return isinstance(kernel_default, int) and kernel_default == spec_default


def test_kernel_defaults_are_the_spec_defaults():
    wrong, used = [], set()
    checked = 0
    for domain, op, since, until, fn in _cases():
        schemas = _served_schemas(domain, op, since, until)
        if not schemas:
            assert (domain, op) in NO_SCHEMA, f"{domain}::{op} has no schema; list it in NO_SCHEMA"
            continue
        params = inspect.signature(fn).parameters.values()
        for schema in schemas:
            inputs = {p.name for p in schema.inputs}
            for p in params:
                attr = schema.attributes.get(p.name)
                if attr is None or p.name in inputs or p.default is inspect.Parameter.empty:
                    continue
                checked += 1
                if _same(p.default, attr.default):
                    continue
                key = (domain, op, schema.since_version, p.name)
                if key in EXCLUDED:
                    used.add(key)
                    continue
                wrong.append(f"{domain or 'ai.onnx'}::{op} (kernel {fn.__module__}.{fn.__qualname__} "
                             f"registered at {since}) {p.name}={p.default!r}, but {op}-"
                             f"{schema.since_version}'s default is {attr.default!r}")
    assert checked > 1000
    assert wrong == []
    assert sorted(set(EXCLUDED) - used) == [], "exclusions that no longer differ: remove them"


def test_exclusions_name_real_attributes():
    for (domain, op, version, name), reason in EXCLUDED.items():
        schema = get_schema(op, version, domain)
        assert schema is not None and schema.since_version == version, (op, version)
        assert name in schema.attributes and reason


@pytest.mark.parametrize("spec, kernel, same", [
    (1.0, 1, True), (1e-5, 9.999999747378752e-06, True), (0.5, 0.6, False),
    (float("nan"), float("nan"), True),
    (1, 1, True), (1, True, False), (1, 1.5, False), ((1, 2), [1, 2], True), ((1, 2), (1,), False),
    (b"abc", "abc", True), ("abc", b"abc", True), ("a", "b", False), (None, None, True), (None, 0, False),
    (("Tanh", "Tanh"), ("Tanh", "Tanh"), True), (0, None, False),
])
def test_comparison(spec, kernel, same):
    assert _same(kernel, spec) is same
