"""Quantization: onnxkit.quantize side by side with onnxruntime.quantization.

    python benchmarks/quantize.py [--small] [--only dynamic,static,weight-only,memory,sensitivity]
        [--samples 64] [--rounds 10] [--target 0.995] [--out DIR]

Same models, same data, same machine:

* dynamic: BERT-base (transformers config, random weights, sequence 128)
  through ``onnxkit.quantize(mode="dynamic")`` and
  ``onnxruntime.quantization.quantize_dynamic`` (QInt8 weights);
* static: ResNet-50 and MobileNetV2 (plain torch, BatchNorm folded by both)
  through ``mode="static"`` (QDQ, per channel) and ``quantize_static`` (QDQ,
  per channel, QInt8 weights, QUInt8 activations), both calibrated with MinMax
  on the same ``--samples`` images; and the calibration peak memory of BERT-base
  with percentile calibration over 256 samples;
* weight-only: a LLaMA-style decoder with its LM head (transformers
  ``LlamaForCausalLM``, random weights), int4 blocks of 32, against
  onnxruntime's ``MatMulNBitsQuantizer`` (int4, block 32, asymmetric; its QOperator
  form, MatMulNBits: its QDQ form raises the opset without converting the nodes);
  and onnxkit again with ``accuracy_target=--target`` (the 4-bit weights that
  cost the most raised to 8 bits, measured on 8 calibration inputs); the
  weights raised are printed.

What is measured
----------------
* "quantize s": wall time from the float file to the quantized file written
  (loading, calibration, writing included), in this process, once.
* "latency ms": onnxruntime (``intra_op_num_threads=2``, no spinning) on the
  float model and both quantized ones, run round-robin (the order rotates
  each round) for ``--rounds`` rounds after two warm-up runs; the median.
* "cosine": the cosine similarity of the output to float's (last hidden
  state, logits of the last position for the decoder), averaged over inputs
  not used for calibration (dynamic: ``--samples`` inputs).
* sensitivity (``--only sensitivity``, not run by default): the time of the
  per-node sensitivities of static quantization on the small ResNet-50,
  onnxkit's way against a Session per node, printed (not in the table).
* "calib peak MB": the peak resident set size of a fresh child process that
  imports the libraries, then loads the model, calibrates and quantizes (file
  to file); the RSS after the imports is subtracted, so the figure is what
  loading and calibrating add.  Percentile and MinMax calibration, both tools.
  onnxruntime keeps every intermediate output of every sample until its
  histograms are computed; onnxkit merges each sample into fixed-size
  histograms and drops it.

``--small`` runs the same comparisons on the small configs the tests use
(seconds, for checking that the script works; the figures mean little).
Results are printed and written to ``DIR/quantize.md`` (DIR: --out, default
benchmarks/_out).  Timings are meaningful only on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "src"))
sys.path.insert(0, HERE)


# ----------------------------------------------------------------- models
def _export(module, args, path, names, axes, out_names=("out",)):
    import torch

    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, args, path, dynamo=False, input_names=names, output_names=list(out_names),
                          dynamic_axes=axes, opset_version=17)
    return path


def bert(folder: str, small: bool) -> tuple[str, int, int]:
    """(path, vocab, sequence)."""
    if not small:
        from _models import get_model
        return get_model("bert"), 30000, 128
    import torch
    import transformers as T

    path = os.path.join(folder, "bert-small.onnx")
    if not os.path.exists(path):
        torch.manual_seed(0)
        m = T.BertModel(T.BertConfig(vocab_size=1000, hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
                                     intermediate_size=128, max_position_embeddings=64),
                        add_pooling_layer=False).eval()

        class Text(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.m = m

            def forward(self, ids, mask):
                return self.m(input_ids=ids, attention_mask=mask, return_dict=False)[0]
        _export(Text().eval(), (torch.randint(0, 1000, (1, 16)), torch.ones(1, 16, dtype=torch.int64)), path,
                ["input_ids", "attention_mask"], {"input_ids": {0: "b", 1: "s"}, "attention_mask": {0: "b", 1: "s"}})
    return path, 1000, 16


def cnn(name: str, folder: str, small: bool) -> tuple[str, int]:
    """(path, image size)."""
    if not small:
        from _models import get_model
        return get_model(name), 224
    import torch
    from _models import _randomize_bn, _torch_models

    path = os.path.join(folder, f"{name}-small.onnx")
    if not os.path.exists(path):
        torch.manual_seed(0)
        _, ResNet50, MobileNetV2 = _torch_models()
        m = _randomize_bn(ResNet50(10) if name == "resnet50" else MobileNetV2(10)).eval()
        _export(m, (torch.randn(1, 3, 64, 64),), path, ["pixels"], {"pixels": {0: "batch"}})
    return path, 64


def decoder(folder: str, small: bool) -> tuple[str, int, int]:
    """(path, vocab, sequence): LlamaForCausalLM, logits out."""
    import torch
    import transformers as T

    size = "small" if small else "base"
    path = os.path.join(folder, f"llama-{size}.onnx")
    vocab, seq = (1000, 16) if small else (32000, 64)
    if not os.path.exists(path):
        torch.manual_seed(0)
        if small:
            cfg = T.LlamaConfig(vocab_size=vocab, hidden_size=128, intermediate_size=256, num_hidden_layers=2,
                                num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
                                bos_token_id=0, eos_token_id=0, use_cache=False)
        else:
            cfg = T.LlamaConfig(vocab_size=vocab, hidden_size=1024, intermediate_size=2816, num_hidden_layers=8,
                                num_attention_heads=16, num_key_value_heads=8, max_position_embeddings=256,
                                bos_token_id=0, eos_token_id=0, use_cache=False)
        m = T.LlamaForCausalLM(cfg).eval()

        class Dec(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.m = m

            def forward(self, ids, mask):
                return self.m(input_ids=ids, attention_mask=mask, use_cache=False, return_dict=False)[0]
        _export(Dec().eval(), (torch.randint(0, vocab, (1, seq)), torch.ones(1, seq, dtype=torch.int64)), path,
                ["input_ids", "attention_mask"],
                {"input_ids": {0: "b", 1: "s"}, "attention_mask": {0: "b", 1: "s"}, "logits": {0: "b", 1: "s"}},
                out_names=("logits",))
    return path, vocab, seq


def text_feeds(n: int, vocab: int, seq: int, seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    return [{"input_ids": rng.integers(0, vocab, (1, seq)), "attention_mask": np.ones((1, seq), np.int64)}
            for _ in range(n)]


def image_feeds(n: int, size: int, seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    return [{"pixels": rng.standard_normal((1, 3, size, size)).astype(np.float32)} for _ in range(n)]


# ----------------------------------------------------------------- measuring
def session(path: str, config: dict | None = None):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 2
    so.log_severity_level = 3
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    for k, v in (config or {}).items():
        so.add_session_config_entry(k, v)
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def cosine(a, b) -> float:
    a = np.asarray(a, np.float64).ravel()
    b = np.asarray(b, np.float64).ravel()
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def compare(paths: dict[str, str], feeds: list[dict], rounds: int, last: bool = False) -> dict[str, dict]:
    """Latency (alternating) and cosine to paths['float'] of each model."""
    sess = {k: session(p) for k, p in paths.items()}
    pick = (lambda y: y[:, -1]) if last else (lambda y: y)
    ref = [pick(sess["float"].run(None, x)[0]) for x in feeds]
    out = {k: {"cosine": float(np.mean([cosine(r, pick(s.run(None, x)[0])) for r, x in zip(ref, feeds)]))}
           for k, s in sess.items()}
    x = feeds[0]
    for s in sess.values():
        s.run(None, x)
        s.run(None, x)
    times: dict[str, list[float]] = {k: [] for k in sess}
    keys = list(sess)
    for r in range(rounds):
        for k in keys[r % len(keys):] + keys[:r % len(keys)]:
            t = time.perf_counter()
            sess[k].run(None, x)
            times[k].append(time.perf_counter() - t)
    for k in sess:
        out[k]["latency_ms"] = 1e3 * float(np.median(times[k]))
        out[k]["size_mb"] = os.path.getsize(paths[k]) / 2 ** 20
    return out


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


class _Reader:
    """onnxruntime's CalibrationDataReader protocol over a list."""

    def __init__(self, data):
        self.it = iter(data)

    def get_next(self):
        return next(self.it, None)

    def rewind(self):       # pragma: no cover - not called by the calibrators used here
        pass


