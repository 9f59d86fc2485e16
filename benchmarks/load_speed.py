"""Loading and saving a 435 MB model: onnx vs onnxkit.

    python benchmarks/load_speed.py [--repeat 3] [--rebuild] [--only load,save]

Builds once (cached in benchmarks/_out/) a BERT-base-sized encoder: 12 layers,
hidden 768, FFN 3072, 30522-token embeddings; MatMul/Add/LayerNormalization,
attention with Softmax, GELU written with Erf; random float32 weights (109 M
parameters, ~436 MB), made with the onnx helper API, IR version 10, opset 17,
saved as one .onnx file.

Each measurement runs in a fresh Python process under ``/usr/bin/time -v``;
the child prints the time of the measured call itself (``time.perf_counter``),
the parent reads the process's wall time and peak RSS.  Each is repeated
(default 3 times) and the median is reported.  The file is in the page cache
(it is read once before the runs), so these are warm-cache numbers.

Prints a markdown table and writes it to benchmarks/_out/load_speed.md.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "_out")
MODEL = os.path.join(OUT, "bert_base_like.onnx")

LAYERS, HIDDEN, FFN, HEADS, VOCAB, MAXPOS = 12, 768, 3072, 12, 30522, 512


# ---------------------------------------------------------------- the model


def build_model(path: str = MODEL) -> None:
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    inits = []
    nodes = []

    def w(name, *shape, scale=0.02):
        a = (rng.standard_normal(shape, dtype=np.float32) * np.float32(scale))
        inits.append(numpy_helper.from_array(a, name))
        return name

    def ones(name, n):
        inits.append(numpy_helper.from_array(np.ones(n, np.float32), name))
        return name

    def zeros(name, n):
        inits.append(numpy_helper.from_array(np.zeros(n, np.float32), name))
        return name

    def const(name, arr):
        inits.append(numpy_helper.from_array(np.asarray(arr), name))
        return name

    def node(op, ins, outs=None, name=None, **attrs):
        name = name or f"{op}_{len(nodes)}"
        outs = outs or [f"{name}_out"]
        nodes.append(helper.make_node(op, ins, outs, name=name, **attrs))
        return outs[0] if len(outs) == 1 else outs

    def linear(x, prefix, din, dout):
        y = node("MatMul", [x, w(f"{prefix}.weight", din, dout)], name=f"{prefix}.matmul")
        return node("Add", [y, zeros(f"{prefix}.bias", dout)], name=f"{prefix}.add")

    def layernorm(x, prefix):
        return node("LayerNormalization", [x, ones(f"{prefix}.weight", HIDDEN),
                                           zeros(f"{prefix}.bias", HIDDEN)],
                    name=f"{prefix}", axis=-1, epsilon=1e-12)

    head_dim = HIDDEN // HEADS
    const("shape_heads", np.array([0, 0, HEADS, head_dim], np.int64))
    const("shape_merge", np.array([0, 0, HIDDEN], np.int64))
    const("scale", np.array(1.0 / np.sqrt(head_dim), np.float32))
    const("sqrt2", np.array(np.sqrt(2.0), np.float32))
    const("one", np.array(1.0, np.float32))
    const("half", np.array(0.5, np.float32))
    const("neg_big", np.array(-10000.0, np.float32))
    const("axes_12", np.array([1, 2], np.int64))
    const("zero_i", np.array(0, np.int64))
    const("one_i", np.array(1, np.int64))

    # embeddings: word + position + token type, then LayerNorm
    tok = node("Gather", [w("embeddings.word", VOCAB, HIDDEN), "input_ids"], name="emb.word")
    shp = node("Shape", ["input_ids"], name="emb.shape")
    seq = node("Gather", [shp, "one_i"], name="emb.seq", axis=0)
    pos_ids = node("Range", ["zero_i", seq, "one_i"], name="emb.range")
    pos = node("Gather", [w("embeddings.position", MAXPOS, HIDDEN), pos_ids], name="emb.pos")
    typ = node("Gather", [w("embeddings.token_type", 2, HIDDEN), "zero_i"], name="emb.type")
    x = node("Add", [node("Add", [tok, pos], name="emb.add1"), typ], name="emb.add2")
    x = layernorm(x, "embeddings.layernorm")

    # additive mask from attention_mask [B, S] -> [B, 1, 1, S]
    m = node("Cast", ["attention_mask"], name="mask.cast", to=TensorProto.FLOAT)
    m = node("Unsqueeze", [m, "axes_12"], name="mask.unsqueeze")
    m = node("Sub", ["one", m], name="mask.invert")
    mask = node("Mul", [m, "neg_big"], name="mask.scale")

    for i in range(LAYERS):
        p = f"layer.{i}"
        heads = {}
        for k in ("query", "key", "value"):
            y = linear(x, f"{p}.attention.{k}", HIDDEN, HIDDEN)
            y = node("Reshape", [y, "shape_heads"], name=f"{p}.attention.{k}.reshape")
            perm = [0, 2, 3, 1] if k == "key" else [0, 2, 1, 3]
            heads[k] = node("Transpose", [y], name=f"{p}.attention.{k}.transpose", perm=perm)
        s = node("MatMul", [heads["query"], heads["key"]], name=f"{p}.attention.scores")
        s = node("Mul", [s, "scale"], name=f"{p}.attention.scale")
        s = node("Add", [s, mask], name=f"{p}.attention.mask")
        s = node("Softmax", [s], name=f"{p}.attention.softmax", axis=-1)
        c = node("MatMul", [s, heads["value"]], name=f"{p}.attention.context")
        c = node("Transpose", [c], name=f"{p}.attention.context.transpose", perm=[0, 2, 1, 3])
        c = node("Reshape", [c, "shape_merge"], name=f"{p}.attention.context.reshape")
        a = linear(c, f"{p}.attention.output", HIDDEN, HIDDEN)
        x = layernorm(node("Add", [a, x], name=f"{p}.attention.residual"),
                      f"{p}.attention.layernorm")
        h = linear(x, f"{p}.intermediate", HIDDEN, FFN)
        # GELU(h) = 0.5 * h * (1 + erf(h / sqrt 2))
        g = node("Erf", [node("Div", [h, "sqrt2"], name=f"{p}.gelu.div")], name=f"{p}.gelu.erf")
        g = node("Add", [g, "one"], name=f"{p}.gelu.add")
        g = node("Mul", [node("Mul", [h, g], name=f"{p}.gelu.mul1"), "half"],
                 name=f"{p}.gelu.mul2")
        o = linear(g, f"{p}.output", FFN, HIDDEN)
        x = layernorm(node("Add", [o, x], name=f"{p}.output.residual"), f"{p}.output.layernorm")
    nodes.append(helper.make_node("Identity", [x], ["last_hidden_state"], name="output"))

    graph = helper.make_graph(
        nodes, "bert_base_like",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "seq"]),
         helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "seq"])],
        [helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT,
                                       ["batch", "seq", HIDDEN])],
        inits)
    model = helper.make_model(graph, ir_version=10, producer_name="onnxkit-benchmarks",
                              opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)  # without full_check: a 435 MB proto is fine here
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    onnx.save(model, tmp)
    os.replace(tmp, path)


def verify_model(path: str = MODEL) -> None:
    """Run the model once in onnxruntime, to show it is a real, working model."""
    import numpy as np
    import onnxruntime as ort

    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    ids = np.random.default_rng(0).integers(0, VOCAB, (1, 128), dtype=np.int64)
    out = sess.run(None, {"input_ids": ids, "attention_mask": np.ones_like(ids)})[0]
    assert out.shape == (1, 128, HIDDEN) and np.isfinite(out).all(), out.shape


# ---------------------------------------------------------------- the children

# Each snippet runs in a fresh interpreter with `path` and `out` set; it prints
# "T=<seconds>" for the measured call.  Only the library measured is imported.
CHILDREN = {
    "load/onnx": """
