"""String operators: StringConcat, StringNormalizer, StringSplit,
RegexFullMatch, TfIdfVectorizer.

String tensors are object arrays; inputs may hold ``str`` or ``bytes``
(decoded as UTF-8), outputs hold ``str``.
"""

from __future__ import annotations

import re
from functools import lru_cache

import numpy as np

from ..ir import DataType
from ._registry import kernel, shape
from ._shape import elementwise
from .cast import as_strings


# ---------------------------------------------------------------- StringConcat
@kernel("StringConcat", 20)
def string_concat(x, y):
    return np.asarray(np.add(as_strings(x), as_strings(y), dtype=object), dtype=object)


@shape("StringConcat", 20)
def string_concat_shape(ctx) -> None:
    elementwise(ctx, DataType.STRING)


# ---------------------------------------------------------------- StringNormalizer
@kernel("StringNormalizer", 10)
def string_normalizer(x, *, case_change_action="NONE", is_case_sensitive=0, locale="",
                      stopwords=None):
    """Drop the elements equal to a stop word (compared case-insensitively
    unless ``is_case_sensitive``), then change case.  [C] and [1, C] inputs;
    when everything is dropped the result is one empty string."""
    if not (x.ndim == 1 or (x.ndim == 2 and x.shape[0] == 1)):
        raise ValueError(f"StringNormalizer takes a [C] or [1, C] tensor, got shape {list(x.shape)}")
    words = as_strings(x).reshape(-1).tolist()
    if stopwords:
        if is_case_sensitive:
            stops = set(stopwords)
            words = [w for w in words if w not in stops]
        else:
            stops = {s.casefold() for s in stopwords}
            words = [w for w in words if w.casefold() not in stops]
    if case_change_action == "LOWER":
        words = [w.lower() for w in words]
    elif case_change_action == "UPPER":
        words = [w.upper() for w in words]
    elif case_change_action != "NONE":
        raise ValueError(f"case_change_action must be LOWER, UPPER or NONE, not {case_change_action!r}")
    out = np.empty(len(words) or 1, dtype=object)
    out[:] = words or [""]
    return out.reshape(1, -1) if x.ndim == 2 else out


@shape("StringNormalizer", 10)
def string_normalizer_shape(ctx) -> None:
    s = ctx.input_shape(0)
    if s is not None and len(s) not in (1, 2):
        ctx.fail(f"input must be [C] or [1, C], has rank {len(s)}")
        return
    if s is None:
        ctx.set_output(0, DataType.STRING, None)
        return
    # with stop words, how many elements remain is known at run time only;
    # without, all of them, but an empty input gives one empty string
    c = s[-1]
    kept = None if ctx.attr("stopwords") or not isinstance(c, int) else max(c, 1)
    ctx.set_output(0, DataType.STRING, (kept,) if len(s) == 1 else (1, kept))


# ---------------------------------------------------------------- StringSplit
@kernel("StringSplit", 20)
def string_split(x, *, delimiter="", maxsplit=-1):
    strs = as_strings(x).reshape(-1)
    sep = delimiter or None
    parts = [s.split(sep, maxsplit) for s in strs]
    counts = np.array([len(p) for p in parts], dtype=np.int64)
    width = int(counts.max(initial=0))
    out = np.full((len(parts), width), "", dtype=object)
    for i, p in enumerate(parts):
        out[i, :len(p)] = p
    return out.reshape(*x.shape, width), counts.reshape(x.shape)


@shape("StringSplit", 20)
def string_split_shape(ctx) -> None:
    s = ctx.input_shape(0)
    ctx.set_output(0, DataType.STRING, None if s is None else (*s, None))
    if ctx.n_outputs > 1:
        ctx.set_output(1, DataType.INT64, s)


# ---------------------------------------------------------------- RegexFullMatch
@lru_cache(maxsize=64)
def _compile(pattern: str) -> re.Pattern:
    return re.compile(pattern)


