"""The inputs of a batch run: what INPUT holds, and how its files become rows.

Three kinds of INPUT: Parquet (a file or a folder of them), a folder of
``.npy``/``.npz`` files (one row per file: a ``.npy`` feeds the model's one
input, a ``.npz`` holds an array per column), or a folder of images (decoded
with Pillow and resized to the model's input).  Files are checked on the
driver before the run (a Parquet footer, a file's magic bytes), so that an
unreadable file fails at once with its name; they are decoded in the workers.
Folder inputs carry their file's path (relative to INPUT) in the ``path`` column.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from ..errors import InvalidInputError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp")
ARRAY_EXTENSIONS = (".npy", ".npz")


@dataclass(frozen=True)
class ImageOptions:
    """How an image becomes a model input: resized to ``size`` (height, width),
    scaled to [0, 1], then ``(x - mean) / std`` per channel, laid out ``"nchw"``
    or ``"nhwc"``, as ``dtype``."""
    size: tuple[int, int]
    mean: tuple[float, ...] = (0.0, 0.0, 0.0)
    std: tuple[float, ...] = (1.0, 1.0, 1.0)
    layout: str = "nchw"
    dtype: str = "float32"


def image_options_for(dims: tuple | None, *, size: Sequence[int] | None = None, mean=None, std=None,
                      layout: str | None = None, dtype: Any = None) -> ImageOptions:
    """The options for a model input of (per-row) ``dims``: the layout is that
    of the dim that is 3 (channels first unless last), the size that of the
    other two, unless given."""
    if layout is None:
        layout = "nhwc" if dims is not None and len(dims) == 3 and dims[-1] == 3 and dims[0] != 3 else "nchw"
    if layout not in ("nchw", "nhwc"):
        raise InvalidInputError(f"image layout must be nchw or nhwc, not {layout!r}")
    if size is None:
        hw = None
        if dims is not None and len(dims) == 3:
            hw = dims[1:] if layout == "nchw" else dims[:2]
        if hw is None or any(not isinstance(d, int) for d in hw):
            raise InvalidInputError(f"the model's image input has dims {list(dims or [])} (after the batch "
                                    f"dim): give the image size (--size H,W)")
        size = hw
    mean = tuple(float(m) for m in (mean or (0.0, 0.0, 0.0)))
    std = tuple(float(s) for s in (std or (1.0, 1.0, 1.0)))
    if len(mean) != 3 or len(std) != 3 or 0.0 in std:
        raise InvalidInputError(f"mean and std take 3 values (one per channel, std not 0): {mean}, {std}")
    return ImageOptions((int(size[0]), int(size[1])), mean, std, layout, str(np.dtype(dtype or "float32")))


def decode_image(path: str, opts: ImageOptions) -> np.ndarray:
    """One image file as a model input row (no batch dim)."""
    try:
        from PIL import Image
    except ImportError as e:
        raise InvalidInputError(f"reading images needs Pillow (pip install pillow): {e}") from None
    try:
        with Image.open(path) as im:
            im = im.convert("RGB").resize((opts.size[1], opts.size[0]), Image.BILINEAR)
            x = np.asarray(im, dtype=np.float32) / 255.0
    except (OSError, ValueError, SyntaxError) as e:
        raise InvalidInputError(f"{path}: not a readable image ({e})") from None
    x = (x - np.array(opts.mean, np.float32)) / np.array(opts.std, np.float32)
    if opts.layout == "nchw":
        x = x.transpose(2, 0, 1)
    return np.ascontiguousarray(x.astype(opts.dtype))


def read_array_file(path: str, single_input: str | None) -> dict[str, np.ndarray]:
    """The columns of one ``.npy`` (under ``single_input``) or ``.npz`` file."""
    try:
        if path.endswith(".npz"):
            with np.load(path, allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
        if single_input is None:
            raise InvalidInputError(f"{path}: a .npy file feeds a model of one input; this model has "
                                    f"several (give .npz files with an array per input)")
        return {single_input: np.load(path, allow_pickle=False)}
    except (OSError, ValueError, EOFError) as e:
        raise InvalidInputError(f"{path}: not a readable .npy/.npz file ({e})") from None


def _files(folder: str) -> list[str]:
    out = []
    for root, dirs, names in os.walk(folder):
        dirs.sort()
        out += [os.path.join(root, n) for n in sorted(names) if not n.startswith(".")]
    return out


def input_kind(path: str) -> tuple[str, list[str]]:
    """("parquet" | "arrays" | "images", the files) of INPUT, or InvalidInputError."""
    if not os.path.exists(path):
        raise InvalidInputError(f"{path}: no such file or folder")
    files = [path] if os.path.isfile(path) else _files(path)
    kinds = {}
    for f in files:
        ext = os.path.splitext(f)[1].lower()
        kind = "parquet" if ext == ".parquet" else "arrays" if ext in ARRAY_EXTENSIONS else \
            "images" if ext in IMAGE_EXTENSIONS else None
        if kind is None:
            raise InvalidInputError(f"{f}: not an input file onnxkit batch reads (.parquet, .npy, .npz, "
                                    f"or an image: {', '.join(IMAGE_EXTENSIONS)})")
        kinds.setdefault(kind, []).append(f)
    if not kinds:
        raise InvalidInputError(f"{path}: no input files in it")
    if len(kinds) > 1:
        raise InvalidInputError(f"{path}: mixes {' and '.join(sorted(kinds))} files; give one kind per run")
    kind, files = next(iter(kinds.items()))
    return kind, files


def parquet_row_groups(files: list[str]) -> tuple[list[tuple[str, int, int]], int]:
    """((file, row group, rows) of every row group in order, rows) from the
    footers, or the first unreadable file as an InvalidInputError."""
    import pyarrow.parquet as pq
    groups, rows = [], 0
    for f in files:
        try:
            with pq.ParquetFile(f) as pf:
                meta = pf.metadata
                for k in range(meta.num_row_groups):
                    groups.append((f, k, meta.row_group(k).num_rows))
                    rows += meta.row_group(k).num_rows
        except Exception as e:
            raise InvalidInputError(f"{f}: not a readable Parquet file ({e})") from None
    return groups, rows


def check_files(files: list[str], kind: str) -> None:
    """The first array or image file that cannot be what it claims, as an InvalidInputError
    (the magic bytes only: files are decoded where they are used)."""
    for f in files:
        try:
            with open(f, "rb") as fh:
                head = fh.read(8)
        except OSError as e:
            raise InvalidInputError(f"{f}: cannot be read ({e.strerror})") from None
        if kind == "arrays":
            ok = head.startswith(b"\x93NUMPY") if f.endswith(".npy") else head.startswith(b"PK")
            if not ok:
                raise InvalidInputError(f"{f}: not a .npy/.npz file (numpy.save / numpy.savez write them)")
        elif not head:
            raise InvalidInputError(f"{f}: an empty file, not an image")


def decoder(kind: str, *, single_input: str | None = None, image_input: str | None = None,
            image_options: ImageOptions | None = None) -> Any:
    """The function (picklable) turning a batch of file names (``path``, ``_file``) into model inputs."""
    import functools
    if kind == "images":
        if image_input is None or image_options is None:
            raise InvalidInputError("an image folder feeds a model of one image input")
        return functools.partial(decode_images, name=image_input, opts=image_options)
    return functools.partial(decode_arrays, single_input=single_input)


def decode_images(batch: dict, name: str, opts: ImageOptions) -> dict:
    """A batch of image file names as the model input ``name`` (beside ``path``)."""
    rows = [decode_image(str(f), opts) for f in batch["_file"]]
    return {"path": batch["path"], name: np.stack(rows)}


def decode_arrays(batch: dict, single_input: str | None) -> dict:
    """A batch of .npy/.npz file names as columns (beside ``path``)."""
    rows = [read_array_file(str(f), single_input) for f in batch["_file"]]
    names = list(rows[0])
    for f, r in zip(batch["_file"], rows):
        if list(r) != names:
            raise InvalidInputError(f"{f}: holds arrays {sorted(r)}, unlike {batch['_file'][0]} ({sorted(names)})")
    out = {"path": batch["path"]}
    for k in names:
        arrs = [r[k] for r in rows]
        if all(a.shape == arrs[0].shape and a.dtype == arrs[0].dtype for a in arrs):
            out[k] = np.stack(arrs)
        else:                           # ragged: the Predictor names the row that does not fit
            col = np.empty(len(arrs), dtype=object)
            col[:] = arrs
            out[k] = col
    return out