def _quiet() -> None:
    logging.getLogger().setLevel(logging.ERROR)
    warnings.simplefilter("ignore")


# ----------------------------------------------------------------- the comparisons
def run_dynamic(folder: str, small: bool, samples: int, rounds: int) -> list[dict]:
    import onnxkit
    from onnxruntime.quantization import QuantType, quantize_dynamic

    path, vocab, seq = bert(folder, small)
    mine, theirs = os.path.join(folder, "bert-dyn-onnxkit.onnx"), os.path.join(folder, "bert-dyn-ort.onnx")
    t_mine = timed(lambda: onnxkit.save(onnxkit.quantize(path, mode="dynamic"), mine))
    t_theirs = timed(lambda: quantize_dynamic(path, theirs, weight_type=QuantType.QInt8))
    res = compare({"float": path, "onnxkit": mine, "onnxruntime": theirs}, text_feeds(samples, vocab, seq, 1), rounds)
    res["onnxkit"]["quantize_s"], res["onnxruntime"]["quantize_s"] = t_mine, t_theirs
    return [dict(model="BERT" + ("-small" if small else "-base"), mode="dynamic", **{k: res[k] for k in res})]


def run_static(folder: str, small: bool, samples: int, rounds: int) -> list[dict]:
    import onnxkit
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    rows = []
    for name in ("resnet50", "mobilenetv2"):
        path, size = cnn(name, folder, small)
        calib, test = image_feeds(samples, size, 0), image_feeds(8, size, 1)
        mine, theirs = os.path.join(folder, f"{name}-qdq-onnxkit.onnx"), os.path.join(folder, f"{name}-qdq-ort.onnx")
        t_mine = timed(lambda: onnxkit.save(onnxkit.quantize(path, mode="static", calibration=iter(calib)), mine))
        t_theirs = timed(lambda: quantize_static(path, theirs, _Reader(calib), quant_format=QuantFormat.QDQ,
                                                 per_channel=True, weight_type=QuantType.QInt8,
                                                 activation_type=QuantType.QUInt8,
                                                 calibrate_method=CalibrationMethod.MinMax))
        res = compare({"float": path, "onnxkit": mine, "onnxruntime": theirs}, test, rounds)
        res["onnxkit"]["quantize_s"], res["onnxruntime"]["quantize_s"] = t_mine, t_theirs
        rows.append(dict(model=name + ("-small" if small else ""), mode="static minmax", **res))
    return rows


