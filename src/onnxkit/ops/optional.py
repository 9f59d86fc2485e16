"""Optionals: an optional value is its element (a tensor or a sequence) or
``None`` when empty."""

from __future__ import annotations

import numpy as np

from ..errors import RunError
from ..ir import OptionalType, SequenceType, TensorType, Type
from ._registry import kernel, shape

__all__: list[str] = []


@kernel("Optional", 15)
def optional(input=None, *, type=None):
    return input


@kernel("OptionalHasElement", 15)
def optional_has_element(input=None):
    return np.array(input is not None)


@kernel("OptionalGetElement", 15)
def optional_get_element(input):
    if input is None:
        raise RunError("OptionalGetElement of an empty optional")
    return input
