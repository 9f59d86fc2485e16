"""ImageDecoder: encoded image bytes (JPEG, PNG, BMP, TIFF, WebP, PNM,
JPEG 2000 ...) -> [H, W, C] uint8 pixels.

Decoding uses Pillow, imported when the op first runs; onnxkit's core does not
need it, and a model with this op fails with a RunError saying so when Pillow
is missing.
"""

from __future__ import annotations

import io

import numpy as np

from ..errors import RunError
from ..ir import DataType
from ._registry import kernel, shape

_CHANNELS = {"RGB": 3, "BGR": 3, "Grayscale": 1}


@kernel("ImageDecoder", 20, context=True)
def image_decoder(ctx, encoded, *, pixel_format="RGB"):
    if pixel_format not in _CHANNELS:
        raise ValueError(f"pixel_format must be RGB, BGR or Grayscale, not {pixel_format!r}")
    try:
        from PIL import Image
    except ImportError:
        node = ctx.node
        raise RunError(f"ImageDecoder node {node.name!r} needs Pillow to decode images: "
                       "pip install pillow") from None
    try:
        img = Image.open(io.BytesIO(np.ascontiguousarray(encoded, dtype=np.uint8).tobytes()))
        img = img.convert("L" if pixel_format == "Grayscale" else "RGB")
    except Exception as e:  # Pillow raises many types for undecodable data
        raise ValueError(f"cannot decode the image ({len(encoded)} bytes): {e}") from e
    pixels = np.asarray(img, dtype=np.uint8)
    if pixel_format == "Grayscale":
        return pixels[:, :, None].copy()
    return pixels[:, :, ::-1].copy() if pixel_format == "BGR" else pixels.copy()


@shape("ImageDecoder", 20)
def image_decoder_shape(ctx) -> None:
    fmt = ctx.attr("pixel_format", "RGB")
    if fmt not in _CHANNELS:
        ctx.fail(f"pixel_format must be RGB, BGR or Grayscale, not {fmt!r}")
        return
    s = ctx.input_shape(0)
    if s is not None and len(s) != 1:
        ctx.fail(f"encoded image must be a 1-D uint8 tensor, has rank {len(s)}")
        return
    ctx.set_output(0, DataType.UINT8, (None, None, _CHANNELS[fmt]))
