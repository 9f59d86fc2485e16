"""How long ``onnxkit diff`` takes on a BERT-base model (~440 MB of weights as
external data), and which weights it reads.

    python benchmarks/diff_speed.py [--small] [--rebuild]

Builds once (cached in benchmarks/_out/diff/): BERT-base (transformers'
default BertConfig: 12 layers, hidden 768, 30522-token vocabulary, random
weights, nothing downloaded) exported by ``torch.onnx.export`` (opset 17) with
its weights in one external-data file; a byte copy of it in another folder;
a second checkpoint (every float weight perturbed); ``onnxkit.optimize`` of
it at the runtime level.  ``--small`` uses a 2-layer, hidden-64 BERT instead
(seconds: to see that the script works).

Each case diffs two files from scratch (load included) in this process and
reports the wall time, how many tensors' bytes were read and how many
weights were compared by value; the issue's reach is < 3 s per case on
BERT-base, with a model against itself read not at all.  Prints a markdown
table and the summary of BERT against its optimized form, and writes both to
benchmarks/_out/diff_speed.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "_out", "diff")
sys.path.insert(0, os.path.join(HERE, "..", "src"))


def _export(folder: str, small: bool) -> str:
    import torch
    import transformers

    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, "bert.onnx")
    torch.manual_seed(0)
    cfg = transformers.BertConfig() if not small else transformers.BertConfig(
        vocab_size=1000, hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=128, max_position_embeddings=64)
    model = transformers.BertModel(cfg).eval()

    class Wrapper(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask):
            return self.model(input_ids=input_ids, attention_mask=attention_mask, return_dict=False)[0]

    args = (torch.randint(0, cfg.vocab_size, (1, 8)), torch.ones(1, 8, dtype=torch.int64))
    tmp = os.path.join(folder, "raw.onnx")
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(Wrapper().eval(), args, tmp, dynamo=False, opset_version=17,
                          input_names=["input_ids", "attention_mask"], output_names=["out"],
                          dynamic_axes={"input_ids": {0: "b", 1: "s"}, "attention_mask": {0: "b", 1: "s"},
                                        "out": {0: "b"}})
    import onnxkit
    onnxkit.save(onnxkit.load(tmp), path, external_data=True)
    for f in os.listdir(folder):
        if f.startswith("raw.onnx") or (f != "bert.onnx" and not f.startswith("bert.onnx")):
            os.remove(os.path.join(folder, f))
    return path


def build(small: bool, rebuild: bool) -> dict[str, str]:
    import numpy as np

    import onnxkit
    from onnxkit.ir import Tensor

    root = os.path.join(OUT, "small" if small else "base")
    paths = {k: os.path.join(root, k, "bert.onnx") for k in ("a", "copy", "checkpoint", "optimized")}
    if not rebuild and all(os.path.exists(p) for p in paths.values()):
        return paths
    shutil.rmtree(root, ignore_errors=True)
    print("building the models (once) ...", flush=True)
    a = _export(os.path.join(root, "a"), small)
    shutil.copytree(os.path.dirname(a), os.path.join(root, "copy"))
    m = onnxkit.load(a)
    rng = np.random.default_rng(1)
    for name, v in m.graph.initializers.items():
        arr = v.const_value.numpy()
        if arr.dtype == np.float32 and arr.size > 1:
            v.const_value = Tensor(arr + rng.normal(0, 1e-3, arr.shape).astype(np.float32), name)
    os.makedirs(os.path.join(root, "checkpoint"))
    onnxkit.save(m, paths["checkpoint"], external_data=True)
    os.makedirs(os.path.join(root, "optimized"))
    onnxkit.save(onnxkit.optimize(onnxkit.load(a), "runtime"), paths["optimized"], external_data=True)
    return paths


def measure(a: str, b: str, weights: bool = True):
    """(seconds, tensors read, weights compared by value, the diff)."""
    import onnxkit
    from onnxkit.ir import ExternalTensor, ProtoTensor

    read: set[int] = set()
    real_ext, real_proto = ExternalTensor.raw_view, ProtoTensor.raw_view

    def ext(self):
        read.add(id(self))
        return real_ext(self)

    def proto(self):
        read.add(id(self))
        return real_proto(self)

    ExternalTensor.raw_view, ProtoTensor.raw_view = ext, proto
    try:
        t0 = time.perf_counter()
        d = onnxkit.diff(a, b, weights=weights)
        seconds = time.perf_counter() - t0
    finally:
        ExternalTensor.raw_view, ProtoTensor.raw_view = real_ext, real_proto
    valued = sum(1 for w in d.weights if w["status"] == "changed")
    return seconds, len(read), valued, d


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--small", action="store_true", help="a 2-layer BERT (checks that the script works)")
    ap.add_argument("--rebuild", action="store_true", help="export the models again")
    args = ap.parse_args()
    paths = build(args.small, args.rebuild)
    import onnxkit.diff  # noqa: F401  (imports are not what is measured)
    size = sum(os.path.getsize(os.path.join(os.path.dirname(paths["a"]), f))
               for f in os.listdir(os.path.dirname(paths["a"])))
    cases = [("a model and itself (one path)", paths["a"], paths["a"], True),
             ("a model and its byte copy", paths["a"], paths["copy"], True),
             ("two checkpoints", paths["a"], paths["checkpoint"], True),
             ("two checkpoints, --no-weights", paths["a"], paths["checkpoint"], False),
             ("a model and optimize(model, 'runtime')", paths["a"], paths["optimized"], True)]
    rows = [f"BERT {'(small)' if args.small else 'base'}: {size / 2**20:.0f} MiB on disk (A)", "",
            "| case | seconds | tensors read | weights that differ | equal |",
            "|---|---:|---:|---:|---|"]
    summary = ""
    for title, a, b, weights in cases:
        seconds, read, valued, d = measure(a, b, weights)
        rows.append(f"| {title} | {seconds:.2f} | {read} | {valued} | {d.equal} |")
        if "optimize" in title:
            summary = d.summary()
    text = "\n".join(rows) + "\n\nBERT against optimize(BERT, 'runtime'):\n\n```\n" + summary + "```\n"
    print(text)
    os.makedirs(os.path.join(HERE, "_out"), exist_ok=True)
    name = "diff_speed_small.md" if args.small else "diff_speed.md"
    with open(os.path.join(HERE, "_out", name), "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