@kernel("RegexFullMatch", 20)
def regex_full_match(x, *, pattern=""):
    rx = _compile(pattern)
    flat = [rx.fullmatch(s) is not None for s in as_strings(x).reshape(-1)]
    return np.array(flat, dtype=bool).reshape(x.shape)


@shape("RegexFullMatch", 20)
def regex_full_match_shape(ctx) -> None:
    pattern = ctx.attr("pattern", "")
    try:
        _compile(pattern)
    except re.error as e:
        ctx.fail(f"pattern {pattern!r} is not a valid regular expression: {e}")
        return
    ctx.set_output(0, DataType.BOOL, ctx.input_shape(0))


# ---------------------------------------------------------------- TfIdfVectorizer
def _pool(ngram_counts, pool, min_n: int, max_n: int) -> dict[int, dict[tuple, int]]:
    """{n: {n-gram tuple: its index in the pool}} for n in [min_n, max_n]."""
    grams: dict[int, dict[tuple, int]] = {}
    bounds = list(ngram_counts) + [len(pool)]
    index = 0
    for k in range(len(ngram_counts)):
        n = k + 1
        seg = pool[bounds[k]:bounds[k + 1]]
        for j in range(0, len(seg) - n + 1, n):
            if min_n <= n <= max_n:
                grams.setdefault(n, {})[tuple(seg[j:j + n])] = index
            index += 1
    return grams


@kernel("TfIdfVectorizer", 9)
def tfidf_vectorizer(x, *, mode, ngram_indexes, ngram_counts, max_skip_count, min_gram_length,
                     max_gram_length, weights=None, pool_int64s=None, pool_strings=None):
    if x.ndim > 2:
        raise ValueError(f"TfIdfVectorizer takes a [C] or [N, C] tensor, got shape {list(x.shape)}")
    if pool_strings is not None:
        pool = list(pool_strings)
        rows = as_strings(x).reshape(-1 if x.ndim < 2 else x.shape[0], x.shape[-1] if x.ndim else 1)
    else:
        pool = [int(v) for v in pool_int64s or ()]
        rows = x.reshape(-1 if x.ndim < 2 else x.shape[0], x.shape[-1] if x.ndim else 1)
    grams = _pool(ngram_counts, pool, min_gram_length, max_gram_length)
    size = max(ngram_indexes) + 1 if len(ngram_indexes) else 0
    counts = np.zeros((rows.shape[0], len(ngram_indexes)), dtype=np.float32)
    for r, row in enumerate(rows.tolist()):
        c = len(row)
        for n, table in grams.items():
            for skip in range(1 if n == 1 else max_skip_count + 1):
                step = skip + 1
                for i in range(c - (n - 1) * step):
                    hit = table.get(tuple(row[i:i + (n - 1) * step + 1:step]))
                    if hit is not None:
                        counts[r, hit] += 1
    w = np.ones(len(ngram_indexes), np.float32) if weights is None else np.asarray(weights, np.float32)
    if mode == "IDF":
        counts = np.minimum(counts, 1) * w
    elif mode == "TFIDF":
        counts = counts * w
    elif mode != "TF":
        raise ValueError(f"mode must be TF, IDF or TFIDF, not {mode!r}")
    out = np.zeros((rows.shape[0], size), dtype=np.float32)
    np.add.at(out, (slice(None), np.asarray(ngram_indexes, dtype=np.int64)), counts)
    return out if x.ndim == 2 else out.reshape(size)


@shape("TfIdfVectorizer", 9)
def tfidf_vectorizer_shape(ctx) -> None:
    idx = ctx.attr("ngram_indexes") or []
    size = max(idx) + 1 if len(idx) else 0
    s = ctx.input_shape(0)
    if s is None:
        ctx.set_output(0, DataType.FLOAT, None)
    elif len(s) == 2:
        ctx.set_output(0, DataType.FLOAT, (s[0], size))
    elif len(s) <= 1:
        ctx.set_output(0, DataType.FLOAT, (size,))
    else:
        ctx.fail(f"input must be [C] or [N, C], has rank {len(s)}")

