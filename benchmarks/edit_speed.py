"""Model surgery without reading weights: onnxkit.extract vs onnx.utils.extract_model.

    python benchmarks/edit_speed.py [--models bert,gpt2,resnet50] [--repeat 3] [--no-verify]
                                    [--sparse-gib 2.5]

For each model (benchmarks/_models.py: BERT-base at sequence 128, GPT-2
small, ResNet-50; exported once into benchmarks/_out/), the value in the
middle of the network (BERT: the output of layer 6 of 12) is cut out from the
model's inputs:

* ``onnxkit (API)``: ``load`` + ``onnxkit.extract`` + ``save_edited`` in a
  fresh process; the time of those calls and the process's peak RSS;
* ``onnxkit (CLI)``: ``onnxkit extract MODEL OUT --inputs .. --outputs ..`` (its ``main``),
  the wall time of the whole process (interpreter start and imports included);
* ``onnx``: ``onnx.utils.extract_model`` (loads, checks and infers the whole
  model) in a fresh process.

Peak RSS counts the pages of the memory-mapped model that were touched: saving
the cut model inline copies its weights (through the page cache) into the new
file.  Each measurement is repeated (default 3) and the median reported.

Verification (unless --no-verify): the cut model's output equals the value
``Session.run_intermediate`` gives on the full model; and for every tenth node
output of GPT-2 and ResNet-50, the model cut from the inputs to that output,
run by onnxruntime, equals it too; and a preprocessing graph (uint8 image ->
normalize -> NCHW) merged in front of ResNet-50 equals the two run in sequence.

Last, a model of --sparse-gib GiB of external data (a sparse file made with
truncate: never written, never read) is renamed, reshaped, cut and saved:
its time and peak RSS show that no weight was read.

Prints a markdown table and writes it to benchmarks/_out/edit_speed.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "_out")
sys.path.insert(0, HERE)

# VmHWM: the peak RSS of this process image (ru_maxrss would include the parent's at fork time)
_PEAK = ("def _peak():\n"
         "    for line in open('/proc/self/status'):\n"
         "        if line.startswith('VmHWM:'):\n"
         "            return int(line.split()[1]) // 1024\n")

ONNXKIT = _PEAK + textwrap.dedent('''
    import json, sys, time
    t0 = time.perf_counter()
    import onnxkit
    from onnxkit.edit import save_edited
    t1 = time.perf_counter()
    m = onnxkit.load(sys.argv[1])
    t2 = time.perf_counter()
    part = onnxkit.extract(m, sys.argv[3].split(","), sys.argv[4].split(","), inplace=True)
    t3 = time.perf_counter()
    save_edited(part, sys.argv[2])
    t4 = time.perf_counter()
    print(json.dumps({"s": t4 - t1, "load": t2 - t1, "extract": t3 - t2, "save": t4 - t3,
                      "import": t1 - t0, "peak": _peak(), "nodes": len(part.graph)}))
''')

ONNX = _PEAK + textwrap.dedent('''
    import json, sys, time
    import onnx.utils
    t1 = time.perf_counter()
    onnx.utils.extract_model(sys.argv[1], sys.argv[2], sys.argv[3].split(","), sys.argv[4].split(","))
    t2 = time.perf_counter()
    print(json.dumps({"s": t2 - t1, "peak": _peak()}))
''')

#: the command line, as ``python -m onnxkit extract ...`` runs it, reporting its own peak
_CMD = _PEAK + "import sys\nfrom onnxkit.cli import main\nrc = main(sys.argv[1:])\n" \
    "print(_peak(), file=sys.stderr)\nsys.exit(rc)\n"

CLI = textwrap.dedent('''
    import json, os, subprocess, sys, time
    t = time.perf_counter()
    r = subprocess.run([sys.executable, "-c", sys.argv[1], "extract", *sys.argv[2:]],
                       capture_output=True, text=True, env=os.environ)
    s = time.perf_counter() - t
    if r.returncode:
        sys.exit(r.stderr)
    print(json.dumps({"s": s, "peak": int(r.stderr.split()[-1])}))
''')

SPARSE = _PEAK + textwrap.dedent('''
    import json, os, sys, time
    import onnxkit
    from onnxkit.edit import save_edited
    src = sys.argv[1]
    t1 = time.perf_counter()
    m = onnxkit.load(src)
    m = onnxkit.rename(m, {"idx": "ids"}, inplace=True)
    m = onnxkit.set_shapes(m, {"ids": [16]}, inplace=True)
    save_edited(m, os.path.join(os.path.dirname(src), "edited.onnx"))
    part = onnxkit.extract(m, ["ids"], ["rows0"], inplace=True)
    save_edited(part, os.path.join(os.path.dirname(src), "part.onnx"))
    t2 = time.perf_counter()
    print(json.dumps({"s": t2 - t1, "peak": _peak()}))
''')


#: children as an installed package runs: bytecode cached (a PYTHONDONTWRITEBYTECODE
#: environment would compile every module of onnxkit on every start)
_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def _child(code: str, *args: str) -> dict:
    r = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=_ENV)
    if r.returncode:
        raise SystemExit(f"child failed:\n{r.stderr[-3000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def _median(runs: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def middle(name: str, model) -> str:
    """The value cut out: the output of the middle transformer layer (BERT,
    GPT-2), or the middle node's output (ResNet-50)."""
    names = [n.outputs[0].name for n in model.graph]
    if name == "bert":
        return next(v for v in names if "layer.5/output/LayerNorm" in v and v.endswith("_output_0"))
    if name == "gpt2":
        layer = [v for v in names if "h.5/" in v or "h.5." in v]
        if layer:
            return layer[-1]
    return names[len(names) // 2]


def verify(name: str, path: str, cut: str, out_path: str) -> str:
    import numpy as np
    import onnxruntime as ort

    import onnxkit
    from _models import feeds

    m = onnxkit.load(path)
    x = feeds(name, batch=1)
    full = onnxkit.Session(m, optimize="none").run_intermediate(x)
    s = ort.InferenceSession(out_path, providers=["CPUExecutionProvider"])
    got = s.run(None, {k: v for k, v in x.items() if k in {i.name for i in s.get_inputs()}})[0]
    worst = float(np.max(np.abs(got - full[cut])))
    lines = [f"{name}: cut at {cut!r}: max |onnxruntime(cut) - run_intermediate(full)| = {worst:.2e}"]
    if name in ("gpt2", "resnet50"):
        ins = [v.name for v in m.graph.inputs]
        errs = []
        picked = [n.outputs[0].name for n in m.graph.nodes[::10]]
        for v in picked:
            part = onnxkit.extract(m, ins, [v])
            s = ort.InferenceSession(onnxkit.to_bytes(part), providers=["CPUExecutionProvider"])
            y = s.run(None, x)[0]
            errs.append(float(np.max(np.abs(y.astype(np.float64) - full[v]))) if y.size else 0.0)
        lines.append(f"{name}: every tenth node output ({len(picked)} cuts): worst max abs diff "
                     f"{max(errs):.2e}")
    if name == "resnet50":
        lines.append(verify_merge(m, x["pixels"].shape[-1]))
    return "\n".join(lines)


def verify_merge(net, size: int) -> str:
    """A preprocessing graph (uint8 NHWC image -> normalized NCHW float) merged in
    front of the network equals running the two in sequence (onnxruntime)."""
    import numpy as np
    import onnxruntime as ort

    import onnxkit
    from onnxkit.builder import GraphBuilder

    b = GraphBuilder("pre")
    img = b.input("image", "uint8", ["batch", size, size, 3])
    x = b.op.Div(b.op.Cast(img, to=onnxkit.DataType.FLOAT), b.initializer(np.float32(255), "scale"))
    mean = np.float32([0.485, 0.456, 0.406]).reshape(1, 1, 1, 3)
    std = np.float32([0.229, 0.224, 0.225]).reshape(1, 1, 1, 3)
    x = b.op.Div(b.op.Sub(x, b.initializer(mean, "mean")), b.initializer(std, "std"))
    b.output(b.op.Transpose(x, perm=[0, 3, 1, 2]), "normalized", dtype="float",
             shape=["batch", 3, size, size])
    pre = b.model(opset=net.opset, ir_version=8)
    t = time.perf_counter()
    merged = onnxkit.merge(pre, net, {"normalized": net.graph.inputs[0].name})
    took = time.perf_counter() - t

    def run(model, feeds):
        s = ort.InferenceSession(onnxkit.to_bytes(model), providers=["CPUExecutionProvider"])
        return s.run(None, feeds)[0]

    image = np.random.default_rng(0).integers(0, 256, (1, size, size, 3), dtype=np.uint8)
    seq = run(net, {net.graph.inputs[0].name: run(pre, {"image": image})})
    diff = float(np.max(np.abs(run(merged, {"image": image}) - seq)))
    return (f"merge(preprocessing, resnet50) in {took:.3f} s: max |merged - the two in sequence| "
            f"= {diff:.2e}")


def sparse_model(folder: str, gib: float) -> str:
    import onnxkit  # noqa: F401
    from onnxkit.edit import save_edited
    from onnxkit.ir import DataType, ExternalTensor, Graph, Model, Node, Value

    cols = 1024
    rows = int(gib * (1 << 30)) // (4 * cols * 4)
    table = rows * cols * 4
    with open(os.path.join(folder, "weights.bin"), "wb") as f:
        f.truncate(table * 4)
    idx = Value("idx", dtype=DataType.INT64, shape=["k"])
    nodes, outs, inits = [], [], []
    for i in range(4):
        w = Value(f"table{i}", dtype=DataType.FLOAT, shape=[rows, cols],
                  const_value=ExternalTensor("weights.bin", i * table, table, DataType.FLOAT,
                                             [rows, cols], folder, name=f"table{i}"))
        y = Value(f"rows{i}", dtype=DataType.FLOAT, shape=["k", cols])
        nodes.append(Node("Gather", [w, idx], [y]))
        outs.append(y)
        inits.append(w)
    path = os.path.join(folder, "model.onnx")
    save_edited(Model(Graph([idx], outs, nodes, initializers=inits, name="tables"),
                      opset_imports={"": 21}), path)
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default="bert,gpt2,resnet50")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-verify", action="store_true")
    ap.add_argument("--no-onnx", action="store_true", help="skip onnx.utils.extract_model")
    ap.add_argument("--sparse-gib", type=float, default=2.5)
    args = ap.parse_args()

    import onnxkit
    from _models import get_model

    rows = ["| model | cut | nodes kept | tool | time (s) | peak RSS (MB) |", "|---|---|---|---|---|---|"]
    notes = []
    with tempfile.TemporaryDirectory(dir=OUT) as tmp:
        for name in [m for m in args.models.split(",") if m]:
            path = get_model(name)
            with open(path, "rb") as f:       # warm the page cache
                while f.read(1 << 24):
                    pass
            m = onnxkit.load(path)
            ins = ",".join(v.name for v in m.graph.inputs)
            cut = middle(name, m)
            total = len(m.graph)
            del m
            out_k = os.path.join(tmp, f"{name}-onnxkit.onnx")
            _child(ONNXKIT, path, out_k, ins, cut)       # warm-up: bytecode written, not counted
            runs = [_child(ONNXKIT, path, out_k, ins, cut) for _ in range(args.repeat)]
            split = ", ".join(f"{k} {_median(runs, k):.3f}" for k in ("load", "extract", "save"))
            rows.append(f"| {name} | {cut} | {runs[0]['nodes']} of {total} | onnxkit (API: {split}) | "
                        f"{_median(runs, 's'):.3f} | {_median(runs, 'peak'):.0f} |")
            cli = [_child(CLI, _CMD, path, os.path.join(tmp, f"{name}-cli.onnx"), "--inputs", ins,
                          "--outputs", cut) for _ in range(args.repeat)]
            rows.append(f"| {name} | | | onnxkit (CLI, whole process) | {_median(cli, 's'):.3f} | "
                        f"{_median(cli, 'peak'):.0f} |")
            if not args.no_onnx:
                ref = [_child(ONNX, path, os.path.join(tmp, f"{name}-onnx.onnx"), ins, cut)
                       for _ in range(args.repeat)]
                rows.append(f"| {name} | | | onnx.utils.extract_model | {_median(ref, 's'):.3f} | "
                            f"{_median(ref, 'peak'):.0f} |")
            if not args.no_verify:
                notes.append(verify(name, path, cut, out_k))
        if args.sparse_gib:
            folder = os.path.join(tmp, "sparse")
            os.mkdir(folder)
            p = sparse_model(folder, args.sparse_gib)
            r = [_child(SPARSE, p) for _ in range(args.repeat)]
            rows.append(f"| {args.sparse_gib} GiB external data (sparse) | rename + set_shapes + "
                        f"extract, 2 saves | | onnxkit | {_median(r, 's'):.3f} | {_median(r, 'peak'):.0f} |")
    text = "\n".join(rows + [""] + notes) + "\n"
    print(text)
    with open(os.path.join(OUT, "edit_speed.md"), "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
