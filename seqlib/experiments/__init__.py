"""Computations behind the notebooks' figures and claims, one module per lesson.

The models live in ``seqlib.recurrent`` / ``seqlib.language_models``; what a notebook plots or
asserts about them (an unrolled weight matrix, gradient norms at a chosen spectral radius, the
accuracy of a memory task) is computed here and returned as a small named result, so that the
notebook shows numbers that unit tests also check, and no model code is typed into a notebook.

* :mod:`seqlib.experiments.unrolled`: an RNN unrolled in time as one wide fully connected layer.
* :mod:`seqlib.experiments.char_lm`: temperature, next-character distributions and samples of a
  character language model.
* :mod:`seqlib.experiments.gradient_flow`: ‖∂L/∂h_t‖ and ‖∂L/∂c_t‖ on real text, spectral radius,
  gradient clipping.
* :mod:`seqlib.experiments.long_memory`: the recall task that needs a memory of L steps, its models,
  training and the shipped results of ``bench/long_memory.py``.
"""
