"""The benchmark models, exported once and cached in benchmarks/_out/.

    from _models import MODELS, get_model, feeds
    path = get_model("resnet50")            # exports on first use
    x = feeds("resnet50", batch=8)          # {input name: array}

Models (random weights, nothing downloaded): a tiny MLP; ResNet-50 and
MobileNetV2 written in plain torch (torchvision's layer layout, BatchNorm
statistics randomized so folding them is tested on real numbers);
transformers' BERT-base (sequence 128), GPT-2 small with its LM head
(sequence 64) and ViT-B/16 (224x224), built from their default configs.

Exported with ``torch.onnx.export(dynamo=False)`` at opset 17 (the exporter
behind most ONNX files in the wild: LayerNormalization whole, GELU and
attention as their primitive ops; GPT-2, which it cannot export (aten::diff),
through onnxkit.export at opset 18) with a dynamic batch axis (and sequence
axis for the text models).
"""

from __future__ import annotations

import os
import warnings

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "_out")
OPSET = 17

#: name -> (input names, sequence length or image size)
MODELS = {
    "mlp": (["x"], None),
    "resnet50": (["pixels"], 224),
    "mobilenetv2": (["pixels"], 224),
    "bert": (["input_ids", "attention_mask"], 128),
    "gpt2": (["input_ids"], 64),
    "vit": (["pixels"], 224),
}


# ----------------------------------------------------------------- architectures
def _torch_models():
    import torch
    from torch import nn

    class MLP(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(),
                                     nn.Linear(128, 10))

        def forward(self, x):
            return self.net(x)

    def conv_bn(cin, cout, k, stride=1, groups=1, act=True, relu6=False):
        layers = [nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]
        if act:
            layers.append(nn.ReLU6() if relu6 else nn.ReLU())
        return nn.Sequential(*layers)

    class Bottleneck(nn.Module):
        def __init__(self, cin, width, stride):
            super().__init__()
            cout = width * 4
            self.body = nn.Sequential(conv_bn(cin, width, 1), conv_bn(width, width, 3, stride),
                                      conv_bn(width, cout, 1, act=False))
            self.down = None if stride == 1 and cin == cout else conv_bn(cin, cout, 1, stride, act=False)

        def forward(self, x):
            return torch.relu(self.body(x) + (x if self.down is None else self.down(x)))

    class ResNet50(nn.Module):
        def __init__(self, classes=1000):
            super().__init__()
            self.stem = nn.Sequential(nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(),
                                      nn.MaxPool2d(3, 2, 1))
            blocks, cin = [], 64
            for width, n, stride in [(64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)]:
                for i in range(n):
                    blocks.append(Bottleneck(cin, width, stride if i == 0 else 1))
                    cin = width * 4
            self.blocks = nn.Sequential(*blocks)
            self.fc = nn.Linear(2048, classes)

        def forward(self, x):
            x = self.blocks(self.stem(x))
            return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))

    class InvertedResidual(nn.Module):
        def __init__(self, cin, cout, stride, expand):
            super().__init__()
            hidden = cin * expand
            layers = [] if expand == 1 else [conv_bn(cin, hidden, 1, relu6=True)]
            layers += [conv_bn(hidden, hidden, 3, stride, groups=hidden, relu6=True),
                       conv_bn(hidden, cout, 1, act=False)]
            self.body = nn.Sequential(*layers)
            self.residual = stride == 1 and cin == cout

        def forward(self, x):
            return x + self.body(x) if self.residual else self.body(x)

    class MobileNetV2(nn.Module):
        def __init__(self, classes=1000):
            super().__init__()
            layers, cin = [conv_bn(3, 32, 3, 2, relu6=True)], 32
            for t, c, n, s in [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
                               (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]:
                for i in range(n):
                    layers.append(InvertedResidual(cin, c, s if i == 0 else 1, t))
                    cin = c
            layers.append(conv_bn(cin, 1280, 1, relu6=True))
            self.features = nn.Sequential(*layers)
            self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(1280, classes))

        def forward(self, x):
            x = nn.functional.adaptive_avg_pool2d(self.features(x), 1)
            return self.classifier(torch.flatten(x, 1))

    return MLP, ResNet50, MobileNetV2


