"""Small real models exported from PyTorch, shared by the tests: transformers
BERT, GPT-2, LLaMA-style and ViT built from configs (random weights: nothing is
downloaded), and plain-torch CNNs (a ResNet-like net, a MobileNet-like net with
depthwise convolutions) and an LSTM.  Each is exported once per test session
with each exporter that works here:

* ``torchscript``: ``torch.onnx.export(..., dynamo=False, dynamic_axes=...)``;
* ``dynamo``: ``torch.onnx.export(..., dynamo=True, dynamic_shapes=...)``;
* ``torchscript-functions`` (the ResNet only): the residual blocks exported as
  model-local functions (``export_modules_as_functions``).
* ``onnxkit``: ``onnxkit.export(..., dynamic_shapes=...)`` (same axes).

The ``exported`` fixture (in conftest.py) gives the path of an export.
"""

from __future__ import annotations

import importlib.util
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

SEQ = 8
BATCH = 2
VOCAB = 1000
MODELS = ["bert", "gpt2", "llama", "resnet"]
#: every model the runtime tests run
RUN_MODELS = ["bert", "gpt2", "llama", "vit", "resnet", "mobilenet", "lstm"]
EXPORTERS = ["torchscript", "dynamo"]


# ---------------------------------------------------------------- the models


class _TextWrapper(torch.nn.Module):
    """(input_ids, attention_mask) -> last hidden state (or logits), as one tensor."""

    def __init__(self, model) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask):
        return self.model(input_ids=input_ids, attention_mask=attention_mask,
                          use_cache=False, return_dict=False)[0]


class _Block(torch.nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = torch.nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = torch.nn.BatchNorm2d(cout)
        self.conv2 = torch.nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = torch.nn.BatchNorm2d(cout)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = torch.nn.Sequential(torch.nn.Conv2d(cin, cout, 1, stride, bias=False),
                                            torch.nn.BatchNorm2d(cout))

    def forward(self, x):
        y = torch.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return torch.relu(y + (x if self.down is None else self.down(x)))


class _ResNet(torch.nn.Module):
    def __init__(self, classes: int = 10) -> None:
        super().__init__()
        self.stem = torch.nn.Sequential(torch.nn.Conv2d(3, 16, 3, 1, 1, bias=False),
                                        torch.nn.BatchNorm2d(16), torch.nn.ReLU(),
                                        torch.nn.MaxPool2d(2))
        self.blocks = torch.nn.Sequential(_Block(16, 16, 1), _Block(16, 32, 2), _Block(32, 64, 2))
        self.fc = torch.nn.Linear(64, classes)

    def forward(self, pixels):
        x = self.blocks(self.stem(pixels))
        return self.fc(torch.flatten(torch.nn.functional.adaptive_avg_pool2d(x, 1), 1))


class _VisionWrapper(torch.nn.Module):
    def __init__(self, model) -> None:
        super().__init__()
        self.model = model

    def forward(self, pixels):
        return self.model(pixel_values=pixels, return_dict=False)[0]


class _MobileNet(torch.nn.Module):
    """Inverted residual blocks: 1x1 expand, 3x3 depthwise, 1x1 project (ReLU6)."""

    def __init__(self, classes: int = 10) -> None:
        super().__init__()

        def block(cin: int, cout: int, stride: int, expand: int = 4) -> torch.nn.Sequential:
            mid = cin * expand
            return torch.nn.Sequential(
                torch.nn.Conv2d(cin, mid, 1, bias=False), torch.nn.BatchNorm2d(mid), torch.nn.ReLU6(),
                torch.nn.Conv2d(mid, mid, 3, stride, 1, groups=mid, bias=False),
                torch.nn.BatchNorm2d(mid), torch.nn.ReLU6(),
                torch.nn.Conv2d(mid, cout, 1, bias=False), torch.nn.BatchNorm2d(cout))

        self.stem = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, 2, 1, bias=False),
                                        torch.nn.BatchNorm2d(8), torch.nn.ReLU6())
        self.b1 = block(8, 8, 1)
        self.b2 = block(8, 16, 2)
        self.head = torch.nn.Linear(16, classes)

    def forward(self, pixels):
        x = self.stem(pixels)
        x = x + self.b1(x)
        x = self.b2(x)
        return self.head(x.mean((2, 3)))


class _LSTMNet(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lstm = torch.nn.LSTM(16, 32, num_layers=2, batch_first=True, bidirectional=True)
        self.out = torch.nn.Linear(64, 4)

    def forward(self, frames):
        y, _ = self.lstm(frames)
        return self.out(y)


def _randomize_bn(m: torch.nn.Module) -> torch.nn.Module:
    """BatchNorm statistics that are not the identity."""
    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, torch.nn.BatchNorm2d):
                mod.running_mean.uniform_(-0.5, 0.5)
                mod.running_var.uniform_(0.5, 2.0)
                mod.weight.uniform_(0.5, 1.5)
                mod.bias.uniform_(-0.2, 0.2)
    return m


