"""seqlib.additive_attention: Bahdanau's score, the masked bidirectional encoder, the GRU encoder–decoder."""

from __future__ import annotations

import pytest
import torch

from seqlib import GRU, GRUCell
from seqlib import dates as D
from seqlib.additive_attention import AdditiveAttention, AttentionGRU, greedy_decode, reverse_padded
from seqlib.seq2seq import BOS_ID, EOS_ID, PAD_ID


def test_additive_score_is_the_papers_formula() -> None:
    attention = AdditiveAttention(query_size=3, key_size=4, attention_size=5)
    query, keys = torch.randn(2, 3), torch.randn(2, 6, 4)
    context, weights = attention(query, keys)
    W_q, W_k = attention.query_proj.weight, attention.key_proj.weight
    b, w = attention.key_proj.bias, attention.score.weight
    for i in range(2):
        scores = torch.stack([w[0] @ torch.tanh(W_q @ query[i] + W_k @ keys[i, j] + b) for j in range(6)])
        assert torch.allclose(weights[i], torch.softmax(scores, dim=0), atol=1e-6)
        assert torch.allclose(context[i], weights[i] @ keys[i], atol=1e-6)
    assert torch.allclose(weights.sum(dim=1), torch.ones(2))


def test_padding_gets_no_weight_and_an_all_padded_row_is_refused() -> None:
    attention = AdditiveAttention(2, 2, 3)
    keys = torch.randn(1, 4, 2)
    padding = torch.tensor([[False, False, True, True]])
    context, weights = attention(torch.randn(1, 2), keys, padding)
    assert weights[0, 2:].tolist() == [0.0, 0.0] and abs(weights.sum().item() - 1) < 1e-6
    assert context.shape == (1, 2)
    with pytest.raises(ValueError, match="every key"):
        attention(torch.randn(1, 2), keys, torch.ones(1, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="built for 2 and 2"):
        attention(torch.randn(1, 3), keys)
    with pytest.raises(ValueError, match="bool"):
        attention(torch.randn(1, 2), keys, torch.zeros(1, 4))


def test_reverse_padded_reverses_within_each_length() -> None:
    x = torch.arange(10).view(2, 5)
    out = reverse_padded(x, torch.tensor([3, 5]))
    assert out.tolist() == [[2, 1, 0, 3, 4], [9, 8, 7, 6, 5]]
    y = torch.randn(2, 5, 3)
    assert torch.equal(reverse_padded(reverse_padded(y, torch.tensor([2, 4])), torch.tensor([2, 4])), y)


def _model() -> AttentionGRU:
    torch.manual_seed(0)
    return AttentionGRU(D.SOURCE_VOCAB_SIZE, D.TARGET_VOCAB_SIZE, embedding_dim=8, hidden_size=12, attention_size=10)


def test_it_is_built_from_seqlibs_gru_and_gru_cell() -> None:
    model = _model()
    assert isinstance(model.encoder_forward, GRU) and isinstance(model.encoder_backward, GRU)
    assert isinstance(model.decoder_cell, GRUCell) and isinstance(model.attention, AdditiveAttention)


def test_more_padding_changes_nothing() -> None:
    """The backward encoder reads each sequence from its own end, so padding never enters a state."""
    model = _model().eval()
    src = D.encode_source(["1 May 2000"])
    padded = torch.cat([src, torch.full((1, 7), PAD_ID)], dim=1)
    tgt = D.encode_target(["2000-05-01"])[:, :-1]
    logits, trace = model(src, tgt, return_trace=True)
    padded_logits, padded_trace = model(padded, tgt, return_trace=True)
    assert torch.allclose(logits, padded_logits, atol=1e-6)
    assert padded_trace.weights.shape == (1, 11, 17) and padded_trace.weights[0, :, 10:].abs().max() == 0
    assert torch.allclose(trace.weights, padded_trace.weights[:, :, :10], atol=1e-6)


def test_greedy_decoding_agrees_with_teacher_forcing_on_its_own_output() -> None:
    model = _model()
    src = D.encode_source(["29/11/2026", "the 3rd of May 1999", "2026.11.29"])
    tokens, trace = greedy_decode(model, src, 11, BOS_ID, EOS_ID, return_trace=True)
    assert tokens.shape[0] == 3 and tokens.shape[1] <= 11 and trace.weights.shape[:2] == tokens.shape
    decoder_input = torch.cat([torch.full((3, 1), BOS_ID), tokens[:, :-1]], dim=1)
    logits = model(src, decoder_input)
    # up to each sequence's EOS (after it the decoder reads padding)
    for b in range(3):
        length = int((tokens[b] == EOS_ID).nonzero()[0]) + 1 if (tokens[b] == EOS_ID).any() else tokens.shape[1]
        assert torch.equal(logits[b, :length].argmax(dim=-1), tokens[b, :length])
    assert model.training  # restored


def test_the_date_trainer_trains_it_as_it_trains_the_transformer() -> None:
    model = _model()
    run = D.train_date_model(model, D.date_batches(D.date_split().train, 8, formats=["DD/MM/YYYY"]), max_steps=6,
                             lr=3e-2, lr_schedule="constant")
    assert run.result.losses[-1] < run.result.losses[0] - 0.3
    assert D.decode_dates(model, D.encode_source(["01/02/2003"])).shape[0] == 1


def test_bad_arguments() -> None:
    model = _model()
    with pytest.raises(ValueError, match="padding only"):
        model.encode(torch.zeros(1, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="token ids"):
        model(torch.full((1, 3), 999), torch.ones(1, 2, dtype=torch.long))
    with pytest.raises(ValueError, match="same batch size"):
        model(torch.ones(2, 3, dtype=torch.long) * 5, torch.ones(1, 2, dtype=torch.long))
    with pytest.raises(ValueError, match="AttentionGRU"):
        greedy_decode(torch.nn.Linear(1, 1), torch.ones(1, 2, dtype=torch.long), 3, BOS_ID, EOS_ID)
    with pytest.raises(ValueError, match="pad_id"):
        AttentionGRU(5, 5, pad_id=7)
