"""Decisions the user's code takes in Python on values that are not tensors:
symbolic sizes (``if x.size(0) == 1:``, ``range(n)``) and ``.item()`` values.

:func:`sym_hooks` patches, for the time of one trace, the three methods of
torch's ``SymNode`` that ``bool()``, ``int()``/``range()`` and ``float()`` of a
SymBool/SymInt/SymFloat call, so that when the user's code itself (not torch's
shape logic inside an op) reads such a value, the running trace's
``_TraceMode.sym_decision`` decides: a comparison becomes a branch (an ONNX
If on the size, or on the ``.item()`` value), a number read from a size is
recorded as a :class:`SizeDecision` (a run-time check, :mod:`._guards`).

A comparison's other side is traced against the example's sizes (``s0 == 1``
answered True while the example has 3).  That run is right only while torch
decides nothing more from those sizes that would differ on that side:
:func:`can_break` checks each condition torch recorded after it, and a run
that fails the check raises :class:`Unreliable` (its side becomes a run-time
check instead).  The sympy helpers scan small sizes (0 to 64, or more for
larger constants), one dim at a time.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
from typing import Any

import torch

_TORCH_DIR = os.path.dirname(torch.__file__) + os.sep
_HERE = os.path.dirname(os.path.abspath(__file__)) + os.sep
_SKIP = (_TORCH_DIR, _HERE, os.path.dirname(os.__file__) + os.sep + "contextlib.py")


@dataclasses.dataclass
class SizeDecision:
    """A Python decision of the user's code on symbolic sizes: ``expr`` (a sympy
    expression over the input dims' symbols) had ``value`` at trace time; the
    traced graph is right only where it still does."""
    expr: Any
    value: Any          # bool, int or float
    source: str | None


class Unreliable(Exception):
    """A run that took a size decision against the example's sizes and then let
    torch decide more from those sizes: its graph cannot be trusted for the
    sizes that side is for."""

    def __init__(self, loc: str | None) -> None:
        super().__init__(loc)
        self.loc = loc


_SCAN = 64   # sizes scanned when asking where a size condition changes


def example_sizes(env: Any) -> dict:
    """symbol -> the example's size, from a ShapeEnv"""
    got = getattr(env, "backed_var_to_val", None)
    return got if got is not None else env.var_to_val


def eq(expr: Any, value: Any) -> Any:
    import sympy

    return sympy.Eq(expr, value)


def _truth(e: Any, values: dict) -> bool | None:
    import sympy

    try:
        return bool(e.xreplace({k: sympy.Integer(v) for k, v in values.items()}))
    except TypeError:
        return None


def _scan_values(e: Any, hint: int) -> range:
    import sympy

    consts = [abs(int(a)) for a in e.atoms(sympy.Number) if a.is_finite]
    return range(0, max(_SCAN, 2 * hint + 2, 2 * max(consts, default=0) + 2) + 1)


def only_below_two(expr: Any, env: Any, hint: bool) -> bool:
    """Whether ``expr`` has its example outcome at every size >= 2 of each dim it
    reads (the others at the example's sizes): only sizes 0 and 1 take the other side."""
    hints = example_sizes(env)
    base = {s: int(hints[s]) for s in expr.free_symbols if s in hints}
    if len(base) != len(expr.free_symbols):
        return False
    for s in expr.free_symbols:
        for v in _scan_values(expr, base[s]):
            if v >= 2 and _truth(expr, {**base, s: v}) is not hint:
                return False
    return True


def can_break(assumed: Any, later: Any, env: Any) -> bool:
    """Whether a condition torch decided from the example's sizes (``later``) can
    be False at some size where ``assumed`` holds (one dim varied at a time)."""
    hints = example_sizes(env)
    syms = set(assumed.free_symbols)
    if not syms & set(getattr(later, "free_symbols", ())):
        return False
    free = set(assumed.free_symbols) | set(later.free_symbols)
    base = {s: int(hints[s]) for s in free if s in hints}
    if len(base) != len(free):
        return True
    for s in syms:
        for v in _scan_values(later, base[s]):
            vals = {**base, s: v}
            if _truth(assumed, vals) and _truth(later, vals) is not True:
                return True
    return False


def in_library(loc: str | None) -> bool:
    return loc is not None and ("site-packages" in loc or "dist-packages" in loc)


_ACTIVE: list = []     # the _TraceMode of the trace running (the hooks below ask it)
_SYM_FILES = {os.path.join(os.path.dirname(torch.__file__), "__init__.py")}


def user_caller() -> str | None:
    """``file:line in fn`` of the user's code when the symbolic value being read
    was read by it directly (``bool(n == 1)``, ``range(n)``), None when torch
    reads it (an op's shape logic)."""
    f = sys._getframe(2)
    while f is not None and (f.f_code.co_filename in _SYM_FILES
                             or f.f_code.co_filename.endswith("sym_node.py")):
        f = f.f_back
    if f is None:
        return None
    fn = f.f_code.co_filename
    if fn.startswith(_SKIP) or fn.startswith("<frozen"):
        return None
    return f"{fn}:{f.f_lineno} in {f.f_code.co_name}"


@contextlib.contextmanager
def sym_hooks(mode: Any):
    """While one trace runs: ``SymNode.bool_`` / ``int_`` / ``guard_float`` (what
    ``bool()``, ``int()``/``range()`` and ``float()`` of a SymBool/SymInt/SymFloat
    call) ask ``mode`` first when the user's code reads the value."""
    from torch.fx.experimental.sym_node import SymNode

    originals = {"bool_": SymNode.bool_, "int_": SymNode.int_, "guard_float": SymNode.guard_float}

    def make(name: str, kind: str):
        orig = originals[name]

        def hook(self, *args):
            loc = user_caller() if _ACTIVE else None
            if loc is None:
                return orig(self, *args)
            return _ACTIVE[-1].sym_decision(self, loc, kind, lambda n: orig(n, *args))
        return hook

    _ACTIVE.append(mode)
    SymNode.bool_ = make("bool_", "bool")
    SymNode.int_ = make("int_", "int")
    SymNode.guard_float = make("guard_float", "float")
    try:
        yield
    finally:
        _ACTIVE.pop()
        for k, v in originals.items():
            setattr(SymNode, k, v)