import onnx
t = time.perf_counter(); m = onnx.load(path); t = time.perf_counter() - t
""",
    "load/onnxkit": """
import onnxkit
t = time.perf_counter(); m = onnxkit.load(path); t = time.perf_counter() - t
""",
    "load+touch/onnx": """
import onnx
t = time.perf_counter()
m = onnx.load(path)
n = m.graph.node[len(m.graph.node) // 2]
w = next(i for i in m.graph.initializer if i.name == "embeddings.word")
info = (n.op_type, list(n.input), tuple(w.dims), len(m.graph.initializer))
t = time.perf_counter() - t
assert info[0] and info[2] == (30522, 768), info
""",
    "load+touch/onnxkit": """
import onnxkit
t = time.perf_counter()
m = onnxkit.load(path)
nodes = list(m.graph)
n = nodes[len(nodes) // 2]
info = (n.op_type, [v.name for v in n.inputs],
        m.graph.initializers["embeddings.word"].const_value.shape, len(m.graph.initializers))
t = time.perf_counter() - t
assert info[0] and info[2] == (30522, 768), info
""",
    "save/onnx": """
import onnx
m = onnx.load(path)
t = time.perf_counter(); onnx.save(m, out); t = time.perf_counter() - t
""",
    "save/onnxkit": """
import onnxkit
m = onnxkit.load(path)
t = time.perf_counter(); onnxkit.save(m, out); t = time.perf_counter() - t
""",
    "serialize/onnx": """
import onnx
m = onnx.load(path)
t = time.perf_counter(); b = m.SerializeToString(); t = time.perf_counter() - t
assert len(b) == os.path.getsize(path)
""",
    "serialize/onnxkit": """
import onnxkit
m = onnxkit.load(path)
t = time.perf_counter(); b = onnxkit.to_bytes(m); t = time.perf_counter() - t
assert len(b) == os.path.getsize(path)
""",
    "load+serialize/onnx": """
import onnx
t = time.perf_counter(); b = onnx.load(path).SerializeToString(); t = time.perf_counter() - t
""",
    "load+serialize/onnxkit": """
import onnxkit
t = time.perf_counter(); b = onnxkit.to_bytes(onnxkit.load(path)); t = time.perf_counter() - t
""",
    "import/onnx": """
t = time.perf_counter(); import onnx; t = time.perf_counter() - t
""",
    "import/onnxkit": """
t = time.perf_counter(); import onnxkit; t = time.perf_counter() - t
""",
}

ROWS = [
    ("import", "import the library"),
    ("load", "load (the call)"),
    ("load+touch", "load + touch a node and an initializer's shape"),
    ("save", "save (the call; model loaded by the same library)"),
    ("serialize", "serialize to bytes (SerializeToString / to_bytes)"),
    ("load+serialize", "load + serialize to bytes"),
]

_PRELUDE = "import os, sys, time\npath, out = sys.argv[1], sys.argv[2]\n"
_EPILOGUE = """
print(f'T={t:.6f}', flush=True)
with open('/proc/self/status') as _f:  # RSS split: private (anon) vs mapped file pages
    print(''.join(l for l in _f if l.startswith(('RssAnon', 'RssFile'))), flush=True)
"""


def run_child(key: str, path: str, out: str) -> dict:
    code = _PRELUDE + CHILDREN[key] + _EPILOGUE
    cmd = ["/usr/bin/time", "-v", sys.executable, "-c", code, path, out]
    env = dict(os.environ, PYTHONHASHSEED="0", OMP_NUM_THREADS="1")
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if p.returncode != 0:
        raise RuntimeError(f"{key} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
    t = float(re.search(r"^T=([\d.]+)$", p.stdout, re.M).group(1))
    rss_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", p.stderr).group(1))
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([\d:.]+)", p.stderr).group(1)
    secs = 0.0
    for part in wall.split(":"):
        secs = secs * 60 + float(part)
    anon = re.search(r"^RssAnon:\s+(\d+) kB", p.stdout, re.M)
    file = re.search(r"^RssFile:\s+(\d+) kB", p.stdout, re.M)
    return {"call": t, "wall": secs, "rss": rss_kb / 1024,
            "anon": int(anon.group(1)) / 1024 if anon else float("nan"),
            "file": int(file.group(1)) / 1024 if file else float("nan")}


def measure(key: str, path: str, repeat: int) -> dict:
    out = os.path.join(OUT, "_saved.onnx")
    runs = []
    for _ in range(repeat):
        runs.append(run_child(key, path, out))
        if os.path.exists(out):
            os.unlink(out)
    return {k: statistics.median(r[k] for r in runs) for k in runs[0]}


def _fmt_t(s: float) -> str:
    return f"{s * 1000:.1f} ms" if s < 10 else f"{s:.2f} s"


def _ratio(a: float, b: float) -> str:
    if b <= 0:
        return "-"
    r = a / b
    return f"{r:.1f}x" if r >= 10 else f"{r:.2f}x"


def table(results: dict, model: str, repeat: int) -> str:
    lines = [
        f"Model: {model}. Median of {repeat} fresh processes; "
        "warm page cache. 'call' = time.perf_counter around the call in the child, "
        "'process' = whole process wall time (interpreter start, imports, call, exit), "
        "'RSS' = peak resident set size (/usr/bin/time -v). Ratio = onnx / onnxkit "
        "(time: > 1 means onnxkit is faster; RSS: onnxkit / onnx). 'RSS after' splits the "
        "resident memory just after the call into private memory (anon) and pages of "
        "memory-mapped files (file: clean page cache shared with the OS, which the kernel maps "
        "in large folios around every byte touched, so reading a tensor's header maps ~0.6 MB "
        "of its data without reading it).",
        "",
        "| operation | onnx | onnxkit | ratio |",
        "| --- | ---: | ---: | ---: |",
    ]
    for key, label in ROWS:
        a, b = results.get(f"{key}/onnx"), results.get(f"{key}/onnxkit")
        if a is None or b is None:
            continue
        lines.append(f"| {label}: call time | {_fmt_t(a['call'])} | {_fmt_t(b['call'])} | "
                     f"{_ratio(a['call'], b['call'])} faster |")
        if key == "import":
            continue
        lines.append(f"| {label}: process wall | {_fmt_t(a['wall'])} | {_fmt_t(b['wall'])} | "
                     f"{_ratio(a['wall'], b['wall'])} faster |")
        lines.append(f"| {label}: peak RSS | {a['rss']:.0f} MB | {b['rss']:.0f} MB | "
                     f"{_ratio(b['rss'], a['rss'])} |")
        lines.append(f"| {label}: RSS after, anon + file | {a['anon']:.0f} + {a['file']:.0f} MB | "
                     f"{b['anon']:.0f} + {b['file']:.0f} MB | "
                     f"{_ratio(b['anon'], a['anon'])} (anon) |")
    return "\n".join(lines) + "\n"


def check_outputs(path: str) -> str:
    """Save once with each library and compare the files (in a child: memory)."""
    code = """
import hashlib, os, sys, onnx, onnxkit
path, out = sys.argv[1], sys.argv[2]
a, b = out + ".onnx.onnx", out + ".onnxkit.onnx"
onnx.save(onnx.load(path), a)
onnxkit.save(onnxkit.load(path), b)
def digest(p):
    h = hashlib.sha256()
    with open(p, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 24), b""):
            h.update(chunk)
    return h.hexdigest()
same = digest(a) == digest(b) == digest(path)
data = onnxkit.to_bytes(onnxkit.load(path))
same_bytes = hashlib.sha256(data).hexdigest() == digest(path)
os.unlink(a); os.unlink(b)
print(f"onnx.save, onnxkit.save and the original file are byte-identical: {same}; "
      f"onnxkit.to_bytes equals the file: {same_bytes}")
"""
    p = subprocess.run([sys.executable, "-c", code, path, os.path.join(OUT, "_check")],
                       capture_output=True, text=True)
    if p.returncode != 0:
        return f"output check failed:\n{p.stderr[-2000:]}"
    return p.stdout.strip()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--rebuild", action="store_true", help="build the model again")
    ap.add_argument("--verify", action="store_true", help="run the model once in onnxruntime")
    ap.add_argument("--only", default="", help="comma-separated row keys (load,save,...)")
    ap.add_argument("--model", default=MODEL, help="measure this .onnx file instead")
    args = ap.parse_args(argv)
    path = args.model
    if path == MODEL and (args.rebuild or not os.path.exists(MODEL)):
        t = time.perf_counter()
        print(f"building {MODEL} ...", flush=True)
        build_model(MODEL)
        print(f"  built in {time.perf_counter() - t:.1f} s", flush=True)
    if args.verify:
        verify_model(path)
        print("onnxruntime runs the model", flush=True)
    size_mb = os.path.getsize(path) / 1e6
    with open(path, "rb") as f:  # into the page cache
        while f.read(1 << 24):
            pass
    only = {k for k in args.only.split(",") if k}
    results = {}
    for key in CHILDREN:
        if only and key.split("/")[0] not in only:
            continue
        results[key] = r = measure(key, path, args.repeat)
        print(f"{key:24s} call {_fmt_t(r['call']):>10s}  process {_fmt_t(r['wall']):>10s}  "
              f"peak RSS {r['rss']:5.0f} MB (after: anon {r['anon']:.0f}, file {r['file']:.0f})",
              flush=True)
    if path == MODEL:
        desc = (f"{os.path.basename(path)}, {size_mb:.0f} MB, BERT-base-sized ({LAYERS} layers, "
                f"hidden {HIDDEN}, FFN {FFN})")
    else:
        desc = f"{os.path.basename(path)}, {size_mb:.0f} MB"
    text = table(results, desc, args.repeat)
    if not only or "save" in only:
        text += "\n" + check_outputs(path) + "\n"
    print()
    print(text)
    os.makedirs(OUT, exist_ok=True)
    name = "load_speed.md" if path == MODEL else \
        os.path.splitext(os.path.basename(path))[0] + "_load_speed.md"
    with open(os.path.join(OUT, name), "w") as f:
        f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
