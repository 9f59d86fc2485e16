"""mode="weight-only" on a small LLaMA-style decoder with its LM head
(transformers config, random weights): int4 blocks of 32 read through the
standard DequantizeLinear-21, checked by the onnx package, run by
onnxruntime and onnxkit alike, the file a fraction of float's, the next-token
logits close to float's."""

from __future__ import annotations

import os
import warnings

import numpy as np
import pytest

ort = pytest.importorskip("onnxruntime")
torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

import onnxkit  # noqa: E402
from onnxkit.errors import QuantizeError  # noqa: E402

from ._helpers import check_with_onnx, cosine, ort_session, save, untouched  # noqa: E402

VOCAB = 1000


class _Decoder(torch.nn.Module):
    def __init__(self, model) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask):
        return self.model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False,
                          return_dict=False)[0]


@pytest.fixture(scope="module")
def llm(tmp_path_factory):
    torch.manual_seed(0)
    cfg = transformers.LlamaConfig(vocab_size=VOCAB, hidden_size=128, intermediate_size=256,
                                   num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                                   max_position_embeddings=64, bos_token_id=0, eos_token_id=0,
                                   use_cache=False)
    module = _Decoder(transformers.LlamaForCausalLM(cfg).eval()).eval()
    folder = tmp_path_factory.mktemp("qwo")
    path = str(folder / "llm.onnx")
    args = (torch.randint(0, VOCAB, (2, 8)), torch.ones(2, 8, dtype=torch.int64))
    axes = {"input_ids": {0: "b", 1: "s"}, "attention_mask": {0: "b", 1: "s"}, "logits": {0: "b", 1: "s"}}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, args, path, dynamo=False, input_names=["input_ids", "attention_mask"],
                          output_names=["logits"], dynamic_axes=axes, opset_version=17)
    rng = np.random.default_rng(0)
    feeds = [{"input_ids": rng.integers(0, VOCAB, (2, 8)), "attention_mask": np.ones((2, 8), np.int64)}
             for _ in range(8)]
    f = ort_session(path)
    want = [f.run(None, x)[0][:, -1] for x in feeds]
    return path, folder, feeds, want


def _weighted(model) -> set[str]:
    return {n.name for n in model.graph if (n.op_type == "MatMul" and n.inputs[1].is_initializer())
            or (n.op_type == "Gather" and n.inputs[0].is_initializer() and len(n.inputs[0].shape) == 2)}


@pytest.mark.parametrize("bits,weight_type", [(4, None), (4, "int8"), (8, None)])
def test_decoder(llm, bits, weight_type):
    path, folder, feeds, want = llm
    float_model = onnxkit.load(path)
    q = onnxkit.quantize(float_model, mode="weight-only", bits=bits, weight_type=weight_type)
    out = save(q, folder, f"llm-{bits}-{weight_type}.onnx")
    check_with_onnx(out)
    assert q.opset == 21
    dqs = [n for n in q.graph if n.op_type == "DequantizeLinear"]
    # 2 layers x 7 projections, the LM head, the embedding table
    assert len(dqs) == 16
    signed = weight_type == "int8"
    kinds = {onnxkit.DataType.INT4 if signed else onnxkit.DataType.UINT4,
             onnxkit.DataType.INT8 if signed else onnxkit.DataType.UINT8}
    for n in dqs:
        assert n.attr("block_size") == 32
        assert n.inputs[0].const_value.dtype in kinds
        assert (len(n.inputs) == 3) == (not signed)           # zero points only when asymmetric
    if bits == 4:       # the layers at 4 bits, embedding and head at 8 (see _weight_only's docstring)
        assert sum(n.inputs[0].const_value.dtype in (onnxkit.DataType.INT4, onnxkit.DataType.UINT4)
                   for n in dqs) == 14
    # only the weights' readers changed; nothing else but what raising the opset to 21 changes
    at21 = onnxkit.convert_version(float_model, 21)
    untouched(at21, q, set(), rewired=_weighted(float_model))
    ratio = os.path.getsize(out) / os.path.getsize(path)
    assert ratio <= (0.3 if bits == 4 else 0.33), ratio
    # onnxruntime fuses DequantizeLinear + MatMul into MatMulNBits, by default computing with
    # int8 activations (accuracy level 4); at level 0 (float) it computes what onnxkit does
    sess, kit = ort_session(out), onnxkit.Session(out)
    exact = ort_session(out, {"session.qdq_matmulnbits_accuracy_level": "0"})
    cos_ort = []
    for x, w in zip(feeds, want):
        cos_ort.append(cosine(w, sess.run(None, x)[0][:, -1]))
        got = exact.run(None, x)[0][:, -1]
        np.testing.assert_allclose(kit.run(None, x)[0][:, -1], got, rtol=1e-3, atol=1e-4 * np.abs(got).max())
    # measured: 0.9900 (uint4, zero points), 0.9888 (int4), 0.99993 (8 bits)
    floor = {(4, None): 0.989, (4, "int8"): 0.987, (8, None): 0.9998}[(bits, weight_type)]
    assert np.mean(cos_ort) >= floor, cos_ort


