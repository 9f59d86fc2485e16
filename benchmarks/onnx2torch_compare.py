"""onnx2torch next to onnxkit.to_torch, on the same ONNX files.

    python benchmarks/onnx2torch_compare.py [--models bert,gpt2,...] [--exporters torchscript,dynamo,onnxkit]
                                            [--nodes 60] [--no-compile] [--no-export] [--out FILE.md]

Files: the small real models of tests/_real_models.py (transformers' BERT,
GPT-2, a LLaMA-style decoder and ViT from tiny configs, a ResNet-like and a
MobileNet-like CNN and a 2-layer bidirectional LSTM net in plain torch; random
weights) as each exporter writes them -- ``torch.onnx.export(dynamo=False)``
(opset 17), ``torch.onnx.export(dynamo=True)`` and ``onnxkit.export`` (opset
18+) -- cached in benchmarks/_out/onnx2torch/; and an even sample of ``--nodes``
node test cases of the ONNX conformance suite (onnx.backend.test.case).

For each file and importer, the columns say:

* ``imports``: the importer returns a module;
* ``matches``: its outputs equal onnxruntime's (real models: at the exported
  size and at another batch/sequence size) or the suite's expected outputs
  (node models), to rtol 1e-4 / atol 1e-4;
* ``trains``: every float weight (initializer of more than 64 elements) is a
  trainable ``nn.Parameter`` and a backward pass reaches them (the share of
  weight elements that are parameters otherwise);
* ``compile``: ``torch.compile(module)`` runs at both sizes and matches;
* ``export``: ``torch.export.export`` with a dynamic batch (and sequence) axis
  succeeds, and the exported program matches at the other size.

onnx2torch imports torchvision at import time for two converters
(NonMaxSuppression, RoiAlign); where torchvision cannot be imported (here: the
wheel that matches torch 2.13 is a CUDA build), this script imports
onnx2torch with a stand-in whose functions raise, so only those two ops fail.
Install it with ``pip install --no-deps onnx2torch`` (it is not in the
``bench`` extra: its torchvision requirement pulls another torch build).
This is for humans, not CI: with compile and export it takes several minutes.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
import types
import warnings

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
OUT = os.path.join(HERE, "_out", "onnx2torch")
sys.path.insert(0, ROOT)

RTOL = ATOL = 1e-4
COLUMNS = ["imports", "matches", "trains", "compile", "export"]


# ---------------------------------------------------------------- importers


def _import_onnx2torch():
    """onnx2torch, with a stand-in torchvision where the real one does not import."""
    try:
        import torchvision  # noqa: F401
        import torchvision.ops  # noqa: F401
    except Exception:
        tv, ops = types.ModuleType("torchvision"), types.ModuleType("torchvision.ops")

        def missing(*args, **kwargs):
            raise RuntimeError("torchvision is not usable here")
        ops.nms = ops.box_convert = ops.roi_align = missing
        tv.ops = ops
        sys.modules["torchvision"], sys.modules["torchvision.ops"] = tv, ops
        try:
            import onnx2torch
        finally:
            del sys.modules["torchvision"], sys.modules["torchvision.ops"]
        return onnx2torch
    import onnx2torch
    return onnx2torch


def importers() -> dict:
    from onnxkit.to_torch import to_torch
    out = {"onnxkit": to_torch}
    try:
        out["onnx2torch"] = _import_onnx2torch().convert
    except ImportError as e:
        print(f"onnx2torch is not installed ({e}): pip install onnx2torch", file=sys.stderr)
    return out


# ---------------------------------------------------------------- the checks


def _short(e: BaseException) -> str:
    msg = str(e).strip().splitlines()[0] if str(e).strip() else ""
    m = re.search(r"operation_type='(\w+)', version=(\d+)", msg)
    if m:                               # onnx2torch: no converter for an op at a version
        return f"no converter for {m.group(1)}-{m.group(2)}"
    return f"{type(e).__name__}: {msg[:110]}"


def _outputs(out) -> list:
    import torch
    if isinstance(out, (torch.Tensor, np.ndarray)):     # onnxkit's numpy fallback may give arrays
        return [out]
    if isinstance(out, dict):
        return list(out.values())
    return list(out)


def _verdict(fn, cases, names) -> str:
    """"yes" when ``fn`` gives the expected outputs on every case, else "no (the first difference)"."""
    import torch
    with torch.no_grad():
        bad = [b for b in (_same(fn(*_tensors(f, names)), w) for f, w in cases) if b]
    return "yes" if not bad else f"no ({bad[0]})"


def _same(got, want) -> str | None:
    """None where ``got`` (tensors) equals ``want`` (arrays), else why not."""
    got = _outputs(got)
    if len(got) != len(want):
        return f"{len(got)} outputs, not {len(want)}"
    for g, w in zip(got, want):
        g = g.detach().cpu().numpy() if hasattr(g, "detach") else np.asarray(g)
        if g.shape != w.shape:
            return f"shape {g.shape}, not {w.shape}"
        if g.dtype != w.dtype and not (g.dtype.kind == w.dtype.kind == "f"):
            return f"dtype {g.dtype}, not {w.dtype}"
        if w.dtype.kind in "fc":
            if not np.allclose(g, w, rtol=RTOL, atol=ATOL, equal_nan=True):
                return f"max error {np.nanmax(np.abs(g.astype(np.float64) - w)):.2g}"
        elif not np.array_equal(g, w):
            return "values differ"
    return None


def _tensors(feeds: dict, names: list) -> tuple:
    import torch
    return tuple(torch.from_numpy(np.array(feeds[n])) for n in names)


def _trains(module, model_path: str, args: tuple) -> str:
    """yes, or the share of float weight elements that are trainable parameters."""
    import onnx
    import torch
    mp = onnx.load(model_path)
    sizes = {t.name: int(np.prod(t.dims)) for t in mp.graph.initializer
             if t.data_type in (1, 10, 11, 16) and int(np.prod(t.dims)) > 64}
    total = sum(sizes.values())
    params = [p for p in module.parameters() if p.requires_grad]
    trainable = sum(p.numel() for p in params)
    if not params:
        return "no (no parameters)"
    try:
        out = _outputs(module(*args))
        loss = sum(o.float().sum() for o in out if o.is_floating_point())
        loss.backward()
    except Exception as e:
        return f"no (backward: {_short(e)})"
    reached = sum(p.numel() for p in params if p.grad is not None)
    module.zero_grad(set_to_none=True)
    if total and trainable < 0.99 * total:
        return f"no ({100 * trainable / total:.0f}% of the weights are parameters)"
    if reached < 0.99 * trainable:
        return f"no (gradients reach {100 * reached / max(trainable, 1):.0f}%)"
    return "yes"


def _dims(names: list, feeds: dict, dynamic: bool):
    """torch.export dynamic_shapes (a tuple in input order): batch, and sequence for text/frames."""
    import torch
    if not dynamic:
        return None
    batch, seq = torch.export.Dim("batch", min=1, max=64), torch.export.Dim("seq", min=2, max=64)
    out = []
    for n in names:
        spec = {0: batch}
        if n in ("input_ids", "attention_mask", "frames"):
            spec[1] = seq
        out.append(spec)
    return tuple(out)


def evaluate(fn, path: str, names: list, cases: list, *, compile_: bool, export: bool,
             dynamic: bool, trains: bool) -> dict:
    """The columns for one importer on one file; ``cases``: [(feeds, expected outputs)]."""
    import torch
    row = dict.fromkeys(COLUMNS, "-")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            module = fn(path)
    except Exception as e:
        row["imports"] = f"no ({_short(e)})"
        return row
    row["imports"] = "yes"
    try:
        module.eval()
        row["matches"] = _verdict(module, cases, names)
    except Exception as e:
        row["matches"] = f"no ({_short(e)})"
    if trains:
        row["trains"] = _trains(module, path, _tensors(cases[0][0], names))
    if compile_:
        torch._dynamo.reset()
        try:
            row["compile"] = _verdict(torch.compile(module, dynamic=dynamic or None), cases, names)
        except Exception as e:
            row["compile"] = f"no ({_short(e)})"
    if export:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ep = torch.export.export(module, _tensors(cases[0][0], names),
                                         dynamic_shapes=_dims(names, cases[0][0], dynamic))
            f, w = cases[-1]
            with torch.no_grad():
                bad = _same(ep.module()(*_tensors(f, names)), w)
            row["export"] = "yes" if not bad else f"no ({bad})"
        except Exception as e:
            row["export"] = f"no ({_short(e)})"
    return row


# ---------------------------------------------------------------- the files


def real_model_files(models: list, exporters: list) -> list:
    """[(label, path, input names, [(feeds, onnxruntime outputs)])] of the small real models."""
    import onnxruntime as ort

    from tests._real_models import BATCH, SEQ, _export, feeds_for
    os.makedirs(OUT, exist_ok=True)
    out = []
    for name in models:
        for exporter in exporters:
            path = os.path.join(OUT, f"{name}-{exporter}.onnx")
            label = f"{name} ({exporter})"
            if not os.path.exists(path):
                print(f"exporting {label}", file=sys.stderr, flush=True)
                try:
                    _export(name, exporter, path + ".tmp")
                    os.replace(path + ".tmp", path)
                except Exception as e:
                    out.append((label, None, [], f"export failed: {_short(e)}"))
                    continue
            sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
            names = [i.name for i in sess.get_inputs()]
            cases = []
            for seed, (batch, seq) in enumerate([(BATCH, SEQ), (3, 5)]):
                feeds = feeds_for(names, batch, seq, seed)
                cases.append((feeds, sess.run(None, feeds)))
            out.append((label, path, names, cases))
    return out


def node_files(count: int) -> list:
    """An even sample of the conformance suite's node test cases (onnx.backend.test.case) whose
    inputs and outputs are tensors torch can hold, each written to benchmarks/_out/onnx2torch/nodes/."""
    import onnx
    import torch
    from onnx.backend.test.case import node

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cases = sorted(node.collect_testcases(), key=lambda c: c.name)

    def plain(arrays) -> bool:
        for a in arrays:
            if not isinstance(a, np.ndarray):
                return False
            try:
                torch.from_numpy(np.array(a))
            except (TypeError, RuntimeError):
                return False
        return True
    usable = [c for c in cases if c.model is not None and c.data_sets
              and plain(c.data_sets[0][0]) and plain(c.data_sets[0][1])]
    step = max(1, len(usable) // max(count, 1))
    folder = os.path.join(OUT, "nodes")
    os.makedirs(folder, exist_ok=True)
    out = []
    for c in usable[::step][:count]:
        path = os.path.join(folder, f"{c.name}.onnx")
        onnx.save(c.model, path)
        init = {t.name for t in c.model.graph.initializer}
        names = [i.name for i in c.model.graph.input if i.name not in init]
        inputs, outputs = c.data_sets[0]
        if len(inputs) != len(names):
            continue
        out.append((c.name, path, names, [(dict(zip(names, inputs)), list(outputs))]))
    return out


# ---------------------------------------------------------------- main


def _cell(value: str) -> str:
    return value.replace("|", "/")


def main(argv=None) -> int:
    from tests._real_models import RUN_MODELS
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default=",".join(RUN_MODELS))
    ap.add_argument("--exporters", default="torchscript,dynamo,onnxkit")
    ap.add_argument("--nodes", type=int, default=60, help="node models sampled from the conformance suite")
    ap.add_argument("--no-compile", action="store_true", help="skip torch.compile (slow on a small CPU)")
    ap.add_argument("--no-export", action="store_true", help="skip torch.export")
    ap.add_argument("--node-compile", action="store_true", help="torch.compile the node models too")
    ap.add_argument("--out", help="also write the tables (markdown) to this file")
    args = ap.parse_args(argv)
    import torch
    torch.set_num_threads(max(1, min(4, os.cpu_count() or 1)))
    imps = importers()
    lines = []

    def emit(s: str = "") -> None:
        print(s, flush=True)
        lines.append(s)

    t0 = time.perf_counter()
    models = [m for m in args.models.split(",") if m]
    if models:
        emit("## Real models\n")
        head = ["model (exporter)"] + [f"{imp}: {c}" for imp in imps for c in COLUMNS]
        emit("| " + " | ".join(head) + " |")
        emit("|" + "---|" * len(head))
        for label, path, names, cases in real_model_files(models, args.exporters.split(",")):
            if path is None:
                emit(f"| {label} | " + " | ".join([_cell(cases)] + ["-"] * (len(head) - 2)) + " |")
                continue
            cells = [label]
            for imp, fn in imps.items():
                print(f"  {label}: {imp}", file=sys.stderr, flush=True)
                row = evaluate(fn, path, names, cases, compile_=not args.no_compile,
                               export=not args.no_export, dynamic=True, trains=True)
                cells += [_cell(row[c]) for c in COLUMNS]
            emit("| " + " | ".join(cells) + " |")
    if args.nodes:
        files = node_files(args.nodes)
        counts = {imp: dict.fromkeys(COLUMNS[:2] + COLUMNS[3:], 0) for imp in imps}
        reasons: dict = {imp: {} for imp in imps}
        per_case = []
        for label, path, names, cases in files:
            cells = [label]
            for imp, fn in imps.items():
                row = evaluate(fn, path, names, cases, compile_=args.node_compile, export=not args.no_export,
                               dynamic=False, trains=False)
                for c in counts[imp]:
                    counts[imp][c] += row[c] == "yes"
                for c in ("imports", "matches"):
                    if row[c] not in ("yes", "-"):
                        reasons[imp][row[c]] = reasons[imp].get(row[c], 0) + 1
                        break
                cells += [_cell(row[c]) for c in ("imports", "matches", "export")]
            per_case.append(cells)
        emit(f"\n## Conformance node models (an even sample of {len(files)})\n")
        cols = [c for c in counts[next(iter(imps))] if c != "compile" or args.node_compile]
        cols = [c for c in cols if c != "export" or not args.no_export]
        emit("| importer | " + " | ".join(cols) + " |")
        emit("|---|" + "---|" * len(cols))
        for imp in imps:
            emit(f"| {imp} | " + " | ".join(f"{counts[imp][c]}/{len(files)}" for c in cols) + " |")
        for imp in imps:
            top = sorted(reasons[imp].items(), key=lambda kv: -kv[1])[:6]
            if top:
                emit(f"\n{imp}'s most frequent failures: " + "; ".join(f"{n}x {r}" for r, n in top))
        emit("\n| node model | " + " | ".join(f"{imp}: {c}" for imp in imps for c in ("imports", "matches", "export"))
             + " |")
        emit("|---|" + "---|" * (3 * len(imps)))
        for cells in per_case:
            emit("| " + " | ".join(cells) + " |")
    emit(f"\n({time.perf_counter() - t0:.0f} s; torch {torch.__version__})")
    if args.out:
        with open(args.out, "w") as f:
            f.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