def run_memory(folder: str, small: bool, samples: int) -> list[dict]:
    path, vocab, seq = bert(folder, small)
    rows = []
    for method in ("percentile", "minmax"):
        row = {"model": "BERT" + ("-small" if small else "-base"), "mode": f"calibration {method} x{samples}",
               "float": {"size_mb": os.path.getsize(path) / 2 ** 20}}
        for who in ("onnxkit", "onnxruntime"):
            r = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", who, path, str(vocab),
                                str(seq), str(samples), folder, method], capture_output=True, text=True)
            if r.returncode:
                row[who] = {"error": (r.stderr.strip().splitlines() or ["?"])[-1][:120]}
            else:
                row[who] = json.loads(r.stdout.strip().splitlines()[-1])
        rows.append(row)
    return rows


def child(who: str, path: str, vocab: int, seq: int, samples: int, folder: str, method: str) -> None:
    """Calibrate in this fresh process and print the peak RSS it added (MB)."""

    import onnxruntime  # noqa: F401  (import cost outside the figure)

    import onnxkit

    _quiet()
    feeds = (x for x in text_feeds(samples, vocab, seq, 0))          # made one at a time
    base = _status_mb("VmRSS")      # VmHWM/VmRSS: ru_maxrss keeps the parent's RSS across exec
    t = time.perf_counter()
    out = os.path.join(folder, f"bert-static-{who}.onnx")
    if who == "onnxkit":
        onnxkit.save(onnxkit.quantize(path, mode="static", calibration=feeds, method=method), out)
    else:
        from onnxruntime.quantization import CalibrationMethod, QuantFormat, quantize_static
        quantize_static(path, out, _Reader(feeds), quant_format=QuantFormat.QDQ, per_channel=True,
                        calibrate_method=getattr(CalibrationMethod, {"minmax": "MinMax"}.get(method, "Percentile")))
    peak = _status_mb("VmHWM")
    print(json.dumps({"calib_peak_mb": peak - base, "quantize_s": time.perf_counter() - t}))


