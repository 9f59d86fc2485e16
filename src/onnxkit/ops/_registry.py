"""Where operators register their kernels and shape rules.

An operator family lives in one module of :mod:`onnxkit.ops`; each op there
registers, with a decorator naming the op and the opset version it
implements, a numpy kernel and/or a shape-inference rule::

    @kernel("Relu", 6)
    def relu(x):
        return np.maximum(x, 0).astype(x.dtype)

    @kernel("LeakyRelu", 6)
    def leaky_relu(x, *, alpha=0.01):          # attribute = keyword, default = the spec's
        ...

    @kernel("If", 1, context=True)
    def if_(ctx, cond, *, then_branch, else_branch):
        return tuple((then_branch if cond else else_branch)())

    @shape("Relu", 6)
    def relu_shape(ctx):                       # ctx: onnxkit.ops._shape.InferenceContext
        ctx.set_output(0, ctx.input_dtype(0), ctx.input_shape(0))

    @fast("Relu", arity=1)                     # the runtime's direct form (float32/64 only)
    def relu_fast(x, out=None):
        return np.maximum(x, 0, out=out)

Lookup (:func:`find_kernel`, :func:`find_shape`) takes the registration with
the highest version <= the model's opset for that domain.  A version
registered once covers every later opset until another registration replaces
it, so only versions whose semantics changed need their own entry.

Kernel calling convention:

* inputs come positionally as numpy arrays (0-d arrays for scalars); an
  absent optional input is ``None``; a sequence is a Python ``list`` of
  arrays; an optional value that is empty is ``None``; a map is a ``dict``.
  Trailing absent inputs are not passed at all, so the kernel's own defaults
  (``def f(x, axes=None)``) apply.
* attributes come as keyword arguments: int, float, str (decoded UTF-8;
  ``bytes`` when not valid UTF-8), lists of those, numpy arrays for TENSOR /
  TENSORS, :class:`onnxkit.ir.Type` for TYPE_PROTO, and for GRAPH a callable
  subgraph (``branch(*inputs) -> list of outputs``; its ``.graph`` is the IR
  graph).  Attributes the node does not set are not passed: the kernel's
  keyword defaults are the spec's defaults.
* with ``context=True`` the first argument is a :class:`KernelContext`
  (opset, number of outputs asked for, the node, a random generator).
* return one array for one output, or a tuple with one entry per output
  (``None`` for an output that is not produced).  A list is one sequence
  value, never several outputs.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Any, Callable

from ..ir._domain import normalize_domain

__all__ = ["FastForm", "KernelContext", "Registration", "fast", "find_fast", "find_kernel", "find_shape", "kernel",
           "registered_fast", "registered_ops", "shape"]


@dataclass(frozen=True, slots=True)
class Registration:
    op_type: str
    domain: str
    since: int
    fn: Callable[..., Any]
    context: bool = False


# (domain, op_type) -> (sorted versions, registrations)
_KERNELS: dict[tuple[str, str], tuple[list[int], list[Registration]]] = {}
_SHAPES: dict[tuple[str, str], tuple[list[int], list[Registration]]] = {}


def _register(table: dict, op_type: str, since: int, domain: str, fn: Callable, context: bool) -> None:
    domain = normalize_domain(domain)
    versions, regs = table.setdefault((domain, op_type), ([], []))
    i = bisect.bisect_left(versions, since)
    if i < len(versions) and versions[i] == since:
        raise ValueError(f"{domain or 'ai.onnx'}::{op_type} version {since} registered twice "
                         f"({regs[i].fn.__module__}.{regs[i].fn.__qualname__} and "
                         f"{fn.__module__}.{fn.__qualname__})")
    versions.insert(i, since)
    regs.insert(i, Registration(op_type, domain, since, fn, context))


def kernel(op_type: str, since: int = 1, *, domain: str = "", context: bool = False):
    """Register the decorated function as the kernel of ``op_type`` from opset ``since``."""
    def deco(fn: Callable) -> Callable:
        _register(_KERNELS, op_type, since, domain, fn, context)
        return fn
    return deco


def shape(op_type: str, since: int = 1, *, domain: str = ""):
    """Register the decorated ``fn(ctx)`` as the shape & type rule of ``op_type``."""
    def deco(fn: Callable) -> Callable:
        _register(_SHAPES, op_type, since, domain, fn, False)
        return fn
    return deco


@dataclass(frozen=True, slots=True)
class FastForm:
    """An element-wise op's direct form: ``fn(*operands, out=None)``, exactly the
    kernel's result for float32/float64 operands of one dtype (no attributes,
    opset >= ``since``), written into ``out`` when given."""
    op_type: str
    domain: str
    since: int
    arity: int
    fn: Callable[..., Any]
    commutative: bool = False


_FAST: dict[tuple[str, str], FastForm] = {}


def fast(op_type: str, *, arity: int, since: int = 7, commutative: bool = False, domain: str = ""):
    """Register the decorated ``fn(*operands, out=None)`` as the fast form of
    ``op_type`` (see :class:`FastForm`), beside its kernel."""
    def deco(fn: Callable) -> Callable:
        key = (normalize_domain(domain), op_type)
        if key in _FAST:
            raise ValueError(f"{domain or 'ai.onnx'}::{op_type}: fast form registered twice")
        _FAST[key] = FastForm(op_type, key[0], since, arity, fn, commutative)
        return fn
    return deco


def find_fast(op_type: str, opset: int, domain: str = "") -> FastForm | None:
    """The fast form of ``op_type`` in force at ``opset``, if it has one."""
    _load_all()
    f = _FAST.get((normalize_domain(domain), op_type))
    return f if f is not None and opset >= f.since else None


def registered_fast() -> dict[tuple[str, str], FastForm]:
    """{(domain, op_type): FastForm} of every op with a fast form."""
    _load_all()
    return dict(_FAST)


def _find(table: dict, op_type: str, opset: int, domain: str) -> Registration | None:
    _load_all()
    entry = table.get((normalize_domain(domain), op_type))
    if entry is None:
        return None
    i = bisect.bisect_right(entry[0], opset)
    return entry[1][i - 1] if i else None


def find_kernel(op_type: str, opset: int, domain: str = "") -> Registration | None:
    """The kernel in force at ``opset`` (highest registered version <= opset)."""
    return _find(_KERNELS, op_type, opset, domain)


def find_shape(op_type: str, opset: int, domain: str = "") -> Registration | None:
    """The shape rule in force at ``opset``."""
    return _find(_SHAPES, op_type, opset, domain)


def registered_ops(what: str = "kernel") -> dict[tuple[str, str], list[int]]:
    """{(domain, op_type): [versions]} of the kernels (or ``"shape"`` rules)."""
    _load_all()
    table = _KERNELS if what == "kernel" else _SHAPES
    return {k: list(v[0]) for k, v in table.items()}


class KernelContext:
    """What a ``context=True`` kernel may ask of the runtime."""

    __slots__ = ("node", "opset", "opsets", "n_outputs", "rng")

    def __init__(self, node: Any, opsets: dict[str, int], n_outputs: int, rng: Any = None) -> None:
        self.node = node                # the IR Node
        self.opsets = opsets            # {domain: version} in force
        self.opset = opsets.get(getattr(node, "domain", "") or "", opsets.get("", 0))
        self.n_outputs = n_outputs      # how many outputs the node declares (incl. omitted ones)
        self.rng = rng                  # numpy Generator for random ops without a seed

    def output_present(self, i: int) -> bool:
        """Whether output ``i`` is wanted (declared with a non-empty name)."""
        outs = self.node.outputs
        return i < len(outs) and bool(outs[i].name)


_loaded = False


def _load_all() -> None:
    """Import every operator module once, so their decorators have run.  A
    module that fails to import is an error (never a silent "no kernel")."""
    global _loaded
    if _loaded:
        return
    _loaded = True              # set first: modules being imported may look ops up
    import importlib
    import pkgutil
    from . import __path__ as ops_path
    try:
        for info in pkgutil.iter_modules(ops_path):
            if not info.name.startswith("_"):
                importlib.import_module(f"{__package__}.{info.name}")
    except Exception:
        _loaded = False
        raise