def _build(name: str):
    """(module, example args, input names, dynamic axes {input: {axis: name}})."""
    torch.manual_seed(0)
    T = transformers
    if name == "resnet":
        return (_randomize_bn(_ResNet()).eval(), (torch.randn(BATCH, 3, 32, 32),), ["pixels"],
                {"pixels": {0: "batch"}})
    if name == "mobilenet":
        return (_randomize_bn(_MobileNet()).eval(), (torch.randn(BATCH, 3, 32, 32),), ["pixels"],
                {"pixels": {0: "batch"}})
    if name == "lstm":
        return (_LSTMNet().eval(), (torch.randn(BATCH, SEQ, 16),), ["frames"],
                {"frames": {0: "batch", 1: "seq"}})
    if name == "vit":
        cfg = T.ViTConfig(image_size=32, patch_size=8, num_channels=3, hidden_size=64,
                          num_hidden_layers=2, num_attention_heads=2, intermediate_size=128)
        return (_VisionWrapper(T.ViTModel(cfg, add_pooling_layer=False).eval()).eval(),
                (torch.randn(BATCH, 3, 32, 32),), ["pixels"], {"pixels": {0: "batch"}})
    if name == "bert":
        cfg = T.BertConfig(vocab_size=VOCAB, hidden_size=64, num_hidden_layers=2,
                           num_attention_heads=2, intermediate_size=128,
                           max_position_embeddings=64)
        model = T.BertModel(cfg)
    elif name == "gpt2":
        cfg = T.GPT2Config(vocab_size=VOCAB, n_embd=64, n_layer=2, n_head=2, n_positions=64,
                           bos_token_id=0, eos_token_id=0, use_cache=False)
        model = T.GPT2LMHeadModel(cfg)
    elif name == "llama":
        cfg = T.LlamaConfig(vocab_size=VOCAB, hidden_size=64, intermediate_size=128,
                            num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1,
                            max_position_embeddings=64, bos_token_id=0, eos_token_id=0,
                            use_cache=False)
        model = T.LlamaModel(cfg)
    else:
        raise ValueError(name)
    args = (torch.randint(0, VOCAB, (BATCH, SEQ)), torch.ones(BATCH, SEQ, dtype=torch.int64))
    dyn = {"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"}}
    return _TextWrapper(model.eval()).eval(), args, ["input_ids", "attention_mask"], dyn


def _export(name: str, exporter: str, path: str) -> None:
    module, args, names, dyn = _build(name)
    if exporter == "onnxkit":       # onnxkit's own tracing exporter (same dynamic axes)
        import onnxkit
        with torch.no_grad():
            model = onnxkit.export(module, args, input_names=names, output_names=["out"],
                                   dynamic_shapes=dyn)
        onnxkit.save(model, path)
        return
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        if exporter.startswith("torchscript"):
            axes = dict(dyn)
            axes["out"] = {0: "batch"}
            extra = {}
            if exporter == "torchscript-functions":
                extra["export_modules_as_functions"] = {_Block}
            torch.onnx.export(module, args, path, dynamo=False, input_names=names,
                              output_names=["out"], dynamic_axes=axes, opset_version=17, **extra)
        else:
            dims = {}
            shapes = {}
            for inp, ax in dyn.items():
                shapes[inp] = {i: dims.setdefault(d, torch.export.Dim(d, min=1, max=64))
                               for i, d in ax.items()}
            torch.onnx.export(module, args, path, dynamo=True, input_names=names,
                              output_names=["out"], dynamic_shapes=shapes, external_data=False,
                              verbose=False)


_FAILED: dict = {}


def make_exporter(tmp_path_factory):
    """get(model, exporter) -> path of the exported .onnx file (exported once per session)."""
    folder = tmp_path_factory.mktemp("real_models")
    done: dict = {}

    def get(name: str, exporter: str) -> str:
        if exporter == "dynamo" and importlib.util.find_spec("onnxscript") is None:
            pytest.skip("torch.onnx.export(dynamo=True) needs the onnxscript package")
        key = (name, exporter)
        if key in _FAILED:
            pytest.skip(f"export failed earlier: {_FAILED[key]}")
        if key not in done:
            path = str(folder / f"{name}-{exporter}.onnx")
            try:
                _export(name, exporter, path)
            except Exception as e:
                if exporter != "dynamo":
                    raise  # known to work with the pinned torch: a failure is news
                # the newer exporter may not take a model: not onnxkit's fault
                _FAILED[key] = f"{type(e).__name__}: {str(e)[:200]}"
                pytest.skip(f"{exporter} export of {name} failed: {_FAILED[key]}")
            done[key] = path
        return done[key]

    return get




def feeds_for(names, batch: int, seq: int, seed: int) -> dict:
    """Inputs for the models above, by input name, at a batch and sequence size."""
    rng = np.random.default_rng(seed)
    feeds = {}
    for name in names:
        if name == "input_ids":
            feeds[name] = rng.integers(0, VOCAB, (batch, seq), dtype=np.int64)
        elif name == "attention_mask":
            mask = np.ones((batch, seq), np.int64)
            mask[0, seq - 2:] = 0  # some padding
            feeds[name] = mask
        elif name == "pixels":
            feeds[name] = rng.standard_normal((batch, 3, 32, 32), dtype=np.float32)
        elif name == "frames":
            feeds[name] = rng.standard_normal((batch, seq, 16), dtype=np.float32)
        else:
            raise AssertionError(f"unexpected input {name}")
    return feeds
