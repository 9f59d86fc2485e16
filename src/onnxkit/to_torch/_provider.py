"""The ``"torch"`` execution provider: ``Session(model, providers=["torch"],
provider_options=[{"device": "cuda", "compile": False}])`` runs the module of
:func:`onnxkit.to_torch.to_torch` (under ``no_grad``), numpy in, numpy out.

Found by name by ``onnxkit/runtime/_providers.py`` (the runtime is below this
package in the layers and does not import it by an import statement)."""

from __future__ import annotations

from typing import Any

from ..errors import ProviderError

_OPTIONS = {"device", "compile"}


def device_available(device: str) -> bool:
    import torch
    try:
        d = torch.device(str(device).lower())
    except (RuntimeError, TypeError):
        return False
    if d.type == "cpu":
        return True
    if d.type == "cuda":
        if not torch.cuda.is_available():
            return False
        return d.index is None or d.index < torch.cuda.device_count()
    return False


def create(model: Any, options: dict) -> "TorchRunner":
    unknown = set(options) - _OPTIONS
    if unknown:
        raise ProviderError(f"unknown option(s) {sorted(unknown)} of the 'torch' provider; "
                            f"it takes {sorted(_OPTIONS)}")
    device = str(options.get("device", "cpu") or "cpu")
    if not device_available(device):
        import torch
        why = "torch.cuda.is_available() is False" if device.lower().startswith("cuda") \
            and not torch.cuda.is_available() else f"torch has no device {device!r} here"
        raise ProviderError(f"the 'torch' provider cannot run on device {device!r}: {why}")
    return TorchRunner(model, device, bool(options.get("compile", False)))


class TorchRunner:
    def __init__(self, model: Any, device: str, compile: bool) -> None:
        import torch
        from ._convert import to_torch
        self.module = to_torch(model, device=device)
        self.module.eval()
        self.device = torch.device(device)
        self.options = {"device": device, "compile": compile}
        self._call = torch.compile(self.module) if compile else self.module
        self.threads: int | None = None     # Session(threads=) sets it: torch's CPU threads during a run

    def _set_threads(self) -> int | None:
        """Set torch's CPU thread count to ``self.threads``; the count it had, to put back (None:
        unchanged).  torch's count is process-wide, like OpenBLAS's: the session's count holds
        for the duration of a run."""
        import torch
        if not self.threads or self.device.type != "cpu" or torch.get_num_threads() == self.threads:
            return None
        before = torch.get_num_threads()
        torch.set_num_threads(self.threads)
        return before

    def run(self, feeds: dict, names: list) -> list:
        import torch
        from ._dtypes import from_numpy, to_numpy
        m = self.module
        args = [from_numpy(feeds[n], self.device) if n in feeds else None for n in m.onnx_inputs]
        before = self._set_threads()
        try:
            with torch.no_grad():
                out = self._call(*args)
        finally:
            if before is not None:
                torch.set_num_threads(before)
        if len(m.onnx_outputs) == 1:
            out = (out,)
        by_name = dict(zip(m.onnx_outputs, out))
        return [to_numpy(by_name[n]) for n in names]
