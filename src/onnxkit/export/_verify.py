"""Run an exported model against eager PyTorch: at the example inputs, and at
other sizes of the dynamic dims."""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Callable

import numpy as np
import torch

from ._errors import ExportError


@dataclasses.dataclass
class Row:
    runtime: str
    inputs: str        # "example" or the sizes used, e.g. "batch=3, seq=11"
    output: str
    max_abs: float
    max_rel: float
    ok: bool
    note: str = ""


@dataclasses.dataclass
class Report:
    rows: list[Row]
    notes: list[str]
    rtol: float
    atol: float

    @property
    def ok(self) -> bool:
        return bool(self.rows) and all(r.ok for r in self.rows if r.runtime == "onnxruntime" or not
                                       any(x.runtime == "onnxruntime" for x in self.rows))

    @property
    def max_abs(self) -> float:
        return max((r.max_abs for r in self.rows), default=0.0)

    @property
    def max_rel(self) -> float:
        return max((r.max_rel for r in self.rows), default=0.0)

    def __str__(self) -> str:
        lines = [f"onnxkit.export verify (rtol {self.rtol:g}, atol {self.atol:g}): "
                 f"{'OK' if self.ok else 'MISMATCH'}, max abs error {self.max_abs:.3g}, "
                 f"max rel error {self.max_rel:.3g}"]
        w = max((len(r.inputs) for r in self.rows), default=7)
        for r in self.rows:
            lines.append(f"  {r.runtime:<12} {r.inputs:<{w}}  {r.output:<24} abs {r.max_abs:9.3g}  "
                         f"rel {r.max_rel:9.3g}  {'ok' if r.ok else 'MISMATCH'}{'  ' + r.note if r.note else ''}")
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


def _resized(t: torch.Tensor, dims: dict[int, int], gen: torch.Generator) -> torch.Tensor:
    shape = [dims.get(i, s) for i, s in enumerate(t.shape)]
    if t.dtype == torch.bool:
        return torch.ones(shape, dtype=torch.bool) if t.all() else torch.rand(shape, generator=gen) > 0.5
    if t.dtype.is_floating_point:
        std = float(t.float().std()) if t.numel() > 1 else 1.0
        return (torch.randn(shape, generator=gen) * (std or 1.0) + float(t.float().mean())).to(t.dtype)
    lo, hi = int(t.min()), int(t.max())
    if lo >= 0 and hi <= 1:  # a mask: mostly ones, like the example
        out = torch.ones(shape, dtype=t.dtype)
        if len(shape) >= 2 and shape[-1] > 2:
            out[..., -1:] = int(t.flatten()[-1])
        return out
    return torch.randint(lo, hi + 1, shape, generator=gen, dtype=t.dtype)


def _compare(got: np.ndarray, want: np.ndarray, rtol: float, atol: float) -> tuple[float, float, bool]:
    if got.shape != want.shape:
        return float("inf"), float("inf"), False
    if got.dtype == np.bool_ or want.dtype == np.bool_:
        bad = float(np.sum(got != want))
        return bad, bad, bad == 0
    g, w = got.astype(np.float64), want.astype(np.float64)
    diff = np.abs(g - w)
    finite = np.isfinite(diff)
    same_nonfinite = np.all((g == w) | (np.isnan(g) & np.isnan(w)) | finite)
    d = diff[finite]
    max_abs = float(d.max()) if d.size else 0.0
    rel = d / np.maximum(np.abs(w[finite]), 1e-12)
    max_rel = float(rel.max()) if rel.size else 0.0
    ok = bool(same_nonfinite and np.allclose(g[finite], w[finite], rtol=rtol, atol=atol))
    return max_abs, max_rel, ok


