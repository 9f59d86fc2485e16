"""The toolkit of shape & type rules: symbolic dims and the rule context.

A dim in a rule is an ``int`` (known), a :class:`Sym` (a symbolic expression
such as ``N``, ``seq + 1``, ``2*N``, ``N*seq``) or ``None`` (unknown).
:class:`Sym` is a polynomial with integer coefficients over named symbols, kept
in a canonical form, so ``(seq + 1) - 1 == seq`` and ``N*2 == 2*N``; a
polynomial without symbols is returned as a plain ``int``.  Division that is
not exact, and anything non-polynomial, becomes a new opaque atom named after
the expression (``floor(N/2)``), which still compares equal to itself.

In a model, a symbolic dim is stored as its text (``"seq + 1"``);
:func:`sym` reads that text back into the same expression.

The arithmetic helpers :func:`add`, :func:`sub`, :func:`mul`, :func:`floordiv`,
:func:`ceildiv`, :func:`mod`, :func:`prod` accept ``None`` and return ``None``
when any operand is unknown, so rules need no special cases.
"""

from __future__ import annotations

import math
import re
from typing import Any, Iterable, Sequence, Union

__all__ = ["Dim", "InferenceContext", "Sym", "add", "broadcast", "ceildiv", "dim_text", "dims_equal",
           "floordiv", "is_known", "mod", "mul", "prod", "sub", "sym"]


