"""How fast `onnxkit view` writes a page and how fast the page opens.

    python benchmarks/view_speed.py                  # BERT-base, GPT-2, ResNet-50, 20,000 generated nodes
    python benchmarks/view_speed.py --models gen --gen-layers 20     # a quick look
    python benchmarks/view_speed.py --screenshots docs/img           # and the README's pictures

For each model: the seconds `python -m onnxkit view` takes end to end (a new
process: imports, load, shape inference, layout, writing), the page's size,
then in headless Chromium (Debian's, through Selenium): milliseconds from
navigation start until the page is drawn and answers clicks (the script sets
``window.onnxkitReady``), and for the generated model the milliseconds each
level takes to open (a click on the first closed group inside the last one
opened, until the new drawing is laid out).  Targets (issue 17): page written
< 2 s and interactive < 2 s for BERT and GPT-2; the 20,000-node model opens
< 3 s and every level opens < 1 s.  With BERT, also the diff page of BERT
against ``onnxkit optimize --level runtime`` of it: written, ready, and with
every group opened how many matched nodes stand side by side.

Models are exported by benchmarks/_models.py (cached in benchmarks/_out); the
generated model and the pages are written under /tmp/onnxkit-view-bench.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
WORK = "/tmp/onnxkit-view-bench"


def generated(layers: int, per_block: int = 12):
    """A transformer-like model: ``layers`` x 2 parts x 2 sub-blocks of
    ``per_block`` + 1 nodes, name scopes four deep (/model/layers.i/attn/a/Op_j)."""
    import numpy as np

    from onnxkit.ir import DataType, Graph, Model, Node, Tensor, TensorType, Value
    x = Value("x", TensorType(DataType.FLOAT, ["batch", 16]))
    one = Value("one", TensorType(DataType.FLOAT, [16]), const_value=Tensor(np.ones(16, np.float32), name="one"))
    h, nodes, k = x, [], 0
    ops = ["MatMul", "Add", "Mul", "Relu", "Sigmoid", "Add"]
    w = Value("w", TensorType(DataType.FLOAT, [16, 16]),
              const_value=Tensor(np.eye(16, dtype=np.float32), name="w"))
    for i in range(layers):
        for part in ("attn", "mlp"):
            for sub in ("q", "o"):
                start = h
                for j in range(per_block):
                    op = ops[j % len(ops)]
                    ins = [h, w] if op == "MatMul" else [h, one] if op in ("Add", "Mul") else [h]
                    n = Node(op, ins, [Value(f"v{k}")], name=f"/model/layers.{i}/{part}/{sub}/{op}_{j}")
                    nodes.append(n)
                    h, k = n.outputs[0], k + 1
                n = Node("Add", [h, start], [Value(f"v{k}")], name=f"/model/layers.{i}/{part}/{sub}/residual")
                nodes.append(n)
                h, k = n.outputs[0], k + 1
    y = Value("y", TensorType(DataType.FLOAT, ["batch", 16]))
    nodes.append(Node("Identity", [h], [y], name="/out"))
    return Model(Graph([x], [y], nodes, initializers=[one, w], name="generated"), ir_version=10,
                 opset_imports={"": 17})


def _browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    o = webdriver.ChromeOptions()
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1400,860"):
        o.add_argument(a)
    o.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    return webdriver.Chrome(service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver"), options=o)


_OPEN_NEXT = """
const last = arguments[0];
const keys = [...document.querySelectorAll('g.group:not(.open)[data-k]')].map(g => g.getAttribute('data-k'))
  .filter(k => (k + '.').startsWith(last)).sort((a, b) => a.length - b.length);
if (!keys.length) return null;
const t0 = performance.now();
document.querySelector(`g[data-k='${keys[0]}']`).dispatchEvent(new MouseEvent('click', {bubbles: true}));
document.body.getBoundingClientRect(); void document.querySelector('svg').getBBox();
return [keys[0], performance.now() - t0, document.querySelectorAll('g[data-k]').length];
"""


_ALIGN_ALL = """
const [a, b] = viewers;
for (const [k, p] of a.where) { const ps = p.split('.');
  for (let i = 1; i < ps.length; i++) { const q = ps.slice(0, i).join('.'); a.open.add(q);
    const t = a.twinOf(q); if (t !== null) b.open.add(t); } }
