"""Models the exporter is tested on: small configs for CI, full size for benchmarks.

Each factory returns ``Case(module, args, kwargs, dynamic_shapes, other)``:
example inputs, the dynamic dims, and inputs at another batch and sequence
size.  Weights are random (``torch.manual_seed``); nothing is downloaded.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import torch
from torch import nn
import torch.nn.functional as F


@dataclasses.dataclass
class Case:
    module: nn.Module
    args: tuple
    kwargs: dict
    dynamic_shapes: dict
    other: tuple  # (args, kwargs) at another batch / sequence size


def _ids(vocab: int, b: int, s: int) -> torch.Tensor:
    return torch.randint(0, vocab, (b, s))


def _mask(b: int, s: int) -> torch.Tensor:
    m = torch.ones(b, s, dtype=torch.int64)
    m[0, s - 2:] = 0  # some padding in the first row
    return m


TEXT_DYN = {0: "batch", 1: "seq"}


def bert(full: bool = False) -> Case:
    import transformers as T

    torch.manual_seed(0)
    cfg = T.BertConfig() if full else T.BertConfig(
        vocab_size=200, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=64)
    m = T.BertModel(cfg).eval()
    v = cfg.vocab_size
    b, s = (1, 128) if full else (2, 8)
    return Case(m, (), {"input_ids": _ids(v, b, s), "attention_mask": _mask(b, s)},
                {"input_ids": TEXT_DYN, "attention_mask": TEXT_DYN},
                ((), {"input_ids": _ids(v, 3, 13), "attention_mask": _mask(3, 13)}))


def gpt2(full: bool = False) -> Case:
    import transformers as T

    torch.manual_seed(0)
    cfg = T.GPT2Config(use_cache=False) if full else T.GPT2Config(
        vocab_size=200, n_embd=32, n_layer=2, n_head=2, n_positions=64, use_cache=False)
    m = T.GPT2LMHeadModel(cfg).eval()
    v = cfg.vocab_size
    b, s = (1, 128) if full else (2, 8)
    return Case(m, (_ids(v, b, s),), {}, {"input_ids": TEXT_DYN}, ((_ids(v, 3, 13),), {}))


def llama(full: bool = False) -> Case:
    import transformers as T

    torch.manual_seed(0)
    cfg = T.LlamaConfig(
        vocab_size=32000, hidden_size=1024, intermediate_size=2816, num_hidden_layers=8,
        num_attention_heads=16, num_key_value_heads=4, use_cache=False) if full else T.LlamaConfig(
        vocab_size=200, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64, use_cache=False)
    m = T.LlamaForCausalLM(cfg).eval()
    v = cfg.vocab_size
    b, s = (1, 128) if full else (2, 8)
    return Case(m, (_ids(v, b, s),), {}, {"input_ids": TEXT_DYN}, ((_ids(v, 3, 13),), {}))


def t5_encoder(full: bool = False) -> Case:
    import transformers as T

    torch.manual_seed(0)
    cfg = T.T5Config() if full else T.T5Config(
        vocab_size=200, d_model=32, d_kv=16, d_ff=64, num_layers=2, num_heads=2)
    m = T.T5EncoderModel(cfg).eval()
    v = cfg.vocab_size
    b, s = (1, 128) if full else (2, 8)
    return Case(m, (), {"input_ids": _ids(v, b, s), "attention_mask": _mask(b, s)},
                {"input_ids": TEXT_DYN, "attention_mask": TEXT_DYN},
                ((), {"input_ids": _ids(v, 3, 13), "attention_mask": _mask(3, 13)}))


def vit(full: bool = False) -> Case:
    import transformers as T

    torch.manual_seed(0)
    cfg = T.ViTConfig() if full else T.ViTConfig(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
        image_size=32, patch_size=8)
    m = T.ViTModel(cfg).eval()
    r = cfg.image_size
    b = 1 if full else 2
    return Case(m, (torch.randn(b, 3, r, r),), {}, {"pixel_values": {0: "batch"}},
                ((torch.randn(3, 3, r, r),), {}))


# ---------------------------------------------------------------- plain torch


class _Block(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.b1 = nn.BatchNorm2d(cout)
        self.c2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.b2 = nn.BatchNorm2d(cout)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.b1(self.c1(x)))
        y = self.b2(self.c2(y))
        return F.relu(y + (x if self.down is None else self.down(x)))


class ResNet(nn.Module):
    """ResNet-18's layout (basic blocks), width ``w``."""

    def __init__(self, w: int = 64, blocks: tuple = (2, 2, 2, 2), classes: int = 1000) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, w, 7, 2, 3, bias=False), nn.BatchNorm2d(w),
                                  nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, 1))
        layers, cin = [], w
        for i, n in enumerate(blocks):
            cout = w * 2 ** i
            for j in range(n):
                layers.append(_Block(cin, cout, 2 if (j == 0 and i > 0) else 1))
                cin = cout
        self.layers = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(cin, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.pool(self.layers(self.stem(x))), 1))


def _randomize_bn(m: nn.Module) -> nn.Module:
    for mod in m.modules():
        if isinstance(mod, (nn.BatchNorm2d, nn.BatchNorm1d)):
            mod.running_mean.uniform_(-0.2, 0.2)
            mod.running_var.uniform_(0.5, 1.5)
            mod.weight.data.uniform_(0.5, 1.5)
            mod.bias.data.uniform_(-0.2, 0.2)
    return m.eval()


