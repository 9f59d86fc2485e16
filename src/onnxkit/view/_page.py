"""The HTML around the data: one self-contained file (the style sheet and the
script are inlined from ``page.css`` and ``page.js`` beside this module; the
data is a JSON block the script reads), so the page opens from disk with no
network."""

from __future__ import annotations

import html
import json
import math
import os

_HERE = os.path.dirname(os.path.abspath(__file__))


def _asset(name: str) -> str:
    with open(os.path.join(_HERE, name), encoding="utf-8") as f:
        return f.read()


def _json(data: dict) -> str:
    # "</" would end the script element; U+2028/9 are fine in JSON, not in old JS
    try:
        text = json.dumps(data, separators=(",", ":"), allow_nan=False, default=str)
    except ValueError:      # a NaN or infinity somewhere (a constant's value): as text
        text = json.dumps(_finite(data), separators=(",", ":"), allow_nan=False, default=str)
    return text.replace("</", "<\\/").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def _finite(x):
    if isinstance(x, float):
        return x if math.isfinite(x) else str(x)
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_finite(v) for v in x]
    return x


def page(title: str, data: dict, body: str, legend: str = "") -> str:
    """A whole page: ``body`` is the markup the script draws into."""
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="generator" content="onnxkit view"><title>{html.escape(title)}</title>'
            f'<style>{_asset("page.css")}</style></head><body>'
            f'<div class="title">{html.escape(title)}{legend}</div>{body}'
            f'<script type="application/json" id="data">{_json(data)}</script>'
            f'<script>{_asset("page.js")}</script></body></html>\n')