a.render();
let same = 0, shown = 0;
a.N.forEach((n, k) => {
  if (n.mt === undefined || !a.where.has(k) || !b.where.has(n.mt)) return;
  const la = a.locate(a.where.get(k)), lb = b.locate(b.where.get(n.mt));
  if (!la || !lb) return;
  shown++;
  if (Math.abs(la.x + la.w / 2 - lb.x - lb.w / 2) < 1 && Math.abs(la.y - lb.y) < 1) same++;
});
return [same, shown];
"""


def measure_page(d, path: str, levels: bool) -> dict:
    d.get("file://" + os.path.abspath(path))
    ready = d.execute_script("return window.onnxkitReady")
    boxes = d.execute_script("return document.querySelectorAll('g[data-k]').length")
    out = {"ready_ms": ready, "boxes": boxes}
    if levels:
        d.execute_script("document.querySelector('.closeall').click()")
        last, times = "", []
        while True:
            r = d.execute_script(_OPEN_NEXT, last)
            if r is None:
                break
            times.append(round(r[1], 1))
            last = r[0] + "."
        out["level_ms"] = times
    return out


def shoot(d, path: str, png: str, setup: str = "") -> None:
    from PIL import Image
    d.get("file://" + os.path.abspath(path))
    if setup:
        d.execute_script(setup)
    d.save_screenshot(png)
    if os.path.getsize(png) > 280_000:       # keep README pictures small
        Image.open(png).convert("RGB").quantize(colors=64).save(png, optimize=True)
    print(f"  screenshot {png}: {os.path.getsize(png) // 1024} KB")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default="bert,gpt2,resnet50,gen")
    ap.add_argument("--gen-layers", type=int, default=385, help="layers of the generated model (385: 20,021 nodes)")
    ap.add_argument("--screenshots", metavar="DIR", help="save view-bert.png, view-resnet50.png, diff-bert.png here")
    args = ap.parse_args()
    os.makedirs(WORK, exist_ok=True)
    import onnxkit
    paths = {}
    for name in filter(None, args.models.split(",")):
        if name == "gen":
            p = os.path.join(WORK, "generated.onnx")
            m = generated(args.gen_layers)
            onnxkit.save(m, p)
            print(f"generated model: {len(m.graph)} nodes")
            paths[name] = p
        else:
            from _models import get_model
            paths[name] = get_model(name)
    d = _browser()
    try:
        print(f"{'model':10} {'nodes':>6} {'write s':>8} {'MB':>5} {'ready ms':>9} {'boxes':>6}  levels (ms)")
        for name, p in paths.items():
            html = os.path.join(WORK, f"{name}.html")
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-m", "onnxkit", "view", p, "-o", html], check=True,
                           stdout=subprocess.DEVNULL)
            wall = time.perf_counter() - t0
            r = measure_page(d, html, levels=True)
            n = len(onnxkit.load(p).graph)
            print(f"{name:10} {n:6d} {wall:8.2f} {os.path.getsize(html) / 1e6:5.1f} {r['ready_ms']:9.0f} "
                  f"{r['boxes']:6d}  {r['level_ms']}")
        if "bert" in paths:
            # the diff page of BERT against its fused form: write, ready, and how many matched
            # nodes drawn on both sides (every group opened) sit at the same place
            bert = paths["bert"]
            opt = os.path.join(WORK, "bert-opt.onnx")
            subprocess.run([sys.executable, "-m", "onnxkit", "optimize", bert, opt, "--level", "runtime"],
                           check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            html = os.path.join(WORK, "diff-bert.html")
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-m", "onnxkit", "diff", bert, opt, "--html", html, "--no-weights"],
                           stdout=subprocess.DEVNULL)
            wall = time.perf_counter() - t0
            d.get("file://" + html)
            ready = d.execute_script("return window.onnxkitReady")
            t0 = time.perf_counter()
            same, shown = d.execute_script(_ALIGN_ALL)
            print(f"{'diff bert':10} {'':6} {wall:8.2f} {os.path.getsize(html) / 1e6:5.1f} {ready:9.0f} "
                  f"{'':6}  all opened in {1e3 * (time.perf_counter() - t0):.0f} ms: "
                  f"{same} of {shown} matched nodes side by side")
        if args.screenshots:
            os.makedirs(args.screenshots, exist_ok=True)
            from _models import get_model
            bert, resnet = get_model("bert"), get_model("resnet50")
            for name, p in (("bert", bert), ("resnet50", resnet)):
                html = os.path.join(WORK, f"shot-{name}.html")
                subprocess.run([sys.executable, "-m", "onnxkit", "view", p, "-o", html], check=True,
                               stdout=subprocess.DEVNULL)
                # BERT: one encoder layer opened, its LayerNorm selected
                # BERT: the attention of the first layer, its Softmax selected; ResNet: the second stage
                what = "/m/encoder/layer.0/attention/self/Softmax" if name == "bert" else \
                    "/blocks/blocks.3/body/body.1/body.1.0/Conv"
                setup = f"document.querySelector('.q').value = '{what}'; viewer.search('{what}', 1);"
                shoot(d, html, os.path.join(args.screenshots, f"view-{name}.png"), setup)
            opt = os.path.join(WORK, "bert-opt.onnx")
            subprocess.run([sys.executable, "-m", "onnxkit", "optimize", bert, opt, "--level", "runtime"], check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            html = os.path.join(WORK, "shot-diff.html")
            subprocess.run([sys.executable, "-m", "onnxkit", "diff", bert, opt, "--html", html, "--no-weights"],
                           stdout=subprocess.DEVNULL)
            # a node that a fusion removed, and on the right the fused node of the same layer
            setup = ("const v = viewers[0], w = viewers[1];"
                     "const k = v.N.findIndex(n => n.df === 'removed' && n.n.startsWith('/m/encoder/layer.0/attention/self/'));"
                     "if (k >= 0) v.select(k);"
                     "const j = w.N.findIndex(n => n.df === 'added' && n.n.includes('layer.0/attention'));"
                     "if (j >= 0) w.select(j);")
            shoot(d, html, os.path.join(args.screenshots, "diff-bert.png"), setup)
    finally:
        d.quit()


if __name__ == "__main__":
    main()