def _randomize_bn(model):
    import torch

    g = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(n, generator=g) * 0.5 + 0.75)
            m.weight.data.copy_(torch.rand(n, generator=g) * 0.5 + 0.75)
            m.bias.data.copy_(torch.randn(n, generator=g) * 0.1)
    return model


def build(name: str):
    """(torch module in eval mode, example args, input names, dynamic axes)."""
    import torch

    torch.manual_seed(0)
    MLP, ResNet50, MobileNetV2 = _torch_models()
    if name == "mlp":
        return MLP().eval(), (torch.randn(1, 64),), {"x": {0: "batch"}}
    if name in ("resnet50", "mobilenetv2"):
        m = _randomize_bn(ResNet50() if name == "resnet50" else MobileNetV2()).eval()
        return m, (torch.randn(1, 3, 224, 224),), {"pixels": {0: "batch"}}
    import transformers as T

    if name == "vit":
        m = T.ViTModel(T.ViTConfig(), add_pooling_layer=False).eval()

        class Vision(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.m = m

            def forward(self, pixels):
                return self.m(pixel_values=pixels, return_dict=False)[0]
        return Vision().eval(), (torch.randn(1, 3, 224, 224),), {"pixels": {0: "batch"}}
    seq = MODELS[name][1]
    if name == "bert":
        m = T.BertModel(T.BertConfig(), add_pooling_layer=False).eval()
    elif name == "gpt2":
        m = T.GPT2LMHeadModel(T.GPT2Config(use_cache=False)).eval()
    else:
        raise ValueError(f"unknown model {name!r}; choose from {', '.join(MODELS)}")
    vocab = m.config.vocab_size
    names = MODELS[name][0]

    class Text(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.m = m

        def forward(self, *args):
            kw = dict(zip(names, args))
            return self.m(**kw, use_cache=False, return_dict=False)[0]
    args = (torch.randint(0, vocab, (1, seq)),) + ((torch.ones(1, seq, dtype=torch.int64),) if len(names) > 1 else ())
    return Text().eval(), args, {n: {0: "batch", 1: "seq"} for n in names}


def get_model(name: str, *, reexport: bool = False) -> str:
    """The path of ``name``'s export (made on first use)."""
    os.makedirs(OUT, exist_ok=True)
    path = os.path.join(OUT, f"bench-{name}.onnx")
    if os.path.exists(path) and not reexport:
        return path
    import torch

    module, args, axes = build(name)
    names = list(axes)
    axes = dict(axes)
    axes["out"] = {0: "batch", **({1: "seq"} if "seq" in axes[names[0]].values() else {})}
    tmp = path + ".tmp"
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        try:
            torch.onnx.export(module, args, tmp, dynamo=False, input_names=names, output_names=["out"],
                              dynamic_axes=axes, opset_version=OPSET)
        except Exception as e:      # GPT-2: aten::diff has no torchscript symbolic
            import onnxkit
            print(f"{name}: torch.onnx.export failed ({type(e).__name__}); exporting with onnxkit.export")
            args = tuple(a.repeat(2, *([1] * (a.dim() - 1))) for a in args)   # batch 1 would be specialized
            model = onnxkit.export(module, args, input_names=names, output_names=["out"],
                                   dynamic_shapes={n: axes[n] for n in names}, opset=18)
            model.ir_version = min(model.ir_version, 10)
            onnxkit.save(model, tmp)
    os.replace(tmp, path)
    return path


def feeds(name: str, batch: int = 1, seed: int = 0) -> dict:
    """Inputs for ``name`` at ``batch``."""
    rng = np.random.default_rng(seed)
    names, size = MODELS[name]
    if name == "mlp":
        return {"x": rng.standard_normal((batch, 64), dtype=np.float32)}
    if name in ("resnet50", "mobilenetv2", "vit"):
        return {"pixels": rng.standard_normal((batch, 3, size, size), dtype=np.float32)}
    out = {"input_ids": rng.integers(0, 30000, (batch, size), dtype=np.int64)}
    if "attention_mask" in names:
        out["attention_mask"] = np.ones((batch, size), np.int64)
    return out
