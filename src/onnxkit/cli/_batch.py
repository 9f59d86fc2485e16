"""Run a model over many rows, arrays or images on Ray Data and write the
outputs as Parquet, beside the input's id columns.

INPUT is a Parquet file or folder, a folder of .npy/.npz files (one row per
file) or a folder of images (resized to the model's input; --size, --mean,
--std, --layout).  OUTPUT is a new folder of Parquet files: every column of
the input the model does not read (the ids; `path` for folders), then the
model's outputs (tensor columns when multi-dimensional).  Without --address
Ray starts on this machine (127.0.0.1, no dashboard); with --address the run
goes to that cluster.  Ray Data shows the progress; a summary follows.

Needs onnxkit[ray] (pip install "onnxkit[ray]")."""

from __future__ import annotations

import argparse

NAME = "batch"
HELP = "batch inference over Parquet, array or image folders on Ray (onnxkit[ray])"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="the .onnx file")
    p.add_argument("input", help="a Parquet file or folder, a folder of .npy/.npz files, or of images")
    p.add_argument("output", help="the folder the Parquet outputs go to (new or empty)")
    p.add_argument("--batch-size", type=int, default=256, metavar="N", help="rows per batch (default 256)")
    p.add_argument("--workers", default="auto", metavar="N|auto",
                   help="worker processes, each with its share of the cores as threads (default auto: "
                        "one per CPU of the cluster)")
    p.add_argument("--threads", type=int, default=None, metavar="N",
                   help="threads of each worker's session (default: its share of the cores)")
    p.add_argument("--address", default=None, metavar="ADDR",
                   help="the Ray cluster to run on: auto, HOST:PORT, ray://HOST:PORT (default: start Ray here)")
    p.add_argument("--provider", default="numpy", choices=["numpy", "torch", "onnxruntime"],
                   help="what runs the model in the workers (default numpy: onnxkit's runtime)")
    p.add_argument("--columns", action="append", default=[], metavar="INPUT=COL[,COL...]",
                   help="the column(s) feeding a model input (several: stacked as features); "
                        "default: the column of the input's name")
    p.add_argument("--output-names", default=None, metavar="NAME[,NAME...]",
                   help="the model outputs to write (default all)")
    p.add_argument("--on-error", default="raise", choices=["raise", "skip"],
                   help="a row that does not fit the model fails the run (raise, default) or is written "
                        "with its error in the column 'error' (skip)")
    p.add_argument("--size", default=None, metavar="H,W", help="images: the size to resize to "
                   "(default: the model input's)")
    p.add_argument("--mean", default=None, metavar="R,G,B", help="images: subtracted after scaling to [0, 1]")
    p.add_argument("--std", default=None, metavar="R,G,B", help="images: divided by after the mean")
    p.add_argument("--layout", default=None, choices=["nchw", "nhwc"],
                   help="images: the model input's layout (default: guessed from its shape)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def _floats(text: str | None, what: str, n: int, kind=float) -> tuple | None:
    from . import UsageError
    if text is None:
        return None
    try:
        vals = tuple(kind(x) for x in text.split(","))
    except ValueError:
        raise UsageError(f"{what} {text}: give {n} comma-separated numbers") from None
    if len(vals) != n:
        raise UsageError(f"{what} {text}: give {n} comma-separated numbers")
    return vals


def run(args: argparse.Namespace) -> int:
    from . import UsageError
    from ..errors import ProviderError
    if args.batch_size < 1:
        raise UsageError(f"--batch-size {args.batch_size}: at least 1")
    if args.threads is not None and args.threads < 1:
        raise UsageError(f"--threads {args.threads}: at least 1")
    workers = args.workers
    if workers != "auto":
        try:
            workers = int(workers)
        except ValueError:
            raise UsageError(f"--workers {workers}: a number or auto") from None
        if workers < 1:
            raise UsageError(f"--workers {workers}: at least 1")
    columns = {}
    for item in args.columns:
        name, sep, cols = item.partition("=")
        if not sep or not name or not cols:
            raise UsageError(f"--columns {item!r} must look like INPUT=COL or INPUT=COL1,COL2,...")
        parts = cols.split(",")
        columns[name] = parts[0] if len(parts) == 1 else parts
    try:
        from ..ray import run_batch
    except ImportError as e:
        raise ProviderError(f'onnxkit batch needs Ray Data: pip install "onnxkit[ray]" ({e})') from None
    summary = run_batch(args.model, args.input, args.output, batch_size=args.batch_size, workers=workers,
                        address=args.address, provider=args.provider, columns=columns or None,
                        outputs=args.output_names.split(",") if args.output_names else None,
                        on_error=args.on_error, size=_floats(args.size, "--size", 2, int),
                        mean=_floats(args.mean, "--mean", 3), std=_floats(args.std, "--std", 3),
                        layout=args.layout, progress=not args.no_progress, threads=args.threads)
    for line in summary.lines():
        print(line)
    return 0