def verify(model: Any, fn: Callable, args: Any = (), kwargs: dict | None = None, *,
           dynamic_shapes: Any = None, input_names: Any = None, other_sizes: int = 2,
           rtol: float = 1e-3, atol: float = 1e-4, seed: int = 0) -> Report:
    """Compare ``model`` with eager ``fn`` (outputs flattened in the same order)
    in onnxruntime and, when it exists, onnxkit's runtime (``onnxkit.run``), at the
    example inputs, at ``other_sizes`` other sizes of the dynamic dims, and at the
    sizes that cross the model's recorded size decisions (each dynamic dim at 1,
    and on both sides of every guard or assumption the exporter listed in
    ``metadata_props["onnxkit.guard_sizes"]``), one dim at a time.  A size the
    model refuses by its size guard (outside the sizes it was traced for) is a
    passing row: refusing is right, answering wrongly is not."""
    import onnxkit

    from ._api import _Inputs, flatten_outputs

    if not isinstance(args, tuple):
        args = tuple(args) if isinstance(args, list) else (args,)
    kwargs = dict(kwargs or {})
    inputs = _Inputs(fn, args, kwargs, input_names, dynamic_shapes)
    graph_inputs = [v.name for v in model.graph.inputs]
    data = onnxkit.to_bytes(model)
    runtimes: list[tuple[str, Callable]] = []
    notes: list[str] = []
    try:
        import onnxruntime as ort

        sess = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
        runtimes.append(("onnxruntime", lambda feeds: sess.run(None, feeds)))
    except ImportError:
        notes.append("onnxruntime is not installed")
    except Exception as e:
        raise ExportError(f"onnxruntime refuses the exported model: {e}") from None
    if hasattr(onnxkit, "run"):
        runtimes.append(("onnxkit", lambda feeds: list(_as_list(onnxkit.run(model, feeds)))))
    if not runtimes:
        raise ExportError("verify needs onnxruntime (pip install onnxruntime) or onnxkit's runtime")

    gen = torch.Generator().manual_seed(seed)
    cases = [("example", inputs.tensors)]
    names = sorted({n for d in inputs.dynamic for n in d.values()})
    for k in range(other_sizes if names else 0):
        sizes: dict[str, int] = {}
        for t, d in zip(inputs.tensors, inputs.dynamic):
            for i, n in d.items():
                sizes.setdefault(n, t.shape[i] + 1 + 2 * k)
        tensors = [_resized(t, {i: sizes[n] for i, n in d.items()}, gen) if d else t
                   for t, d in zip(inputs.tensors, inputs.dynamic)]
        cases.append((", ".join(f"{n}={sizes[n]}" for n in names), tensors))

    crossing: dict[str, list[int]] = {n: [1] for n in names}
    try:
        for n, vals in json.loads(model.metadata_props.get("onnxkit.guard_sizes", "{}")).items():
            crossing.setdefault(n, []).extend(int(v) for v in vals)
    except (ValueError, TypeError):
        pass
    traced = {n: t.shape[i] for t, d in zip(inputs.tensors, inputs.dynamic) for i, n in d.items()}
    tried = {tuple(sorted(traced.items()))}
    for n in sorted(crossing):
        if n not in traced:
            continue
        for v in sorted(set(crossing[n]))[:12]:
            sizes = {**traced, n: v}
            if v < 1 or tuple(sorted(sizes.items())) in tried:
                continue
            tried.add(tuple(sorted(sizes.items())))
            tensors = [_resized(t, {i: sizes[m] for i, m in d.items()}, gen) if d else t
                       for t, d in zip(inputs.tensors, inputs.dynamic)]
            cases.append((", ".join(f"{m}={sizes[m]}" for m in names), tensors))

    rows: list[Row] = []
    for label, tensors in cases:
        a, kw = inputs.rebuild(tensors)
        try:
            with torch.no_grad():
                want = [t.detach().numpy() for _, t in flatten_outputs(fn(*a, **kw))]
        except Exception as e:
            notes.append(f"eager PyTorch fails at {label}: {type(e).__name__}: {e}; size skipped")
            continue
        feeds = {n: t.detach().numpy() for n, t in zip(graph_inputs, tensors)}
        out_names = [v.name for v in model.graph.outputs]
        for rt, run in runtimes:
            try:
                got = run(feeds)
            except Exception as e:
                if "onnxkit_size_guard" in str(e):
                    rows.append(Row(rt, label, "*", 0.0, 0.0, True,
                                    "refused: a size the model was not traced for (its size guard)"))
                    continue
                rows.append(Row(rt, label, "*", float("inf"), float("inf"), False, f"{type(e).__name__}: {str(e)[:200]}"))
                continue
            for name, g, w in zip(out_names, got, want):
                ma, mr, ok = _compare(np.asarray(g), w, rtol, atol)
                rows.append(Row(rt, label, name, ma, mr, ok))
    return Report(rows, notes, rtol, atol)


def _as_list(x: Any) -> Any:
    if isinstance(x, dict):
        return list(x.values())
    return x
