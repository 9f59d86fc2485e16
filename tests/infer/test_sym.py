"""The algebra of symbolic dims (onnxkit.ops._shape)."""

from __future__ import annotations

import pytest

from onnxkit.ops._shape import (Sym, add, broadcast, ceildiv, dim_text, dims_equal, floordiv, mod, mul,
                                prod, sub, sym, tensor_type)

N, S = sym("N"), sym("seq")


def test_canonical_forms():
    assert (S + 1) - 1 == S
    assert N * 2 == 2 * N
    assert N * S == S * N
    assert S - S == 0 and isinstance(S - S, int)
    assert (N + 1) * (N - 1) == N * N - 1
    assert 3 * S - 2 * S == S
    assert hash(N * S) == hash(S * N)


def test_none_propagates():
    assert add(N, None) is None
    assert mul(None, 3) is None
    assert sub(S, S) == 0
    assert prod([N, 2, S]) == 2 * N * S
    assert prod([N, None]) is None
    assert prod([]) == 1


def test_division():
    assert floordiv(2 * N, 2) == N
    assert floordiv(N * S, S) == N
    assert floordiv(7, 2) == 3 and ceildiv(7, 2) == 4
    assert floordiv(4, 0) is None
    assert floordiv(2 * S, 4) == floordiv(S, 2)          # gcd taken out
    assert ceildiv(S, 2) == floordiv(S + 1, 2)
    assert mod(2 * N, 2) == 0
    assert floordiv(S, 2) != S and floordiv(S, 2) == floordiv(S, 2)


@pytest.mark.parametrize("expr", [
    N, S + 1, 2 * N, N * S, S - 1, N * N + 2 * N - 1, floordiv(S, 2), floordiv(S + 1, 2),
    2 * floordiv(S, 2) + 1, mod(S, 3), mod(3, S), ceildiv(S, 4), floordiv(2 * S, N + 1),
    floordiv(S, 2) * N, sym("batch_size") * sym("s0") + 1])
def test_text_round_trip(expr):
    text = dim_text(expr)
    assert isinstance(text, str)
    assert sym(text) == expr, text


def test_text_forms():
    assert dim_text(N * S) == "N*seq"
    assert dim_text(S + 1) == "seq + 1"
    assert dim_text(2 * N) == "2*N"
    assert dim_text(S - 1) == "seq - 1"
    assert dim_text(floordiv(S - 1, 2) + 1) == "floor((seq - 1)/2) + 1"
    assert dim_text(7) == 7 and dim_text(None) is None
    assert str(tensor_type(1, [2 * N, 3, None])) == "float[2*N,3,?]"


def test_parse():
    assert sym("batch") == Sym.atom("batch")
    assert sym("2*N + 3") == 2 * N + 3
    assert sym("(N + 1)*(N - 1)") == N * N - 1
    assert sym("N^2") == N * N
    assert sym("12") == 12
    assert sym("") is None and sym(None) is None and sym(5) == 5
    # names tools write stay one symbol
    assert sym("Addout_dim_0").is_atom and sym("unk__3").is_atom
    assert sym("batch-size").is_atom
    # text that is no expression stays one opaque symbol, equal to itself
    assert sym("a ? b") == sym("a ? b")


def test_dims_equal():
    assert dims_equal(3, 3) is True and dims_equal(3, 4) is False
    assert dims_equal(N, N) is True and dims_equal(N, S) is None
    assert dims_equal(N, None) is None


def test_broadcast():
    assert broadcast((N, 1, S), (1, 4, S)) == (N, 4, S)
    assert broadcast((3,), (N, 1)) == (N, 3)
    assert broadcast((1,), (1,)) == (1,)
    assert broadcast((), (N,)) == (N,)
    assert broadcast((None,), (3,)) == (3,)          # the unknown must be 1 or 3
    assert broadcast((S,), (None,)) == (None,)       # the unknown may be larger than seq (if seq is 1)
    assert broadcast((S,), (N,)) == (None,)
    assert broadcast((S,), (1,), (S,)) == (S,)
    assert broadcast((2,), (S,)) == (2,)
    assert broadcast((2,), None) is None
    with pytest.raises(ValueError):
        broadcast((2,), (3,))
