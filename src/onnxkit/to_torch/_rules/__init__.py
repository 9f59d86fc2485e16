"""Conversion rules by op family (each module registers its rules with
:func:`onnxkit.to_torch._registry.rule` when imported):

* ``elementwise``: arithmetic, comparisons, logic, activations, Softmax
  family, Cast, CumSum/CumProd, Einsum, (de)quantization, opset 1-6 forms;
* ``tensor``: shape, layout and indexing (Reshape ... Gather/Scatter, Pad, TopK);
* ``nn``: MatMul, Gemm, Conv, ConvTranspose, pooling, Resize, GridSample;
* ``norm``: normalization layers and losses;
* ``reduce``: reductions, ArgMax/ArgMin;
* ``attention``: Attention, RotaryEmbedding;
* ``recurrent``: RNN, GRU, LSTM;
* ``sequence``: sequences and optionals.

Helpers they share are in ``_common``."""
