"""Full-size real models through onnxkit: BERT-base and GPT-2 (124M).

    python benchmarks/real_models.py [--models bert,gpt2] [--exporter torchscript|dynamo]
                                     [--repeat 3] [--reexport] [--no-timing]

Exports (once, cached in benchmarks/_out/) transformers' BertModel (BERT-base
config: 12 layers, hidden 768) and GPT2LMHeadModel (GPT-2 small config, 124M)
with random weights (nothing is downloaded) through ``torch.onnx.export``, at
batch 1, sequence 128, with dynamic batch and sequence axes.  Then, for each:

* lossless round trip: ``onnxkit.to_bytes(onnxkit.load(p))`` is the file, byte
  for byte, and ``onnxkit.save`` writes the same bytes;
* external data: the model saved by onnx with every tensor in one external file
  loads in onnxkit and serializes to what ``onnx.load`` gives; onnxkit's own
  external-data save loads in onnx as the same model;
* onnxruntime gives identical outputs on the file and on onnxkit's bytes;
* the load/save timings of ``load_speed.py`` on that file (fresh processes,
  ``/usr/bin/time -v``, median of --repeat).

The exporter ``torchscript`` is ``dynamo=False`` with ``dynamic_axes``;
``dynamo`` is ``dynamo=True`` with ``dynamic_shapes`` and needs the onnxscript
package.  This is for humans, not CI: it takes several minutes.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import load_speed  # noqa: E402

OUT = load_speed.OUT
SEQ = 128


def export(name: str, exporter: str, path: str) -> None:
    import torch
    import transformers as T

    torch.manual_seed(0)
    if name == "bert":
        model = T.BertModel(T.BertConfig())  # bert-base-uncased's shape
        vocab = model.config.vocab_size
    elif name == "gpt2":
        model = T.GPT2LMHeadModel(T.GPT2Config(use_cache=False))  # gpt2 (124M)
        vocab = model.config.vocab_size
    else:
        raise ValueError(name)

    class Wrapper(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, input_ids, attention_mask):
            return self.m(input_ids=input_ids, attention_mask=attention_mask,
                          use_cache=False, return_dict=False)[0]

    w = Wrapper(model.eval()).eval()
    args = (torch.randint(0, vocab, (1, SEQ)), torch.ones(1, SEQ, dtype=torch.int64))
    names = ["input_ids", "attention_mask"]
    tmp = path + ".tmp"
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        if exporter == "torchscript":
            axes = {n: {0: "batch", 1: "seq"} for n in names}
            axes["out"] = {0: "batch", 1: "seq"}
            torch.onnx.export(w, args, tmp, dynamo=False, input_names=names, output_names=["out"],
                              dynamic_axes=axes, opset_version=17)
        else:
            b = torch.export.Dim("batch", min=1, max=64)
            s = torch.export.Dim("seq", min=2, max=512)
            torch.onnx.export(w, args, tmp, dynamo=True, input_names=names, output_names=["out"],
                              dynamic_shapes={n: {0: b, 1: s} for n in names},
                              external_data=False)
    os.replace(tmp, path)


def _digest(path: str) -> str:
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 24), b""):
            h.update(chunk)
    return h.hexdigest()


def check(path: str, vocab: int) -> list[str]:
    """The round-trip and onnxruntime checks; returns lines of findings."""
    import numpy as np
    import onnx
    import onnxruntime as ort

    import onnxkit

    notes = []

    def ok(what: str, cond: bool) -> None:
        notes.append(f"{'PASS' if cond else 'FAIL'}  {what}")
        print(notes[-1], flush=True)

    want = onnx.load(path)
    m = onnxkit.load(path)
    data = onnxkit.to_bytes(m)
    with open(path, "rb") as f:
        ok("to_bytes(load(p)) is the file, byte for byte", data == f.read())
    ok("onnx.load_from_string(to_bytes(load(p))) == onnx.load(p)",
       onnx.load_from_string(data) == want)
    work = tempfile.mkdtemp(dir=OUT, prefix="_check-")
    try:
        p1 = os.path.join(work, "copy.onnx")
        onnxkit.save(m, p1)
        ok("onnxkit.save writes the same bytes", _digest(p1) == _digest(path))
        os.unlink(p1)

        # external data written by onnx
        ext_dir = os.path.join(work, "ext")
        os.mkdir(ext_dir)
        pe = os.path.join(ext_dir, "model.onnx")
        onnx.save(onnx.load(path), pe, save_as_external_data=True, all_tensors_to_one_file=True,
                  location="model.weights", size_threshold=0)
        want_ext = onnx.load(pe)
        me = onnxkit.load(pe)
        ok("external (onnx-written): to_bytes(load) == onnx.load",
           onnx.load_from_string(onnxkit.to_bytes(me)) == want_ext)
        out_dir = os.path.join(work, "out")
        os.mkdir(out_dir)
        p2 = os.path.join(out_dir, "again.onnx")
        onnxkit.save(me, p2, external_data=True, size_threshold=0)
        ok("external (onnxkit-written): onnx.load equals", onnx.load(p2) == want_ext)
        del me, want_ext

        # onnxruntime
        so = ort.SessionOptions()
        ref = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
        new = ort.InferenceSession(data, so, providers=["CPUExecutionProvider"])
        rng = np.random.default_rng(0)
        same = True
        for batch, seq in [(1, SEQ), (2, 37)]:
            feeds = {"input_ids": rng.integers(0, vocab, (batch, seq), dtype=np.int64),
                     "attention_mask": np.ones((batch, seq), np.int64)}
            for a, b in zip(ref.run(None, feeds), new.run(None, feeds)):
                same = same and a.shape == b.shape and np.array_equal(a, b)
        ok("onnxruntime: identical outputs on the file and on onnxkit's bytes", same)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return notes


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="bert,gpt2")
    ap.add_argument("--exporter", default="torchscript", choices=["torchscript", "dynamo"])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--reexport", action="store_true")
    ap.add_argument("--no-timing", action="store_true")
    args = ap.parse_args(argv)
    os.makedirs(OUT, exist_ok=True)
    report = []
    for name in [n for n in args.models.split(",") if n]:
        path = os.path.join(OUT, f"{name}-{args.exporter}.onnx")
        if args.reexport or not os.path.exists(path):
            t = time.perf_counter()
            print(f"exporting {name} with {args.exporter} ...", flush=True)
            export(name, args.exporter, path)
            print(f"  exported in {time.perf_counter() - t:.1f} s", flush=True)
        size = os.path.getsize(path) / 1e6
        report.append(f"## {name} ({args.exporter} exporter), {size:.0f} MB\n")
        vocab = 30522 if name == "bert" else 50257
        report += check(path, vocab)
        if not args.no_timing:
            results = {}
            for key in load_speed.CHILDREN:
                if key.startswith("load+touch") or key.startswith("import"):
                    continue  # the touch snippets know the synthetic model's names
                results[key] = r = load_speed.measure(key, path, args.repeat)
                print(f"{key:24s} call {load_speed._fmt_t(r['call']):>10s}  "
                      f"process {load_speed._fmt_t(r['wall']):>10s}  "
                      f"peak RSS {r['rss']:7.0f} MB", flush=True)
            text = load_speed.table(results, f"{os.path.basename(path)}, {size:.0f} MB",
                                    args.repeat)
            report += ["", text]
        report.append("")
    text = "\n".join(report)
    print()
    print(text)
    with open(os.path.join(OUT, f"real_models-{args.exporter}.md"), "w") as f:
        f.write(text)
    return 0 if "FAIL" not in text else 1


if __name__ == "__main__":
    sys.exit(main())
