"""seqlib: from-scratch sequence models for the seqlib course.

Every model here is written from tensor operations, mirrors its ``torch.nn`` counterpart's
constructor and call, and can be built from one with ``from_torch``.  Internals (gate activations,
attention scores and weights) are *returned* as named results when asked for, never stashed.
"""

from seqlib._determinism import seed_everything

__version__ = "0.1.0"

__all__ = ["seed_everything", "__version__"]

# --- recurrent core (seqlib.recurrent) --------------------------------------------------------
from seqlib.recurrent import GRU, LSTM, RNN, GRUCell, GRUTrace, LSTMCell, LSTMTrace, RNNCell, RNNTrace  # noqa: E402

__all__ += ["RNNCell", "LSTMCell", "GRUCell", "RNN", "LSTM", "GRU", "RNNTrace", "LSTMTrace", "GRUTrace"]

# --- attention and Transformer core (seqlib.attention, seqlib.transformer) ----------------------
from seqlib.attention import (  # noqa: E402
    AttentionTrace,
    MultiheadAttention,
    MultiheadAttentionTrace,
    causal_mask,
    combine_masks,
    padding_mask,
    scaled_dot_product_attention,
)
from seqlib.positional import PositionalEncoding, sinusoidal_positional_encoding  # noqa: E402
from seqlib.seq2seq import Seq2SeqTransformer, greedy_decode, train_seq2seq  # noqa: E402
from seqlib.transformer import (  # noqa: E402
    LayerNorm,
    Transformer,
    TransformerDecoder,
    TransformerDecoderLayer,
    TransformerEncoder,
    TransformerEncoderLayer,
)

__all__ += [
    "AttentionTrace", "MultiheadAttention", "MultiheadAttentionTrace", "causal_mask", "combine_masks",
    "padding_mask", "scaled_dot_product_attention", "PositionalEncoding", "sinusoidal_positional_encoding",
    "LayerNorm", "Transformer", "TransformerDecoder", "TransformerDecoderLayer", "TransformerEncoder",
    "TransformerEncoderLayer", "Seq2SeqTransformer", "greedy_decode", "train_seq2seq",
]
