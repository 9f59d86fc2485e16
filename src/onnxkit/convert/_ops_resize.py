"""Upsample and Resize: Upsample's scales (7: one list, 9: an input),
Upsample -> Resize (10), Resize's coordinate modes and roi (11), optional
roi / scales (13), antialias / axes / aspect-ratio policy (18).  Resize-10 and Upsample compute source coordinates
"asymmetric"ally and round nearest neighbours down when upscaling, up when
downscaling; Resize-11 says both explicitly."""

from __future__ import annotations

import numpy as np

from ._context import Step
from ._registry import Adapter

__all__ = ["ADAPTERS"]


def _upsample7_up(ctx: Step) -> None:
    h, w = ctx.attr("height_scale"), ctx.attr("width_scale")
    ctx.drop_attr("height_scale")
    ctx.drop_attr("width_scale")
    if h is None or w is None:
        ctx.refuse("Upsample-1 without height_scale / width_scale")
    ctx.set_attr("scales", [1.0, 1.0, float(h), float(w)], 6)


def _upsample7_down(ctx: Step) -> None:
    s = ctx.attr("scales")
    if s is None or len(s) != 4 or s[0] != 1 or s[1] != 1:
        ctx.refuse("Upsample before opset 7 scales the last two axes of a 4-D input only")
    ctx.drop_attr("scales")
    ctx.set_attr("height_scale", float(s[2]), 1)
    ctx.set_attr("width_scale", float(s[3]), 1)


def _upsample9_up(ctx: Step) -> None:
    s = ctx.attr("scales")
    ctx.drop_attr("scales")
    if s is None:
        ctx.refuse("Upsample-7 without scales")
    ctx.set_inputs([ctx.node.inputs[0], ctx.constant(np.asarray(s, np.float32), "scales")])


def _upsample9_down(ctx: Step) -> None:
    s = ctx.need_const(1, "scales")
    ctx.set_attr("scales", [float(x) for x in np.asarray(s).reshape(-1)], 6)
    ctx.set_inputs(ctx.node.inputs[:1])


def _rename(op: str):
    def go(ctx: Step) -> None:
        ctx.node.op_type = op
    return go


def _nearest_mode_for(ctx: Step, scales) -> str:
    """The nearest_mode of Resize-11 that rounds as Resize-10 does at these scales."""
    if scales is None:
        ctx.refuse("nearest rounding of opset 10 depends on the scales, which are not constant")
    s = np.asarray(scales).reshape(-1)
    if (s >= 1).all():
        return "floor"
    if (s <= 1).all():
        return "ceil"
    ctx.refuse("scales both above and below 1: opset 10's nearest rounding has no opset 11 mode")


def _resize11_up(ctx: Step) -> None:
    n = ctx.node
    x, scales = n.inputs[0], n.inputs[1]
    mode = n.attr("mode", "nearest")
    ctx.set_attr("coordinate_transformation_mode", "asymmetric", 3)
    if mode == "nearest":
        ctx.set_attr("nearest_mode", _nearest_mode_for(ctx, ctx.const(scales)), 3)
    roi = ctx.constant(np.zeros((0,), np.float32), "roi")
    ctx.set_inputs([x, roi, scales])


def _resize11_down(ctx: Step) -> None:
    n = ctx.node
    if n.attr("coordinate_transformation_mode", "half_pixel") != "asymmetric":
        ctx.refuse("coordinate_transformation_mode other than 'asymmetric' needs opset 11")
    mode = n.attr("mode", "nearest")
    if mode not in ("nearest", "linear"):
        ctx.refuse(f"mode={mode!r} needs opset 11")
    if len(n.inputs) > 3 and n.inputs[3] is not None and ctx.const(n.inputs[3]) is not None \
            and np.asarray(ctx.const(n.inputs[3])).size:
        ctx.refuse("sizes need opset 11")
    scales = ctx.need_const(2, "scales") if len(n.inputs) > 2 else None
    if scales is None or np.asarray(scales).size == 0:
        ctx.refuse("Resize-10 needs constant scales")
    if mode == "nearest":
        want = n.attr("nearest_mode", "round_prefer_floor")
        s = np.asarray(scales).reshape(-1)
        ok = (want == "floor" and (s >= 1).all()) or (want == "ceil" and (s <= 1).all())
        if not ok:
            ctx.refuse(f"nearest_mode={want!r} at these scales needs opset 11")
    if n.attr("exclude_outside", 0):
        ctx.refuse("exclude_outside needs opset 11")
    for a in ("coordinate_transformation_mode", "nearest_mode", "cubic_coeff_a", "exclude_outside",
              "extrapolation_value"):
        ctx.drop_attr(a)
    ctx.set_inputs([n.inputs[0], n.inputs[2]])


