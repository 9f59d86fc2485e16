"""The built-in conversion rules, one module per family of aten ops."""

from __future__ import annotations

from . import creation, elementwise, index, nn, reduce, rnn, shape, sym  # noqa: F401  (registration)
