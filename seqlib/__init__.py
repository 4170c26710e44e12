"""seqlib: from-scratch sequence models for the seqlib course.

Every model here is written from tensor operations, mirrors its ``torch.nn`` counterpart's
constructor and call, and can be built from one with ``from_torch``.  Internals (gate activations,
attention scores and weights) are *returned* as named results when asked for (``return_trace=True``),
never stashed.

The top level exports the ``torch.nn`` mirrors, the attention masks and :func:`seed_everything`;
everything else is imported from its topic module (``seqlib.data``, ``seqlib.train``,
``seqlib.language_models``, ``seqlib.autoregressive``, ``seqlib.ngram``, ``seqlib.gradients``,
``seqlib.init``, ``seqlib.seq2seq``, …).  What each notebook shows and asks lives in ``seqlib.course``.
"""

from seqlib._determinism import seed_everything
from seqlib.attention import MultiheadAttention, causal_mask, combine_masks, padding_mask, scaled_dot_product_attention
from seqlib.positional import PositionalEncoding
from seqlib.recurrent import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell
from seqlib.transformer import (
    LayerNorm,
    Transformer,
    TransformerDecoder,
    TransformerDecoderLayer,
    TransformerEncoder,
    TransformerEncoderLayer,
)

__version__ = "0.1.0"

__all__ = [
    "seed_everything",
    # recurrent (torch.nn.RNNCell … torch.nn.GRU)
    "RNNCell",
    "LSTMCell",
    "GRUCell",
    "RNN",
    "LSTM",
    "GRU",
    # attention and the Transformer (torch.nn.MultiheadAttention … torch.nn.Transformer, torch.nn.LayerNorm)
    "scaled_dot_product_attention",
    "MultiheadAttention",
    "PositionalEncoding",
    "LayerNorm",
    "TransformerEncoderLayer",
    "TransformerEncoder",
    "TransformerDecoderLayer",
    "TransformerDecoder",
    "Transformer",
    # masks (bool, True = may not attend)
    "causal_mask",
    "padding_mask",
    "combine_masks",
]