class Sym:
    """A symbolic dim: ``{monomial: coefficient}``, a monomial being a sorted
    tuple of atom names (repeated for powers); ``()`` is the constant term."""

    __slots__ = ("terms", "_hash")

    def __init__(self, terms: dict[tuple[str, ...], int]) -> None:
        self.terms = {m: c for m, c in terms.items() if c}
        self._hash = hash(frozenset(self.terms.items()))

    @staticmethod
    def make(terms: dict[tuple[str, ...], int]) -> Dim:
        terms = {m: c for m, c in terms.items() if c}
        if not terms:
            return 0
        if set(terms) == {()}:
            return terms[()]
        return Sym(terms)

    @staticmethod
    def atom(name: str) -> Sym:
        return Sym({(name,): 1})

    # arithmetic -------------------------------------------------------
    @staticmethod
    def _terms(x: Any) -> dict[tuple[str, ...], int]:
        if isinstance(x, Sym):
            return x.terms
        if isinstance(x, int):
            return {(): x} if x else {}
        raise TypeError(f"not a dim: {x!r}")

    def __add__(self, other: Any) -> Dim:
        if not isinstance(other, (int, Sym)):
            return NotImplemented
        t = dict(self.terms)
        for m, c in Sym._terms(other).items():
            t[m] = t.get(m, 0) + c
        return Sym.make(t)

    __radd__ = __add__

    def __neg__(self) -> Dim:
        return Sym.make({m: -c for m, c in self.terms.items()})

    def __sub__(self, other: Any) -> Dim:
        if not isinstance(other, (int, Sym)):
            return NotImplemented
        return self + (-other)

    def __rsub__(self, other: Any) -> Dim:
        if not isinstance(other, (int, Sym)):
            return NotImplemented
        return (-self) + other

    def __mul__(self, other: Any) -> Dim:
        if not isinstance(other, (int, Sym)):
            return NotImplemented
        t: dict[tuple[str, ...], int] = {}
        for m1, c1 in self.terms.items():
            for m2, c2 in Sym._terms(other).items():
                m = tuple(sorted(m1 + m2))
                t[m] = t.get(m, 0) + c1 * c2
        return Sym.make(t)

    __rmul__ = __mul__

    def __floordiv__(self, other: Any) -> Dim:
        if isinstance(other, int) and other != 0:
            if all(c % other == 0 for c in self.terms.values()):
                return Sym.make({m: c // other for m, c in self.terms.items()})
            g = math.gcd(other, *self.terms.values())
            if g > 1:  # floor(2*seq/4) is floor(seq/2)
                return Sym.make({m: c // g for m, c in self.terms.items()}) // (other // g)
            return Sym.atom(f"floor({self._group()}/{other})")
        if isinstance(other, Sym):
            q = _divide(self, other)
            if q is not None:
                return q
            return Sym.atom(f"floor({self._group()}/{other._group()})")
        return NotImplemented

    def __mod__(self, other: Any) -> Dim:
        if isinstance(other, int) and other != 0:
            if all(c % other == 0 for c in self.terms.values()):
                return 0
            return Sym.atom(f"mod({self}, {other})")
        if isinstance(other, Sym) and _divide(self, other) is not None:
            return 0
        return Sym.atom(f"mod({self}, {other})")

    def _group(self) -> str:
        """The text, in parentheses unless it is one product."""
        return str(self) if len(self.terms) == 1 else f"({self})"

    # comparison --------------------------------------------------------
    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sym) and self.terms == other.terms

    def __hash__(self) -> int:
        return self._hash

    def __str__(self) -> str:
        def mono(m: tuple[str, ...], c: int) -> str:
            parts = []
            i = 0
            while i < len(m):
                j = i
                while j < len(m) and m[j] == m[i]:
                    j += 1
                name = m[i] if _IDENT.fullmatch(m[i]) or _CALL.fullmatch(m[i]) else f"({m[i]})"
                parts.append(name if j - i == 1 else f"{name}^{j - i}")
                i = j
            body = "*".join(parts)
            if not m:
                return str(abs(c))
            return body if abs(c) == 1 else f"{abs(c)}*{body}"
        order = sorted(self.terms, key=lambda m: (-len(m), m))  # highest degree first, constant last
        out = ""
        for k, m in enumerate(order):
            c = self.terms[m]
            s = mono(m, c)
            if k == 0:
                out = ("-" if c < 0 else "") + s
            else:
                out += (" - " if c < 0 else " + ") + s
        return out

    def __repr__(self) -> str:
        return f"Sym({str(self)!r})"

    @property
    def is_atom(self) -> bool:
        return len(self.terms) == 1 and next(iter(self.terms.items()))[1] == 1 \
            and len(next(iter(self.terms))) == 1


Dim = Union[int, Sym, None]

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_.:/\-]*")
_CALL = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\(.*\)")  # an opaque atom such as floor(seq/2)
_TOKEN = re.compile(r"\s*(?:(\d+)|([A-Za-z_][A-Za-z0-9_.:/\-]*)|(\*\*|[-+*^()]))")


def _divide(a: Sym, b: Sym) -> Dim | None:
    """a / b when b is a single monomial dividing every term of a exactly."""
    if len(b.terms) != 1:
        return a_if_equal(a, b)
    (bm, bc), = b.terms.items()
    out: dict[tuple[str, ...], int] = {}
    for m, c in a.terms.items():
        rest = list(m)
        for x in bm:
            if x not in rest:
                return None
            rest.remove(x)
        if c % bc:
            return None
        out[tuple(rest)] = out.get(tuple(rest), 0) + c // bc
    return Sym.make(out)


def a_if_equal(a: Sym, b: Sym) -> Dim | None:
    return 1 if a == b else None


def sym(d: Any) -> Dim:
    """A rule dim from a model dim: int stays, None stays, a str is parsed as an
    expression of symbols (``"seq + 1"``) or else kept whole as one symbol."""
    if d is None or isinstance(d, (int, Sym)):
        return d
    if not isinstance(d, str):
        raise TypeError(f"not a dim: {d!r}")
    if not d:
        return None
    if _IDENT.fullmatch(d):
        return Sym.atom(d)
    try:
        return _Parser(d).parse()
    except ValueError:
        return Sym.atom(d)


class _Parser:
    """Sums of products of integers and names, with parentheses and ``^`` powers."""

    def __init__(self, text: str) -> None:
        self.toks: list[str] = []
        pos = 0
        text = text.rstrip()
        while pos < len(text):
            m = _TOKEN.match(text, pos)
            if not m:
                raise ValueError(text)
            tok, pos = m.group(m.lastindex), m.end()
            if m.lastindex == 2 and text.startswith("(", pos):
                # a call such as floor(seq/2): one opaque atom, kept verbatim
                depth, end = 0, pos
                while end < len(text):
                    depth += {"(": 1, ")": -1}.get(text[end], 0)
                    end += 1
                    if depth == 0:
                        break
                if depth:
                    raise ValueError(text)
                tok, pos = text[m.start(2):end], end
            self.toks.append(tok)
        self.i = 0

    def peek(self) -> str | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self) -> str:
        t = self.peek()
        if t is None:
            raise ValueError("end")
        self.i += 1
        return t

    def parse(self) -> Dim:
        v = self.expr()
        if self.peek() is not None:
            raise ValueError("trailing")
        return v

    def expr(self) -> Dim:
        sign = 1
        if self.peek() == "-":
            self.take()
            sign = -1
        v = self.term() * sign
        while self.peek() in ("+", "-"):
            op = self.take()
            t = self.term()
            v = v + t if op == "+" else v - t
        return v

    def term(self) -> Dim:
        v = self.power()
        while self.peek() == "*":
            self.take()
            v = v * self.power()
        return v

    def power(self) -> Dim:
        v = self.atom()
        if self.peek() in ("^", "**"):
            self.take()
            n = self.take()
            if not n.isdigit():
                raise ValueError("power")
            r: Dim = 1
            for _ in range(int(n)):
                r = r * v
            v = r
        return v

    def atom(self) -> Dim:
        t = self.take()
        if t.isdigit():
            return int(t)
        if t == "(":
            v = self.expr()
            if self.take() != ")":
                raise ValueError(")")
            return v
        if _IDENT.fullmatch(t) or _CALL.fullmatch(t):
            return Sym.atom(t)
        raise ValueError(t)


def dim_text(d: Dim) -> int | str | None:
    """A model dim from a rule dim: Sym -> its text."""
    return str(d) if isinstance(d, Sym) else d


def is_known(d: Dim) -> bool:
    """True for an int or a symbolic expression (not None)."""
    return d is not None


def _lift(f):
    def g(a: Dim, b: Dim) -> Dim:
        if a is None or b is None:
            return None
        return f(a, b)
    g.__name__ = f.__name__
    return g


add = _lift(lambda a, b: a + b)
sub = _lift(lambda a, b: a - b)
mul = _lift(lambda a, b: a * b)


@_lift
def floordiv(a: Dim, b: Dim) -> Dim:
    if isinstance(a, int) and isinstance(b, int):
        return a // b if b else None
    return a // b


@_lift
def ceildiv(a: Dim, b: Dim) -> Dim:
    if isinstance(a, int) and isinstance(b, int):
        return -(-a // b) if b else None
    r = floordiv(a + b - 1, b)
    return r


@_lift
def mod(a: Dim, b: Dim) -> Dim:
    if isinstance(a, int) and isinstance(b, int):
        return a % b if b else None
    if isinstance(a, int):
        return Sym.atom(f"mod({a}, {b})")
    return a % b


def prod(dims: Iterable[Dim]) -> Dim:
    r: Dim = 1
    for d in dims:
        r = mul(r, d)
    return r


def dims_equal(a: Dim, b: Dim) -> bool | None:
    """True / False when decidable, None when either is unknown or when two
    different symbolic expressions might still be equal at run time."""
    if a is None or b is None:
        return None
    if a == b:
        return True
    if isinstance(a, int) and isinstance(b, int):
        return False
    return None


def broadcast(*shapes: Sequence[Dim] | None) -> tuple[Dim, ...] | None:
    """Multidirectional (numpy) broadcasting of shapes of rule dims; None when a
    rank is unknown.  Raises ValueError when two known dims cannot broadcast.

    Per axis: a known size other than 1 wins (every other known size must be 1
    or the same); else one symbolic expression, when every other dim is 1 or that
    same expression; else all ones give 1; anything else (an unknown dim beside
    a symbol, two different symbols) is unknown.
    """
    if any(s is None for s in shapes):
        return None
    rank = max((len(s) for s in shapes), default=0)
    out: list[Dim] = []
    for k in range(rank):
        size: Dim = 1
        for s in shapes:
            j = len(s) - rank + k
            if j < 0:
                continue
            d = s[j]
            if d == 1 or d == size:
                continue
            if isinstance(d, int) and isinstance(size, int) and size != 1:
                raise ValueError(f"dims {size} and {d} cannot broadcast")
            if isinstance(d, int):
                size = d                       # a known size beats a symbol or an unknown
            elif not isinstance(size, int) or size == 1:
                # d is a symbol or unknown: it stands if size is still 1, else they differ
                size = d if size == 1 else None
        out.append(size)
    return tuple(out)


class InferenceContext:
    """What a shape rule sees of one node.  The driver in :mod:`onnxkit.infer`
    implements it; rules only call these methods.

    Reading (``i`` = input position; an absent optional input reads as None):
      ``n_inputs``, ``n_outputs``, ``has_input(i)``, ``opset`` (the node's
      domain's version), ``node`` (the IR Node), ``attr(name, default=None)``
      (the Python value, as kernels get it; for GRAPH the IR Graph),
      ``input_type(i)`` (an :class:`onnxkit.ir.Type` or None),
      ``input_dtype(i)`` (a DataType or None), ``input_shape(i)`` (tuple of
      rule dims, or None when the rank is unknown), ``input_rank(i)``,
      ``input_value(i)`` (numpy array when the input's value is known at
      inference time: initializers, Constant, and results the driver could
      compute), ``input_dims(i)`` (for a 0-d / 1-d integer tensor: its
      elements as rule dims -- data propagation through shape computations --
      else None).

    Writing (``i`` = output position):
      ``set_output(i, dtype, shape)`` (shape: iterable of rule dims, or None
      for unknown rank; a tensor type), ``set_output_type(i, ir_type)`` (any
      type: sequences, optionals, maps; IR types hold model dims, so build a
      tensor type from rule dims with :func:`tensor_type`), ``set_output_value(i, array)`` (a
      known constant), ``set_output_dims(i, dims)`` (the elements of a 0-d /
      1-d integer output as rule dims; for 0-d give a one-element list).

    Failing: ``fail(message)`` raises the driver's error naming the node.
    ``infer_subgraph(graph, input_types) -> list of output types`` infers a
    GRAPH attribute's body given the types of its inputs.
    """

    n_inputs: int
    n_outputs: int
    opset: int
    node: Any

    def has_input(self, i: int) -> bool: raise NotImplementedError
    def attr(self, name: str, default: Any = None) -> Any: raise NotImplementedError
    def input_type(self, i: int) -> Any: raise NotImplementedError
    def input_dtype(self, i: int) -> Any: raise NotImplementedError
    def input_shape(self, i: int) -> tuple[Dim, ...] | None: raise NotImplementedError
    def input_rank(self, i: int) -> int | None: raise NotImplementedError
    def input_value(self, i: int) -> Any: raise NotImplementedError
    def input_dims(self, i: int) -> list[Dim] | None: raise NotImplementedError
    def set_output(self, i: int, dtype: Any, shape: Iterable[Dim] | None) -> None: raise NotImplementedError
    def set_output_type(self, i: int, type: Any) -> None: raise NotImplementedError
    def set_output_value(self, i: int, value: Any) -> None: raise NotImplementedError
    def set_output_dims(self, i: int, dims: Sequence[Dim]) -> None: raise NotImplementedError
    def fail(self, message: str) -> None: raise NotImplementedError
    def infer_subgraph(self, graph: Any, input_types: Sequence[Any]) -> list[Any]: raise NotImplementedError


def tensor_type(dtype: Any, dims: Iterable[Dim] | None):
    """An IR :class:`~onnxkit.ir.TensorType` from rule dims (symbols written as
    their text), e.g. for a sequence's element type in ``set_output_type``."""
    from ..ir import TensorType
    return TensorType(dtype, None if dims is None else [dim_text(d) for d in dims])


def normalize_axis(axis: int, rank: int) -> int:
    """A non-negative axis (raises ValueError when out of range)."""
    if not -rank <= axis < max(rank, 1):
        raise ValueError(f"axis {axis} out of range for rank {rank}")
    return axis + rank if axis < 0 else axis


def norm_axes(axes: Sequence[int], rank: int, ctx: InferenceContext | None = None) -> list[int] | None:
    """``axes`` made non-negative, in the order given.  One out of range
    (``-rank <= axis < rank``) raises ValueError, or, given a shape rule's
    ``ctx``, fails the node there and returns None."""
    out = []
    for a in axes:
        a = int(a)
        if not -rank <= a < rank:
            if ctx is None:
                raise ValueError(f"axis {a} is out of range for rank {rank}")
            ctx.fail(f"axis {a} is out of range for rank {rank}")
            return None
        out.append(a + rank if a < 0 else a)
    return out


def norm_axis(axis: int, rank: int, ctx: InferenceContext | None = None) -> int | None:
    """One axis through :func:`norm_axes`."""
    r = norm_axes([axis], rank, ctx)
    return None if r is None else r[0]


__all__ += ["norm_axes", "norm_axis", "normalize_axis", "tensor_type"]
_ = math  # (kept for rules that import it from here)


# ---------------------------------------------------------------- common rules
def same_as_input(ctx: InferenceContext, i: int = 0, out: int = 0) -> None:
    """Output ``out`` has input ``i``'s dtype and shape (unary elementwise ops)."""
    ctx.set_output(out, ctx.input_dtype(i), ctx.input_shape(i))


def elementwise(ctx: InferenceContext, dtype: Any = None) -> None:
    """Output 0 is the broadcast of every present input; its dtype is ``dtype``
    or input 0's (``dtype`` given for comparisons: BOOL)."""
    shapes = [ctx.input_shape(i) for i in range(ctx.n_inputs) if ctx.has_input(i)]
    try:
        shape = broadcast(*shapes)
    except ValueError as e:
        ctx.fail(f"inputs cannot broadcast: {e} (shapes {[_fmt(s) for s in shapes]})")
        return
    ctx.set_output(0, dtype if dtype is not None else ctx.input_dtype(0), shape)


def _fmt(shape: Sequence[Dim] | None) -> str:
    if shape is None:
        return "?"
    return "[" + ", ".join("?" if d is None else str(d) for d in shape) + "]"


__all__ += ["elementwise", "same_as_input"]