def resnet(full: bool = False) -> Case:
    torch.manual_seed(0)
    m = _randomize_bn(ResNet() if full else ResNet(8, (1, 1), 10))
    r = 224 if full else 32
    b = 1 if full else 2
    return Case(m, (torch.randn(b, 3, r, r),), {}, {"x": {0: "batch", 2: "h", 3: "w"}},
                ((torch.randn(3, 3, r + 32, r + 16),), {}))


class MobileNet(nn.Module):
    """MobileNet-v1/v2 style: depthwise 3x3 + pointwise 1x1, ReLU6, inverted residuals."""

    def __init__(self, w: int = 32, cfg: tuple = ((16, 1), (24, 2), (24, 1), (32, 2), (64, 2), (96, 1), (160, 2), (320, 1)),
                 classes: int = 1000, expand: int = 6) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, w, 3, 2, 1, bias=False), nn.BatchNorm2d(w), nn.ReLU6())
        blocks, cin = [], w
        for cout, stride in cfg:
            hid = cin * expand
            blocks.append(_Inverted(cin, hid, cout, stride))
            cin = cout
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Linear(cin, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.blocks(self.stem(x))
        return self.head(y.mean(dim=(2, 3)))


class _Inverted(nn.Module):
    def __init__(self, cin: int, hid: int, cout: int, stride: int) -> None:
        super().__init__()
        self.res = stride == 1 and cin == cout
        self.body = nn.Sequential(
            nn.Conv2d(cin, hid, 1, bias=False), nn.BatchNorm2d(hid), nn.ReLU6(),
            nn.Conv2d(hid, hid, 3, stride, 1, groups=hid, bias=False), nn.BatchNorm2d(hid), nn.ReLU6(),
            nn.Conv2d(hid, cout, 1, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.body(x)
        return x + y if self.res else y


def mobilenet(full: bool = False) -> Case:
    torch.manual_seed(0)
    m = _randomize_bn(MobileNet() if full else MobileNet(8, ((8, 1), (12, 2), (12, 1), (16, 2)), 10, 2))
    r = 224 if full else 32
    b = 1 if full else 2
    return Case(m, (torch.randn(b, 3, r, r),), {}, {"x": {0: "batch", 2: "h", 3: "w"}},
                ((torch.randn(3, 3, r + 32, r + 32),), {}))


class RNNNet(nn.Module):
    """Embedding, a two-layer bidirectional LSTM or GRU (batch first), a classifier."""

    def __init__(self, kind: str, vocab: int = 1000, emb: int = 128, hidden: int = 256,
                 layers: int = 2, classes: int = 10) -> None:
        super().__init__()
        self.emb = nn.Embedding(vocab, emb)
        rnn = nn.LSTM if kind == "lstm" else nn.GRU
        self.rnn = rnn(emb, hidden, num_layers=layers, batch_first=True, bidirectional=True)
        self.out = nn.Linear(2 * hidden, classes)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        y, _ = self.rnn(self.emb(tokens))
        return self.out(y)


def _rnn(kind: str, full: bool) -> Case:
    torch.manual_seed(0)
    m = (RNNNet(kind) if full else RNNNet(kind, 100, 16, 24, 2, 5)).eval()
    v = 1000 if full else 100
    b, s = (1, 128) if full else (2, 8)
    return Case(m, (_ids(v, b, s),), {}, {"tokens": TEXT_DYN}, ((_ids(v, 3, 13),), {}))


def lstm(full: bool = False) -> Case:
    return _rnn("lstm", full)


def gru(full: bool = False) -> Case:
    return _rnn("gru", full)


class UNet(nn.Module):
    """Two levels down (conv + max-pool), two up (transposed conv + skip concat)."""

    def __init__(self, w: int = 64, cin: int = 3, cout: int = 2) -> None:
        super().__init__()

        def conv(a: int, b: int) -> nn.Module:
            return nn.Sequential(nn.Conv2d(a, b, 3, padding=1), nn.BatchNorm2d(b), nn.ReLU(),
                                 nn.Conv2d(b, b, 3, padding=1), nn.BatchNorm2d(b), nn.ReLU())

        self.d1, self.d2, self.mid = conv(cin, w), conv(w, 2 * w), conv(2 * w, 4 * w)
        self.u2 = nn.ConvTranspose2d(4 * w, 2 * w, 2, stride=2)
        self.c2 = conv(4 * w, 2 * w)
        self.u1 = nn.ConvTranspose2d(2 * w, w, 2, stride=2)
        self.c1 = conv(2 * w, w)
        self.head = nn.Conv2d(w, cout, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.d1(x)
        b = self.d2(F.max_pool2d(a, 2))
        c = self.mid(F.max_pool2d(b, 2))
        y = self.c2(torch.cat([self.u2(c), b], dim=1))
        y = self.c1(torch.cat([self.u1(y), a], dim=1))
        return torch.sigmoid(self.head(y))


def unet(full: bool = False) -> Case:
    torch.manual_seed(0)
    m = _randomize_bn(UNet() if full else UNet(8))
    r = 256 if full else 16
    b = 1 if full else 2
    return Case(m, (torch.randn(b, 3, r, r),), {}, {"x": {0: "batch", 2: "h", 3: "w"}},
                ((torch.randn(3, 3, r + 8, r + 16),), {}))


ZOO: dict[str, Callable[..., Case]] = {
    "bert": bert, "gpt2": gpt2, "vit": vit, "llama": llama, "t5_encoder": t5_encoder,
    "resnet": resnet, "mobilenet": mobilenet, "lstm": lstm, "gru": gru, "unet": unet,
}
