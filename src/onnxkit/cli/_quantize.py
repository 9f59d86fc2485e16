"""Quantize a model: int8 weights with activations quantized at run time
(--mode dynamic, the default), QDQ int8 with calibrated activation ranges
(--mode static, needs --calibration: a folder of .npz files, one sample each,
or a Parquet file, one sample a row), or int4/int8 block-quantized weights
for decoder LLMs (--mode weight-only).  --accuracy-target leaves the nodes that
cost the most accuracy in float (weight-only: raises the most damaging 4-bit
weights to 8 bits) until the outputs' cosine to float reaches the target on the
calibration samples (weight-only without --calibration: on feeds made up from
the model's inputs); --report prints a per-node table."""

from __future__ import annotations

import argparse
import os
from typing import Iterator

NAME = "quantize"
HELP = "quantize a model to int8 / int4 and save it"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", metavar="MODEL", help="the .onnx file to read")
    p.add_argument("out", metavar="OUT", help="the .onnx file to write")
    p.add_argument("--mode", default="dynamic", choices=["dynamic", "static", "weight-only"],
                   help="what to quantize (default: dynamic)")
    p.add_argument("--calibration", metavar="DATA",
                   help="static, weight-only: a folder of .npz files (one sample each: input name -> array) "
                        "or a .parquet file (a column per input, a row per sample; needs pyarrow)")
    p.add_argument("--method", default="minmax", choices=["minmax", "percentile", "entropy"],
                   help="static: how activation ranges are read from the calibration histograms")
    p.add_argument("--percentile", type=float, default=99.999, help="for --method percentile")
    p.add_argument("--accuracy-target", type=float, metavar="COSINE",
                   help="static: leave the most sensitive nodes in float (weight-only: raise the most "
                        "sensitive 4-bit weights to 8 bits) until the outputs' cosine similarity to float "
                        "reaches this on the calibration samples (e.g. 0.99)")
    p.add_argument("--report", action="store_true",
                   help="static, weight-only: print each node's sensitivity (static: also output scale "
                        "and clipped fraction)")
    p.add_argument("--per-tensor", action="store_true", help="one weight scale per tensor, not per channel")
    p.add_argument("--activation-type", default="uint8", choices=["uint8", "int8"], help="static")
    p.add_argument("--weight-type", choices=["int8", "uint8"],
                   help="int8 (symmetric); weight-only also uint8 (zero points, its default)")
    p.add_argument("--bits", type=int, default=8, choices=[4, 8], help="weight-only: 4 or 8")
    p.add_argument("--block-size", type=int, metavar="N", help="weight-only: block length (default 32)")
    p.add_argument("--exclude", action="append", default=[], metavar="NODE",
                   help="a node name to leave in float (repeatable)")


def samples(path: str) -> Iterator[dict]:
    """The calibration samples of ``path``, one at a time (a folder of .npz, or
    a Parquet file read a row group at a time)."""
    from ..errors import QuantizeError

    if os.path.isdir(path):
        import numpy as np

        files = sorted(f for f in os.listdir(path) if f.endswith(".npz"))
        if not files:
            raise QuantizeError(f"{path}: no .npz file in this folder")
        for f in files:
            try:
                with np.load(os.path.join(path, f)) as z:
                    yield {k: z[k] for k in z.files}
            except (OSError, ValueError) as e:
                raise QuantizeError(f"{os.path.join(path, f)}: not a readable .npz file ({e})") from None
        return
    if path.endswith(".parquet"):
        yield from _parquet(path)
        return
    if not os.path.exists(path):
        raise QuantizeError(f"{path}: no such file or folder")
    raise QuantizeError(f"{path}: give a folder of .npz files or a .parquet file")


def _parquet(path: str) -> Iterator[dict]:
    from ..errors import QuantizeError

    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise QuantizeError(f"{path}: reading Parquet needs the pyarrow package "
                            f"(pip install pyarrow), or give a folder of .npz files") from None
    import numpy as np

    try:
        f = pq.ParquetFile(path)
    except Exception as e:      # pyarrow's own error types
        raise QuantizeError(f"{path}: not a readable Parquet file ({e})") from None
    shapes = {}
    meta = f.schema_arrow.metadata or {}
    for k, v in meta.items():       # optional "shape:NAME" = "1,3,224,224" entries
        if k.startswith(b"shape:"):
            shapes[k[6:].decode()] = tuple(int(d) for d in v.decode().split(","))
    for i in range(f.num_row_groups):
        table = f.read_row_group(i)
        cols = {name: table.column(name).combine_chunks() for name in table.column_names}
        for r in range(table.num_rows):
            sample = {}
            for name, col in cols.items():
                a = _parquet_value(col, r)
                if name in shapes:
                    a = a.reshape(shapes[name])
                sample[name] = a
            yield sample


def _parquet_value(col, r: int):
    """Row ``r`` of a Parquet column as an array of the column's own element type
    (``to_pylist`` would make float32 lists float64)."""
    import numpy as np

    value = col[r]
    values = getattr(value, "values", None)         # a list cell: its flat values
    if values is not None:
        try:
            return values.to_numpy(zero_copy_only=False)
        except Exception:                           # nested lists: pyarrow's own error types
            return np.asarray(value.as_py())
    return np.asarray(col.slice(r, 1).to_numpy(zero_copy_only=False)[0])


def run(args: argparse.Namespace) -> int:
    from . import UsageError
    from .. import load, save
    from ..quantize import quantize

    if args.mode == "static" and not args.calibration:
        raise UsageError("--mode static needs --calibration DATA")
    if args.mode == "dynamic" and (args.calibration or args.accuracy_target is not None or args.report):
        raise UsageError("--calibration, --accuracy-target and --report go with --mode static or weight-only")
    model = load(args.model)
    data = samples(args.calibration) if args.calibration else None
    model, rep = quantize(model, mode=args.mode, calibration=data, per_channel=not args.per_tensor,
                          weight_type=args.weight_type, activation_type=args.activation_type, bits=args.bits,
                          block_size=args.block_size, exclude=args.exclude, accuracy_target=args.accuracy_target,
                          method=args.method, percentile=args.percentile, report=True)
    if args.report:
        print(rep.table())
    print(f"quantized {len(rep.quantized)} nodes ({args.mode})")
    for name, why in rep.excluded.items():
        print(f"  left in float: {name}: {why}")
    for name, why in rep.raised.items():
        print(f"  raised to 8 bits: {name}: {why}")
    if rep.metric is not None and not args.report:
        print(f"output cosine to float: {rep.metric:.6f} on {rep.samples} calibration samples")
    save(model, args.out)
    print(f"wrote {args.out}")
    return 0
