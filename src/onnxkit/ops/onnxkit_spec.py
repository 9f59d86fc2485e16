"""The ``ai.onnxkit`` domain (version 1): newer spec ops for models whose opset
predates them.

The "runtime" optimization level fuses LayerNormalization (spec opset 17),
Gelu (20) and Attention (23) into models of older opsets too, as ops of this
domain.  Each has exactly the semantics of the spec op at that version, so its
kernel and shape rule are the standard ones, registered again here (imported
and delegated, never copied).
"""

from __future__ import annotations

from ._registry import kernel, shape
from ._shape import same_as_input
from .math_activation import gelu
from .nn_attention import attention_23, attention_shape
from .nn_norm import layer_norm, layer_norm_shape

DOMAIN = "ai.onnxkit"

kernel("LayerNormalization", 1, domain=DOMAIN, context=True)(layer_norm)
shape("LayerNormalization", 1, domain=DOMAIN)(layer_norm_shape)

kernel("Gelu", 1, domain=DOMAIN)(gelu)
shape("Gelu", 1, domain=DOMAIN)(same_as_input)

@kernel("Attention", 1, domain=DOMAIN, context=True)
def _attention(ctx, q, k, v, *inputs, **attrs):
    # the standard kernel, told whether anyone reads the qk_matmul_output (4th) output
    return attention_23(q, k, v, *inputs, keep_qk=ctx.output_present(3), **attrs)


shape("Attention", 1, domain=DOMAIN)(attention_shape)
