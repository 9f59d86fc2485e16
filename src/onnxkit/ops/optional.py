"""Optionals: an optional value is its element (a tensor or a sequence) or
``None`` when empty."""

from __future__ import annotations

import numpy as np

from ..errors import RunError
from ..ir import DataType, OptionalType, Type
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


# ------------------------------------------------------------------- shape rules
@shape("Optional", 15)
def optional_shape(ctx) -> None:
    t = ctx.input_type(0) if ctx.has_input(0) else ctx.attr("type")
    if ctx.has_input(0) and t is None:
        t = ctx.attr("type")
    ctx.set_output_type(0, OptionalType(t) if isinstance(t, Type) else None)


@shape("OptionalHasElement", 15)
def optional_has_element_shape(ctx) -> None:
    ctx.set_output(0, DataType.BOOL, ())


@shape("OptionalGetElement", 15)
def optional_get_element_shape(ctx) -> None:
    t = ctx.input_type(0)
    ctx.set_output_type(0, t.elem_type if isinstance(t, OptionalType) else t)