def _resize13_up(ctx: Step) -> None:
    if ctx.attr("coordinate_transformation_mode") == "tf_half_pixel_for_nn":
        ctx.refuse("coordinate_transformation_mode='tf_half_pixel_for_nn' was removed at opset 13")


def _resize13_down(ctx: Step) -> None:
    n = ctx.node
    ins = list(n.inputs) + [None] * (4 - len(n.inputs))
    if ins[1] is None:
        ins[1] = ctx.constant(np.zeros((0,), np.float32), "roi")
    if ins[2] is None:
        ins[2] = ctx.constant(np.zeros((0,), np.float32), "scales")
    ctx.set_inputs(ins)
    if ctx.dtype(n.inputs[0]) is None:
        ctx.refuse("the input type is unknown (Resize-11 takes fewer types)")


def _resize18_down(ctx: Step) -> None:
    """Resize-18's antialias, keep_aspect_ratio_policy and axes: the last
    becomes full-rank scales / sizes / roi when the rank (and, for sizes, the
    other dims) are known."""
    n = ctx.node
    if ctx.attr("antialias", 0):
        ctx.refuse("antialias=1 needs opset 18")
    if ctx.attr("keep_aspect_ratio_policy", "stretch") != "stretch":
        ctx.refuse(f"keep_aspect_ratio_policy={ctx.attr('keep_aspect_ratio_policy')!r} needs opset 18")
    ctx.drop_attr("antialias")
    ctx.drop_attr("keep_aspect_ratio_policy")
    axes = ctx.attr("axes")
    ctx.drop_attr("axes")
    if axes is None:
        return
    shape = ctx.shape(n.inputs[0])
    if shape is None:
        ctx.refuse("axes need opset 18 when the input's rank is unknown")
    rank = len(shape)
    axes = [a + rank if a < 0 else a for a in axes]
    ins = list(n.inputs) + [None] * (4 - len(n.inputs))
    roi = ctx.const(ins[1]) if ins[1] is not None else None
    if ins[1] is not None and (roi is None or np.asarray(roi).size):
        if roi is None:
            ctx.refuse("a computed roi with axes needs opset 18")
        full = np.concatenate([np.zeros(rank), np.ones(rank)]).astype(np.asarray(roi).dtype)
        r = np.asarray(roi).reshape(-1)
        for j, a in enumerate(axes):
            full[a], full[a + rank] = r[j], r[j + len(axes)]
        ins[1] = ctx.constant(full, "roi")
    scales = ctx.const(ins[2]) if ins[2] is not None else None
    if ins[2] is not None and (scales is None or np.asarray(scales).size):
        if scales is None:
            ctx.refuse("computed scales with axes need opset 18")
        full = np.ones(rank, np.asarray(scales).dtype)
        full[axes] = np.asarray(scales).reshape(-1)
        ins[2] = ctx.constant(full, "scales")
    if ins[3] is not None:
        sizes = ctx.const(ins[3])
        if sizes is None or not all(isinstance(d, int) for d in shape):
            ctx.refuse("sizes with axes need opset 18 (sizes computed or the input shape unknown)")
        full = np.asarray(shape, np.int64)
        full[axes] = np.asarray(sizes).reshape(-1)
        ins[3] = ctx.constant(full, "sizes")
    ctx.set_inputs(ins)


ADAPTERS = {
    ("Resize", 18): Adapter(lambda ctx: None, _resize18_down),
    ("Upsample", 7): Adapter(_upsample7_up, _upsample7_down),
    ("Upsample", 9): Adapter(_upsample9_up, _upsample9_down),
    ("Upsample", 10): Adapter(_rename("Resize"), "Upsample is deprecated from opset 10; Resize is its successor"),
    ("Resize", 10): Adapter("Resize is new at opset 10", _rename("Upsample")),
    ("Resize", 11): Adapter(_resize11_up, _resize11_down),
    ("Resize", 13): Adapter(_resize13_up, _resize13_down),
}
