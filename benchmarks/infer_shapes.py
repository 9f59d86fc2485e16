"""Shape inference on exported transformers: onnx.shape_inference vs onnxkit.

    python benchmarks/infer_shapes.py [--models bert,gpt2,llama] [--exporters dynamo,torchscript]
                                      [--reexport] [--repeat 3]

Exports (once, cached in benchmarks/_out/) transformers' BertModel (BERT-base
config) and GPT2LMHeadModel (GPT-2 small config), as real_models.py does, and
a LLaMA-style decoder (LlamaModel from a config: 4 layers, hidden 768,
grouped-query attention),
random weights, with dynamic batch and sequence, through ``torch.onnx.export``
both ``dynamo=True`` (``dynamic_shapes``) and ``dynamo=False``
(``dynamic_axes``).  Each file is stripped of its ``value_info`` (the
intermediate types the exporter wrote), then inferred by
``onnx.shape_inference.infer_shapes(data_prop=True)`` and by
``onnxkit.infer.infer_shapes``; the table gives the share of node outputs
fully shaped (every dim a number or a meaningful symbol; ``unk__N`` names
invented for unknown dims do not count) and the times: onnx's inference
(in memory), onnxkit's inference alone, and onnxkit's load + infer + save of
the stripped file (best of --repeat).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "_out")
sys.path.insert(0, HERE)
SEQ = 128


def export(name: str, exporter: str, path: str) -> None:
    """Export model ``name`` (bert, gpt2: real_models.py's full-size exports;
    llama: a LLaMA-style decoder) with ``exporter`` (dynamo or torchscript)."""
    if name != "llama":
        import real_models

        return real_models.export(name, exporter, path)
    import torch
    import transformers as T

    sys.path.insert(0, os.path.dirname(HERE))
    from tests._real_models import _TextWrapper

    torch.manual_seed(0)
    cfg = T.LlamaConfig(hidden_size=768, intermediate_size=2048, num_hidden_layers=4, num_attention_heads=12,
                        num_key_value_heads=4, max_position_embeddings=2048, vocab_size=32000,
                        use_cache=False, bos_token_id=0, eos_token_id=0)
    module = _TextWrapper(T.LlamaModel(cfg).eval()).eval()
    args = (torch.randint(0, cfg.vocab_size, (2, SEQ)), torch.ones(2, SEQ, dtype=torch.int64))
    names = ["input_ids", "attention_mask"]
    tmp = path + ".tmp"
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        if exporter == "torchscript":
            torch.onnx.export(module, args, tmp, dynamo=False, input_names=names, output_names=["out"],
                              dynamic_axes={n: {0: "batch", 1: "seq"} for n in [*names, "out"]},
                              opset_version=17)
        else:
            dims = {0: torch.export.Dim("batch", min=1, max=64), 1: torch.export.Dim("seq", min=2, max=512)}
            torch.onnx.export(module, args, tmp, dynamo=True, input_names=names, output_names=["out"],
                              dynamic_shapes={n: dims for n in names}, external_data=False)
    os.replace(tmp, path)


def strip(src: str, dst: str) -> None:
    """Save ``src`` without value_info (weights inline: one file)."""
    import onnx

    m = onnx.load(src)
    del m.graph.value_info[:]
    onnx.save(m, dst)


def onnx_shaped(model) -> tuple[int, int]:
    """(named node outputs, fully shaped ones) of an onnx ModelProto."""
    import onnx

    def graphs(g):
        yield g
        for n in g.node:
            for a in n.attribute:
                for sg in ([a.g] if a.type == onnx.AttributeProto.GRAPH else a.graphs):
                    yield from graphs(sg)

    total = shaped = 0
    for g in graphs(model.graph):
        types = {vi.name: vi.type for vi in list(g.value_info) + list(g.output)}
        for n in g.node:
            for o in n.output:
                if not o:
                    continue
                total += 1
                t = types.get(o)
                if t is None or t.WhichOneof("value") != "tensor_type":
                    continue
                tt = t.tensor_type
                if tt.elem_type and tt.HasField("shape") and all(
                        d.HasField("dim_value") or (d.dim_param and not d.dim_param.startswith("unk__"))
                        for d in tt.shape.dim):
                    shaped += 1
    return total, shaped


def measure(path: str, repeat: int = 1) -> dict:
    """Both inferences on the stripped file ``path``: counts and times."""
    import onnx

    import onnxkit
    from onnxkit.infer import infer

    r: dict = {}
    proto = onnx.load(path)
    t = time.perf_counter()
    inferred = onnx.shape_inference.infer_shapes(proto, data_prop=True)
    r["onnx_s"] = time.perf_counter() - t
    r["values"], r["onnx_shaped"] = onnx_shaped(inferred)
    del proto, inferred
    out = path.replace(".onnx", ".inferred.onnx")
    r["infer_s"] = r["total_s"] = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        m = onnxkit.load(path)
        t1 = time.perf_counter()
        report = infer(m)
        t2 = time.perf_counter()
        onnxkit.save(m, out)
        t3 = time.perf_counter()
        r["infer_s"] = min(r["infer_s"], t2 - t1)
        r["total_s"] = min(r["total_s"], t3 - t0)
    r["ours_values"], r["ours_shaped"] = report.values, report.shaped
    r["problems"] = len(report.problems)
    r["no_rule"] = report.no_rule
    # what onnxkit wrote is what onnx reads back
    r["saved_shaped"] = onnx_shaped(onnx.load(out, load_external_data=False))[1]
    os.remove(out)
    return r


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default="bert,gpt2,llama")
    ap.add_argument("--exporters", default="dynamo,torchscript")
    ap.add_argument("--reexport", action="store_true")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    os.makedirs(OUT, exist_ok=True)
    rows = []
    for name in args.models.split(","):
        for exporter in args.exporters.split(","):
            path = os.path.join(OUT, f"{name}-{exporter}.onnx")
            if args.reexport or not os.path.exists(path):
                print(f"exporting {name} ({exporter}) ...", file=sys.stderr, flush=True)
                export(name, exporter, path)
            stripped = os.path.join(OUT, f"{name}-{exporter}.stripped.onnx")
            if args.reexport or not os.path.exists(stripped) \
                    or os.path.getmtime(stripped) < os.path.getmtime(path):
                strip(path, stripped)
            print(f"measuring {name} ({exporter}) ...", file=sys.stderr, flush=True)
            r = measure(stripped, args.repeat)
            rows.append((name, exporter, r))
            if r["no_rule"] or r["problems"]:
                print(f"  no rule: {r['no_rule']}; problems: {r['problems']}", file=sys.stderr)
    print("| model | exporter | values | onnx fully shaped | onnxkit fully shaped | onnx infer | "
          "onnxkit infer | onnxkit load+infer+save |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for name, exporter, r in rows:
        n = r["values"]
        print(f"| {name} | {exporter} | {n} | {100 * r['onnx_shaped'] / n:.1f}% | "
              f"{100 * r['ours_shaped'] / n:.1f}% | {r['onnx_s']:.2f} s | {r['infer_s']:.2f} s | "
              f"{r['total_s']:.2f} s |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
