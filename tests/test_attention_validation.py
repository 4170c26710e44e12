"""Bad input to the attention and Transformer code raises a ValueError that names the argument."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
import torch

from seqlib.attention import MultiheadAttention, causal_mask, padding_mask, scaled_dot_product_attention
from seqlib.positional import PositionalEncoding, sinusoidal_positional_encoding
from seqlib.seq2seq import Seq2SeqTransformer, toy_batch
from seqlib.transformer import (
    LayerNorm,
    Transformer,
    TransformerDecoderLayer,
    TransformerEncoder,
    TransformerEncoderLayer,
)

E, H, B, T, S = 8, 2, 3, 4, 5


def _mha(**kwargs: object) -> MultiheadAttention:
    return MultiheadAttention(E, H, batch_first=True, **kwargs)


def _x(*shape: int) -> torch.Tensor:
    return torch.randn(*shape)


def _call_mha(query: torch.Tensor | None = None, key: torch.Tensor | None = None, value: torch.Tensor | None = None,
              **kwargs: object) -> Callable[[], object]:
    query = _x(B, T, E) if query is None else query
    key = _x(B, S, E) if key is None else key
    value = _x(B, S, E) if value is None else value
    return lambda: _mha()(query, key, value, **kwargs)


def _enc_layer() -> TransformerEncoderLayer:
    return TransformerEncoderLayer(E, H, 16, batch_first=True)


def _dec_layer() -> TransformerDecoderLayer:
    return TransformerDecoderLayer(E, H, 16, batch_first=True)


q4, k4, v4 = _x(B, H, T, 4), _x(B, H, S, 4), _x(B, H, S, 6)

CASES: dict[str, tuple[Callable[[], object], str]] = {
    # constructor arguments
    "embed_dim not divisible by num_heads": (lambda: MultiheadAttention(10, 3), "embed_dim"),
    "num_heads zero": (lambda: MultiheadAttention(8, 0), "num_heads"),
    "dropout out of range": (lambda: MultiheadAttention(8, 2, dropout=1.5), "dropout"),
    "kdim not positive": (lambda: MultiheadAttention(8, 2, kdim=0), "kdim"),
    "d_model not divisible by nhead": (lambda: TransformerEncoderLayer(10, 4), "d_model"),
    "unknown activation": (lambda: TransformerEncoderLayer(8, 2, activation="tanh"), "activation"),
    "num_layers zero": (lambda: TransformerEncoder(_enc_layer(), 0), "num_layers"),
    "encoder_layer of the wrong kind": (lambda: TransformerEncoder(torch.nn.Linear(2, 2), 2), "encoder_layer"),
    # MultiheadAttention call: features, rank, lengths, batch
    "query feature size": (_call_mha(query=_x(B, T, E + 1)), "query"),
    "key feature size (kdim)": (_call_mha(key=_x(B, S, E + 1)), "key"),
    "value feature size (vdim)": (_call_mha(value=_x(B, S, 3)), "value"),
    "query rank 4": (_call_mha(query=_x(1, B, T, E)), "query"),
    "batched query, unbatched key": (_call_mha(key=_x(S, E), value=_x(S, E)), "query, key, value"),
    "key/value length mismatch": (_call_mha(value=_x(B, S + 1, E)), "value"),
    "key batch mismatch": (_call_mha(key=_x(B + 1, S, E), value=_x(B + 1, S, E)), "key"),
    # MultiheadAttention call: masks
    "key_padding_mask batch mismatch": (_call_mha(key_padding_mask=padding_mask([5, 4], S)), "key_padding_mask"),
    "key_padding_mask length": (_call_mha(key_padding_mask=torch.zeros(B, S + 2, dtype=torch.bool)),
                                "key_padding_mask"),
    "key_padding_mask int dtype": (_call_mha(key_padding_mask=torch.zeros(B, S, dtype=torch.long)),
                                   "key_padding_mask"),
    "attn_mask shape": (_call_mha(attn_mask=causal_mask(T)), "attn_mask"),
    "attn_mask int dtype": (_call_mha(attn_mask=torch.zeros(T, S, dtype=torch.int32)), "attn_mask"),
    "attn_mask 3-D without heads": (_call_mha(attn_mask=torch.zeros(B, T, S, dtype=torch.bool)), "attn_mask"),
    "attn_mask not a tensor": (_call_mha(attn_mask=[[True]]), "attn_mask"),
    "is_causal with T != S and no mask": (_call_mha(is_causal=True), "is_causal"),
    # scaled_dot_product_attention
    "q rank 1": (lambda: scaled_dot_product_attention(_x(4), _x(5, 4), _x(5, 4)), "q"),
    "q, k ranks differ": (lambda: scaled_dot_product_attention(q4, k4[0], v4[0]), "q, k, v"),
    "k features differ from q": (lambda: scaled_dot_product_attention(q4, _x(B, H, S, 5), v4), "k"),
    "v length differs from k": (lambda: scaled_dot_product_attention(q4, k4, _x(B, H, S + 1, 6)), "v"),
    "leading dims differ": (lambda: scaled_dot_product_attention(q4, _x(B, H + 1, S, 4), _x(B, H + 1, S, 6)),
                            "q, k, v"),
    "sdpa attn_mask not broadcastable": (lambda: scaled_dot_product_attention(q4, k4, v4, attn_mask=causal_mask(S)),
                                         "attn_mask"),
    "sdpa attn_mask dtype": (lambda: scaled_dot_product_attention(q4, k4, v4, attn_mask=torch.ones(T, S).long()),
                             "attn_mask"),
    "sdpa key_padding_mask batch": (lambda: scaled_dot_product_attention(q4, k4, v4,
                                                                         key_padding_mask=padding_mask([1], S)),
                                    "key_padding_mask"),
    "sdpa dropout_p": (lambda: scaled_dot_product_attention(q4, k4, v4, dropout_p=1.0), "dropout_p"),
    # mask helpers
    "causal_mask size zero": (lambda: causal_mask(0), "size"),
    "causal_mask int dtype": (lambda: causal_mask(3, dtype=torch.int64), "dtype"),
    "padding_mask 2-D lengths": (lambda: padding_mask(torch.ones(2, 2, dtype=torch.long)), "lengths"),
    "padding_mask max_len too short": (lambda: padding_mask([3, 5], max_len=4), "max_len"),
    # layers and stacks: errors name the layer's own arguments
    "encoder src feature size": (lambda: _enc_layer()(_x(B, S, E + 2)), "src"),
    "encoder src rank": (lambda: _enc_layer()(_x(S)), "src"),
    "encoder src_mask shape": (lambda: _enc_layer()(_x(B, S, E), src_mask=causal_mask(S + 1)), "src_mask"),
    "encoder src_key_padding_mask batch": (lambda: _enc_layer()(_x(B, S, E), src_key_padding_mask=padding_mask([5])),
                                           "src_key_padding_mask"),
    "decoder memory batch mismatch": (lambda: _dec_layer()(_x(B, T, E), _x(B + 1, S, E)), "memory"),
    "decoder memory_mask shape": (lambda: _dec_layer()(_x(B, T, E), _x(B, S, E), memory_mask=causal_mask(T)),
                                  "memory_mask"),
    "decoder tgt_mask dtype": (lambda: _dec_layer()(_x(B, T, E), _x(B, S, E),
                                                    tgt_mask=torch.zeros(T, T, dtype=torch.long)), "tgt_mask"),
    "transformer batch mismatch": (lambda: Transformer(E, H, 1, 1, 16, batch_first=True)(_x(B, S, E), _x(B + 1, T, E)),
                                   "batch size"),
    "transformer tgt features": (lambda: Transformer(E, H, 1, 1, 16)(_x(S, B, E), _x(T, B, E + 1)), "tgt"),
    "layer norm features": (lambda: LayerNorm(E)(_x(2, E + 1)), "x"),
    # positional encoding and seq2seq
    "positional max_len zero": (lambda: sinusoidal_positional_encoding(0, 4), "max_len"),
    "positional d_model zero": (lambda: sinusoidal_positional_encoding(4, 0), "d_model"),
    "positional input longer than max_len": (lambda: PositionalEncoding(E, max_len=3)(_x(B, 4, E)), "max_len"),
    "positional input features": (lambda: PositionalEncoding(E)(_x(B, 4, E + 1)), "x"),
    "seq2seq float token ids": (lambda: Seq2SeqTransformer(5, 5, 8, 2, 1, 1, 16)(_x(2, 3), torch.ones(2, 3).long()),
                                "src"),
    "seq2seq pad_id outside the vocabulary": (lambda: Seq2SeqTransformer(5, 5, pad_id=7), "pad_id"),
    "toy task unknown": (lambda: toy_batch("shuffle", 2), "task"),
    # dtypes (issue 15): what torch.nn refuses with its own words, refused here naming the argument
    "sdpa q float64, k and v float32": (lambda: scaled_dot_product_attention(q4.double(), k4, v4), "k"),
    "sdpa v float64": (lambda: scaled_dot_product_attention(q4, k4, v4.double()), "v"),
    "sdpa integer inputs": (lambda: scaled_dot_product_attention(q4.long(), k4.long(), v4.long()), "q"),
    "sdpa float64 mask, float32 scores": (lambda: scaled_dot_product_attention(
        q4, k4, v4, attn_mask=torch.zeros(T, S, dtype=torch.float64)), "attn_mask"),
    "sdpa float64 key_padding_mask": (lambda: scaled_dot_product_attention(
        q4, k4, v4, key_padding_mask=torch.zeros(B, S, dtype=torch.float64)), "key_padding_mask"),
    "mha float64 query, float32 module": (_call_mha(query=_x(B, T, E).double()), "query"),
    "mha integer key": (_call_mha(key=torch.ones(B, S, E, dtype=torch.long)), "key"),
    "mha float64 attn_mask": (_call_mha(attn_mask=torch.zeros(T, S, dtype=torch.float64)), "attn_mask"),
    "mha float16 key_padding_mask": (_call_mha(key_padding_mask=torch.zeros(B, S, dtype=torch.float16)),
                                     "key_padding_mask"),
    "encoder float64 src": (lambda: _enc_layer()(_x(B, S, E).double()), "src"),
    "encoder float64 src_mask": (lambda: _enc_layer()(_x(B, S, E), src_mask=torch.zeros(S, S).double()), "src_mask"),
    "decoder float64 memory": (lambda: _dec_layer()(_x(B, T, E), _x(B, S, E).double()), "memory"),
    "transformer src not a tensor": (lambda: Transformer(E, H, 1, 1, 16)([[0.0] * E], _x(T, B, E)), "src"),
    "layer norm float64 input": (lambda: LayerNorm(E)(_x(2, E).double()), "input"),
    "layer norm integer input": (lambda: LayerNorm(E)(torch.ones(2, E, dtype=torch.long)), "input"),
    "positional float64 x, float32 table": (lambda: PositionalEncoding(E)(_x(B, 4, E).double()), "x"),
    "positional integer x (token ids)": (lambda: PositionalEncoding(E)(torch.ones(B, 4, E, dtype=torch.long)), "x"),
    "positional x not a tensor": (lambda: PositionalEncoding(E)([[0.0] * E]), "x"),
    "positional float offset": (lambda: PositionalEncoding(E)(_x(B, 4, E), offset=1.5), "offset"),
    "positional bool offset": (lambda: PositionalEncoding(E)(_x(B, 4, E), offset=True), "offset"),
    "positional negative offset": (lambda: PositionalEncoding(E, max_len=10)(_x(B, 4, E), offset=-1), "max_len"),
}


def test_there_are_at_least_twenty_cases() -> None:
    assert len(CASES) >= 20


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_raises_value_error_naming_the_argument(case: str) -> None:
    call, argument = CASES[case]
    with pytest.raises(ValueError) as error:
        call()
    # the argument's name appears as a whole word (so "q" is not satisfied by "query")
    assert re.search(rf"(^|[^\w]){re.escape(argument)}([^\w]|$)", str(error.value)), str(error.value)


def test_float64_everywhere_is_accepted_as_torch_nn_accepts_it() -> None:
    """A mismatch is refused; float64 inputs to float64 modules (and float64 masks with float64 scores) are not."""
    q, k, v = q4.double(), k4.double(), v4.double()
    out = scaled_dot_product_attention(q, k, v, attn_mask=torch.zeros(T, S, dtype=torch.float64))
    assert out.dtype == torch.float64
    mha = _mha().double()
    x = _x(B, T, E).double()
    assert mha(x, x, x, attn_mask=causal_mask(T, dtype=torch.float64))[0].dtype == torch.float64
    assert _enc_layer().double()(x).dtype == torch.float64
    assert LayerNorm(E).double()(x).dtype == torch.float64
    assert PositionalEncoding(E, dtype=torch.float64)(x).dtype == torch.float64
    assert PositionalEncoding(E)(_x(B, 4, E), offset=torch.tensor(2).item()).shape == (B, 4, E)


def test_a_dtype_mismatch_says_how_to_fix_it() -> None:
    with pytest.raises(ValueError, match=re.escape("query has dtype torch.float64 but the module's parameters have "
                                                   "dtype torch.float32; convert one of them, e.g. module.to(")):
        _call_mha(query=_x(B, T, E).double(), key=_x(B, S, E).double(), value=_x(B, S, E).double())()
    message = "q must be a floating-point tensor, got dtype torch.int64: token ids go through an embedding first"
    with pytest.raises(ValueError, match=re.escape(message)):
        scaled_dot_product_attention(q4.long(), k4.long(), v4.long())
