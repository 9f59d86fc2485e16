"""Execution providers: the table of names a :class:`~onnxkit.Session` accepts.

``"numpy"`` (the default) is the runtime's own plan.  Every other provider
lives in a higher layer (``"torch"``: ``onnxkit/to_torch/_provider.py``, which
runs the module of :func:`onnxkit.to_torch`); the runtime cannot import it by
an import statement (see the layer list of docs/architecture.md), so it is
found by name: ``importlib.import_module("onnxkit.<package>._provider")``,
the one sanctioned dynamic lookup of the package.  Such a module defines

    def create(model, options: dict) -> runner        # raises ProviderError
    def device_available(device: str) -> bool

and the runner ``run(feeds: dict[name, array], names: list[str]) -> list``
(numpy arrays, in the order of ``names``) and ``options`` (a dict, the options
in use).  Asking for a provider that is unknown or not available raises
:class:`~onnxkit.errors.ProviderError`: never a silent fallback.
"""

from __future__ import annotations

import importlib
from typing import Any, Sequence

from ..errors import ProviderError

#: provider name -> the package of onnxkit holding its ``_provider`` module (None: the runtime itself)
PROVIDERS: dict[str, str | None] = {
    "numpy": None,
    "torch": "to_torch",
}


def provider_module(name: str) -> Any:
    """The ``_provider`` module of provider ``name`` (ProviderError if it cannot be loaded)."""
    package = PROVIDERS[name]
    try:
        return importlib.import_module(f"onnxkit.{package}._provider")
    except ImportError as e:
        extra = f'; install it with pip install "onnxkit[{name}]"' if name == "torch" else ""
        raise ProviderError(f"execution provider {name!r} is not available: {e}{extra}") from None


def resolve(providers: Sequence[Any] | None,
            provider_options: Sequence[dict] | None) -> tuple[str, dict]:
    """(name, options) of the provider asked for; ``providers`` is a list of
    one name (or one ``(name, options)`` pair, as onnxruntime takes)."""
    if providers is None:
        providers = ["numpy"]
    if isinstance(providers, str):
        providers = [providers]
    providers = list(providers)
    if len(providers) != 1:
        raise ProviderError(f"give one execution provider, not {len(providers)} ({providers!r}); "
                            f"onnxkit never falls back from one to another. Known: {sorted(PROVIDERS)}")
    p = providers[0]
    options: dict = {}
    if isinstance(p, (tuple, list)) and len(p) == 2:
        p, options = p[0], dict(p[1] or {})
    if provider_options is not None:
        provider_options = list(provider_options)
        if len(provider_options) != 1:
            raise ProviderError(f"provider_options must hold one dict per provider (1), "
                                f"not {len(provider_options)}")
        options.update(provider_options[0] or {})
    if not isinstance(p, str) or p not in PROVIDERS:
        raise ProviderError(f"unknown execution provider {p!r}; onnxkit's providers are {sorted(PROVIDERS)}")
    if PROVIDERS[p] is None and options:
        raise ProviderError(f"the {p!r} provider takes no options, got {options!r}")
    return p, options


def create(name: str, model: Any, options: dict) -> Any:
    """The runner of provider ``name`` for ``model`` (None for the numpy provider)."""
    if PROVIDERS[name] is None:
        return None
    return provider_module(name).create(model, options)


def device_available(name: str, device: str) -> bool:
    """Whether provider ``name`` can run on ``device`` here ("cpu", "cuda")."""
    if PROVIDERS.get(name, "") is None:
        return str(device).lower() == "cpu"
    if name not in PROVIDERS:
        return False
    try:
        return bool(provider_module(name).device_available(device))
    except ProviderError:
        return False