def _status_mb(key: str) -> float:
    """A /proc/self/status figure (VmRSS, VmHWM) in MB."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(key + ":")) / 1024


def run_weight_only(folder: str, small: bool, samples: int, rounds: int, target: float = 0.99) -> list[dict]:
    import onnx

    import onnxkit
    from onnxruntime.quantization import QuantFormat, matmul_nbits_quantizer as nb

    logging.getLogger(nb.__name__).setLevel(logging.ERROR)

    path, vocab, seq = decoder(folder, small)
    mine, theirs = os.path.join(folder, "llama-int4-onnxkit.onnx"), os.path.join(folder, "llama-int4-ort.onnx")
    t_mine = timed(lambda: onnxkit.save(onnxkit.quantize(path, mode="weight-only", bits=4, block_size=32), mine))

    def ort_quantize():
        cfg = nb.DefaultWeightOnlyQuantConfig(block_size=32, is_symmetric=False, quant_format=QuantFormat.QOperator,
                                              op_types_to_quantize=("MatMul",))
        q = nb.MatMulNBitsQuantizer(onnx.load(path), algo_config=cfg)
        q.process()
        q.model.save_model_to_file(theirs, use_external_data_format=False)
    t_theirs = timed(ort_quantize)
    # with accuracy_target: the weights that cost the most raised to 8 bits, measured on 8 calibration inputs
    targeted = os.path.join(folder, "llama-int4-target-onnxkit.onnx")
    rep = None

    def targeted_quantize():
        nonlocal rep
        q, rep = onnxkit.quantize(path, mode="weight-only", bits=4, block_size=32, accuracy_target=target,
                                  calibration=text_feeds(8, vocab, seq, 0), report=True)
        onnxkit.save(q, targeted)
    t_target = timed(targeted_quantize)
    test = text_feeds(min(samples, 16), vocab, seq, 1)
    res = compare({"float": path, "onnxkit": mine, "onnxruntime": theirs, "target": targeted}, test, rounds,
                  last=True)
    res["onnxkit"]["quantize_s"], res["onnxruntime"]["quantize_s"] = t_mine, t_theirs
    res["target"]["quantize_s"] = t_target
    name = "LLaMA" + ("-small" if small else "-base")
    fsize = res["float"]["size_mb"]
    for k in ("onnxkit", "onnxruntime", "target"):
        res[k]["size_ratio"] = res[k]["size_mb"] / fsize
    level0 = session(targeted, {"session.qdq_matmulnbits_accuracy_level": "0"})
    fl = session(path)
    res["target"]["cosine_level0"] = float(np.mean([cosine(fl.run(None, x)[0][:, -1], level0.run(None, x)[0][:, -1])
                                                    for x in test]))
    print(f"accuracy_target={target}: raised to 8 bits ({len(rep.raised)}): {', '.join(rep.raised) or 'none'}; "
          f"cosine of all logits on the 8 calibration inputs {rep.metric:.6f}; next-token cosine in onnxruntime "
          f"{res['target']['cosine']:.6f} (float activations: {res['target']['cosine_level0']:.6f}); "
          f"file {res['target']['size_ratio']:.3f}x float (plain int4 {res['onnxkit']['size_ratio']:.3f}x, "
          f"onnxruntime {res['onnxruntime']['size_ratio']:.3f}x)", flush=True)
    return [dict(model=name, mode="weight-only int4 b32", **{k: res[k] for k in ("float", "onnxkit", "onnxruntime")}),
            dict(model=name, mode=f"weight-only int4 b32, accuracy_target={target}", float=res["float"],
                 onnxkit=res["target"], raised=list(rep.raised))]


def run_sensitivity(folder: str, samples: int = 16) -> str:
    """The per-node sensitivities of static quantization (what ``accuracy_target``
    and ``--report`` measure) on the small ResNet-50 (64 px, 122 nodes), over
    ``samples`` held images: onnxkit's way (the float model run once per sample,
    each node's changed part on its values) against the plain way (the whole
    model quantized at that node, a Session each), with the largest difference."""
    import onnxkit
    from onnxkit.quantize import _sensitivity

    path, size = cnn("resnet50", folder, True)
    calib = image_feeds(samples, size, 0)
    captured = {}
    real = _sensitivity.meet_target

    def capture(float_model, held, chosen, target, build, **kw):
        captured.update(model=float_model, held=held, chosen=chosen, build=build)
        t = time.perf_counter()
        out = real(float_model, held, chosen, target, build, **kw)
        captured["seconds"] = time.perf_counter() - t
        return out
    _sensitivity.meet_target = capture
    try:
        _, rep = onnxkit.quantize(path, mode="static", calibration=iter(calib), report=True)
    finally:
        _sensitivity.meet_target = real
    sens = {r.name: r.sensitivity for r in rep.nodes if r.sensitivity is not None}
    m, held, build = captured["model"], captured["held"], captured["build"]
    t = time.perf_counter()
    names = _sensitivity._float_outputs(m)
    ref_sess = onnxkit.Session(m)
    ref = [ref_sess.run(names, x) for x in held]
    plain = {}
    for n in captured["chosen"]:
        sess = onnxkit.Session(build([n]))
        plain[n] = float(np.mean([_sensitivity.cosine(sess.run(names, x), r) for x, r in zip(held, ref)]))
    t_plain = time.perf_counter() - t
    diff = max(abs(plain[n] - sens[n]) for n in plain)
    return (f"sensitivity of {len(plain)} nodes of resnet50-small over {len(held)} samples: "
            f"{captured['seconds']:.1f} s (changed parts; with the final model's measure) vs {t_plain:.1f} s "
            f"(a Session per node); largest difference {diff:.1e}")


# ----------------------------------------------------------------- output
def table(rows: list[dict]) -> str:
    head = ("model", "mode", "who", "quantize s", "latency ms", "cosine", "size MB", "calib peak MB")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]

    def f(v, fmt):
        return "" if v is None else (v if isinstance(v, str) else format(v, fmt))
    for r in rows:
        for who in ("float", "onnxkit", "onnxruntime"):
            d = r.get(who)
            if d is None:       # a row of onnxkit alone (weight-only with accuracy_target)
                continue
            if "error" in d:
                lines.append(f"| {r['model']} | {r['mode']} | {who} | fails: {d['error']} |||||")
                continue
            lines.append("| " + " | ".join([r["model"], r["mode"], who, f(d.get("quantize_s"), ".2f"),
                                             f(d.get("latency_ms"), ".1f"), f(d.get("cosine"), ".6f"),
                                             f(d.get("size_mb"), ".1f"), f(d.get("calib_peak_mb"), ".0f")]) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--small", action="store_true", help="the tests' small configs: checks the script runs")
    ap.add_argument("--only", default="dynamic,static,weight-only,memory")
    ap.add_argument("--samples", type=int, help="calibration samples / dynamic inputs (default 64, small 8)")
    ap.add_argument("--memory-samples", type=int, help="percentile calibration samples (default 256, small 16)")
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--target", type=float, default=0.995,
                    help="weight-only: the accuracy_target of the second onnxkit row (int4, weights raised to int8)")
    ap.add_argument("--out", default=os.path.join(HERE, "_out"))
    ap.add_argument("--child", nargs=7, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        who, path, vocab, seq, samples, folder, method = a.child
        child(who, path, int(vocab), int(seq), int(samples), folder, method)
        return
    _quiet()
    os.makedirs(a.out, exist_ok=True)
    samples = a.samples or (8 if a.small else 64)
    folder = tempfile.mkdtemp(prefix="onnxkit-quantize-", dir=a.out)
    only = a.only.split(",")
    rows = []
    if "dynamic" in only:
        rows += run_dynamic(folder, a.small, samples, a.rounds)
        print(table(rows[-1:]), flush=True)
    if "static" in only:
        rows += run_static(folder, a.small, samples, a.rounds)
        print(table(rows[-2:]), flush=True)
    if "weight-only" in only:
        rows += run_weight_only(folder, a.small, samples, a.rounds, a.target)
        print(table(rows[-2:]), flush=True)
    if "sensitivity" in only:
        print(run_sensitivity(folder), flush=True)
    if "memory" in only:
        rows += run_memory(folder, a.small, a.memory_samples or (16 if a.small else 256))
        print(table(rows[-2:]), flush=True)
    text = table(rows)
    with open(os.path.join(a.out, "quantize.md"), "w") as f:
        f.write("# onnxkit.quantize vs onnxruntime.quantization\n\n" + text + "\n\n" + __doc__.split("\n\n", 2)[2])
    print(f"\nwrote {os.path.join(a.out, 'quantize.md')} (models in {folder})")


if __name__ == "__main__":
    main()