def test_int4_packing_matches_onnx(llm):
    import onnx
    from onnx import numpy_helper

    path, folder, _, _ = llm
    q = onnxkit.quantize(path, mode="weight-only", bits=4, weight_type="int8")
    out = save(q, folder, "llm-pack.onnx")
    theirs = {t.name: t for t in onnx.load(out).graph.initializer}
    checked = 0
    for name, v in q.graph.initializers.items():
        if v.const_value.dtype == onnxkit.DataType.INT4:
            a = numpy_helper.to_array(theirs[name]).astype(np.int8)
            np.testing.assert_array_equal(a, v.const_value.numpy().astype(np.int8))
            assert a.min() >= -8 and a.max() <= 7
            checked += 1
    assert checked == 14


def test_block_size_checked(llm):
    with pytest.raises(QuantizeError, match="block_size"):
        onnxkit.quantize(llm[0], mode="weight-only", bits=4, block_size=24)


LEVEL0 = {"session.qdq_matmulnbits_accuracy_level": "0"}     # onnxruntime computing in float, as onnxkit


def _all_logits_cosine(path: str, feeds, want, config=None) -> float:
    s = ort_session(path, config)
    return float(np.mean([cosine(w, s.run(None, x)[0]) for w, x in zip(want, feeds)]))


def _stored_bits(q) -> dict[str, int]:
    """{MatMul/Gather name: bits of the weight it reads through DequantizeLinear}."""
    out = {}
    for n in q.graph:
        for v in n.inputs:
            p = v.producer() if v is not None else None
            if p is not None and p.op_type == "DequantizeLinear" and n.op_type in ("MatMul", "Gather"):
                dt = p.inputs[0].const_value.dtype
                out[n.name] = 4 if dt in (onnxkit.DataType.UINT4, onnxkit.DataType.INT4) else 8
    return out


def test_accuracy_target_raises_weights_to_8_bits(llm):
    """Plain int4 misses the target (the cosine of all logits to float's); with
    accuracy_target the weights that cost the most are stored at 8 bits until it
    is met, in onnxruntime too, and the file stays under 0.3x of float's."""
    path, folder, feeds, _ = llm
    target = 0.995
    f = ort_session(path)
    want = [f.run(None, x)[0] for x in feeds]
    plain = save(onnxkit.quantize(path, mode="weight-only", bits=4), folder, "llm-plain.onnx")
    assert _all_logits_cosine(plain, feeds, want, LEVEL0) < target
    q, rep = onnxkit.quantize(path, mode="weight-only", bits=4, calibration=iter(feeds), accuracy_target=target,
                              report=True)
    out = save(q, folder, "llm-target.onnx")
    check_with_onnx(out)
    assert rep.samples == 8 and rep.metric >= target
    assert _all_logits_cosine(out, feeds, want, LEVEL0) >= target
    assert _all_logits_cosine(out, feeds, want) >= target - 5e-4      # onnxruntime's default: int8 activations
    rng = np.random.default_rng(7)
    unseen = [{"input_ids": rng.integers(0, VOCAB, (2, 8)), "attention_mask": np.ones((2, 8), np.int64)}
              for _ in range(4)]
    assert _all_logits_cosine(out, unseen, [f.run(None, x)[0] for x in unseen], LEVEL0) >= target - 2e-3
    assert os.path.getsize(out) / os.path.getsize(path) <= 0.3
    # the raised weights are the most sensitive 4-bit ones, stored at 8 bits; the rest stay at 4
    stored = _stored_bits(q)
    sens = {r.name: r.sensitivity for r in rep.nodes if r.sensitivity is not None}
    assert rep.raised and set(rep.raised) == set(sorted(sens, key=sens.get)[:len(rep.raised)])
    assert all(stored[n] == 8 for n in rep.raised)
    assert sum(b == 4 for b in stored.values()) == 14 - len(rep.raised)
    assert all("at 8 bits" in why for why in rep.raised.values())
    assert "8 bits: sensitivity" in rep.table()
    # without calibration: measured on feeds made up from the inputs (random ids, masks of ones)
    q2, rep2 = onnxkit.quantize(path, mode="weight-only", bits=4, accuracy_target=target, report=True)
    assert rep2.samples == 4 and rep2.metric >= target and rep2.raised
    assert _all_logits_cosine(save(q2, folder, "llm-target-gen.onnx"), feeds, want, LEVEL0) >= target - 2e-3


def test_accuracy_target_refused_for_dynamic(llm):
    with pytest.raises(QuantizeError, match="accuracy_target"):
        onnxkit.quantize(llm[0], mode="dynamic", accuracy_target=0.99)


def test_cli_weight_only_accuracy_target(llm, capsys):
    """`onnxkit quantize --mode weight-only --bits 4 --accuracy-target` (no calibration data:
    feeds made up from the inputs) names the weights it raised and meets the target."""
    from onnxkit.cli import main
    path, folder, feeds, _ = llm
    out = os.path.join(folder, "llm-cli-target.onnx")
    assert main(["quantize", path, out, "--mode", "weight-only", "--bits", "4", "--accuracy-target", "0.995"]) == 0
    text = capsys.readouterr().out
    assert "raised to 8 bits: " in text and "output cosine to float: " in text
    f = ort_session(path)
    assert _all_logits_cosine(out, feeds, [f.run(None, x)[0] for x in feeds], LEVEL0) >= 0.995 - 2e-3
    assert main(["quantize", path, out, "--mode", "dynamic", "--accuracy-target", "0.99"]) == 2
