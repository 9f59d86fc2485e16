"""Load a model and save it again, with its tensors inline or in an
external-data file beside it, optionally converted to another opset version
(--opset N, up or down) or to what the installed onnxruntime loads (--for
onnxruntime, or --for onnxruntime==X.Y for another release).  Without
--external-data or --inline, tensors go external when the model had external
data (its data file is then copied by the kernel, not read) or would pass
protobuf's 2 GiB limit."""

from __future__ import annotations

import argparse
import os

NAME = "convert"
HELP = "save a model again: inline or with external data, at another opset or IR version"


def _nonneg_int(s: str) -> int:
    try:
        v = int(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {s!r}") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"must not be negative: {v}")
    return v


def _runtime(s: str) -> str:
    name, eq, version = s.partition("==")
    if name != "onnxruntime" or (eq and not all(p.isdigit() for p in version.split("."))):
        raise argparse.ArgumentTypeError(f"expected 'onnxruntime' or 'onnxruntime==X.Y', got {s!r}")
    return s


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", metavar="MODEL", help="the .onnx file to read")
    p.add_argument("out", metavar="OUT", help="the .onnx file to write")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--external-data", action="store_true",
                      help="put tensors of at least --size-threshold bytes in one file beside OUT")
    mode.add_argument("--inline", action="store_true", help="keep every tensor inside OUT")
    p.add_argument("--location", metavar="NAME",
                   help="name of the external-data file, relative to OUT's folder "
                        "(default: OUT's file name + '.data'); implies --external-data")
    p.add_argument("--size-threshold", metavar="BYTES", type=_nonneg_int, default=1024,
                   help="smallest tensor that goes to external data (default: 1024)")
    ver = p.add_mutually_exclusive_group()
    ver.add_argument("--opset", metavar="N", type=_nonneg_int,
                     help="convert to ai.onnx opset N (up or down); nodes that cannot be "
                          "expressed there are listed and nothing is written")
    ver.add_argument("--for", dest="for_runtime", type=_runtime, metavar="onnxruntime[==X.Y]",
                     help="convert down to the newest IR version and opsets the installed "
                          "onnxruntime (or onnxruntime X.Y) loads (only what is newer changes)")
    p.add_argument("--ir-version", metavar="K", type=_nonneg_int,
                   help="write IR version K (default: what the target opset needs)")


def run(args: argparse.Namespace) -> int:
    from .. import load, save
    from . import UsageError
    from ._info import external_files, human_bytes, plural

    if args.inline and args.location:
        raise UsageError("--location needs external data; it cannot go with --inline")
    external = True if (args.external_data or args.location) else (False if args.inline else None)
    model = load(args.model)
    if external is None and external_files(model):
        external = True         # weights kept in external data (copied without being read)
    if args.opset is not None or args.for_runtime or args.ir_version is not None:
        model = _convert(model, args)
    save(model, args.out, external_data=external, location=args.location,
         size_threshold=args.size_threshold)
    print(f"wrote {args.out} ({human_bytes(os.path.getsize(args.out))})")
    for loc, (count, size, _) in sorted(external_files(load(args.out)).items()):
        print(f"wrote {os.path.join(os.path.dirname(args.out), loc)} "
              f"({human_bytes(size)} in {plural(count, 'tensor')})")
    return 0


def _convert(model, args: argparse.Namespace):
    from ..convert import ConversionError, convert_version
    from ..errors import OnnxkitError
    from . import UsageError

    if args.opset == 0:
        raise UsageError("--opset must be at least 1")
    before = (model.opset, model.ir_version)
    if args.opset is None and not args.for_runtime:
        model.ir_version = args.ir_version
    else:
        target = args.opset if args.opset is not None else args.for_runtime
        try:
            model = convert_version(model, target, ir_version=args.ir_version)
        except ConversionError as e:
            if not e.refusals:
                raise
            shown = "; ".join(str(r) for r in e.refusals[:5])
            more = f"; and {len(e.refusals) - 5} more" if len(e.refusals) > 5 else ""
            raise OnnxkitError(f"cannot convert to opset {e.target.get('', '?')}: "
                               f"{len(e.refusals)} node{'s' if len(e.refusals) != 1 else ''} cannot be "
                               f"expressed there: {shown}{more}") from None
    print(f"opset {before[0]} -> {model.opset}, IR version {before[1]} -> {model.ir_version}")
    return model
