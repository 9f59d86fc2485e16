"""The conversion-rule table: ONNX op -> a function of torch tensors.

A rule is a plain function run inside the imported module's ``forward``; it
takes the node's inputs positionally as torch tensors (None for an absent
optional input, lists for sequences) and the attributes as keyword arguments
whose defaults are the spec's, like onnxkit's numpy kernels::

    @rule("LeakyRelu", 6)
    def leaky_relu(x, *, alpha=0.01):
        return torch.nn.functional.leaky_relu(x, alpha)

Registration options:

* ``const``: input positions that the rule prefers as Python values (shapes,
  axes, pads): where such an input is a constant of the model (an
  initializer or a Constant node's output) it is passed as a Python scalar or
  nested list baked into the module; otherwise as the tensor computed at run
  time (so shape computations keep working at every input size).  Rules read
  them through :func:`onnxkit.to_torch._rules._common.ints`.
* ``n_outputs``: the rule is passed ``_n_outputs=`` (how many outputs the
  node declares; Split, MaxPool's indices, Dropout's mask...).
* ``device``: the rule is passed ``_anchor=``, an empty buffer of the module
  (it follows ``module.to(device)``), for ops that create tensors from
  Python values only (ConstantOfShape with a constant shape).
* ``dtype``: the rule is passed ``_dtype=``, the torch dtype of the node's
  first output where the import knows it (else None), for rules whose
  Python-value inputs carry no dtype (Range on sizes).
* ``when``: ``when(attrs, node) -> bool``, decided at import time: where it is
  False the node runs the numpy kernel instead (an attribute combination
  the rule does not cover).

Lookup (:func:`find_rule`) takes the highest version <= the model's opset for
the node's domain, as the kernel registry does.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Any, Callable

from ..ir._domain import normalize_domain

__all__ = ["Rule", "find_rule", "registered_rules", "rule"]


@dataclass(frozen=True, slots=True)
class Rule:
    op_type: str
    domain: str
    since: int
    fn: Callable[..., Any]
    const: tuple[int, ...] = ()
    n_outputs: bool = False
    device: bool = False
    when: Callable[[dict, Any], bool] | None = None
    dtype: bool = False


_RULES: dict[tuple[str, str], tuple[list[int], list[Rule]]] = {}


def rule(op_type: str, since: int = 1, *, domain: str = "", const: tuple[int, ...] = (),
         n_outputs: bool = False, device: bool = False, when: Callable[[dict, Any], bool] | None = None,
         dtype: bool = False, fn: Callable | None = None):
    """Register the decorated function (or ``fn``) as the torch form of
    ``op_type`` from opset ``since`` on."""
    def deco(f: Callable) -> Callable:
        d = normalize_domain(domain)
        versions, rules = _RULES.setdefault((d, op_type), ([], []))
        i = bisect.bisect_left(versions, since)
        if i < len(versions) and versions[i] == since:
            raise ValueError(f"to_torch rule {d or 'ai.onnx'}::{op_type} version {since} registered twice")
        versions.insert(i, since)
        rules.insert(i, Rule(op_type, d, since, f, tuple(const), n_outputs, device, when, dtype))
        return f
    return deco(fn) if fn is not None else deco


def find_rule(op_type: str, opset: int, domain: str = "") -> Rule | None:
    """The rule in force at ``opset`` (highest registered version <= opset)."""
    _load_all()
    entry = _RULES.get((normalize_domain(domain), op_type))
    if entry is None:
        return None
    i = bisect.bisect_right(entry[0], opset)
    return entry[1][i - 1] if i else None


def registered_rules() -> dict[tuple[str, str], list[int]]:
    """{(domain, op_type): [versions]} of every rule."""
    _load_all()
    return {k: list(v[0]) for k, v in _RULES.items()}


_loaded = False


def _load_all() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    from ._rules import (attention, elementwise, nn, norm, recurrent, reduce, sequence,  # noqa: F401
                         tensor)             # (their decorators register the rules)
