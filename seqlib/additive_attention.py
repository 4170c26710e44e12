"""Additive (Bahdanau) attention and a GRU encoder–decoder built on it, from seqlib's own GRU and GRUCell.

Bahdanau, Cho and Bengio (2015), *Neural machine translation by jointly learning to align and translate*,
introduced attention before the Transformer: a recurrent decoder that, at every output step, scores every
encoder state against its own state, turns the scores into weights and reads their weighted sum.  The
score is a small network, not a dot product:

    s_ij = wᵀ tanh(W^Q q_i + W^K k_j + b)         additive score (Bahdanau et al. §3.1, their e_ij)
    α_ij = softmax_j(s_ij)                         attention weight; padding keys get none
    o_i  = Σ_j α_ij v_j                            the context vector (their c_i)

The query ``q_i`` is the decoder's state before step i, the keys and values ``k_j = v_j`` are the
encoder's states.  The Transformer (Vaswani et al. 2017) replaced the little network by a scaled dot
product, ``q_i · k_j / √d_k``, which is one matrix product for all pairs at once.

:class:`AttentionGRU` is the paper's model, small:

* **encoder**: a bidirectional GRU (two ``seqlib.GRU``, one reading each sequence backwards *within its own
  length*, so padding never enters a state); ``k_j = [→h_j ; ←h_j]``, ``2H`` features;
* **decoder**: a ``seqlib.GRUCell`` whose state starts at ``tanh(W_init ←h_1)`` (the paper's choice) and
  whose input at step i is the previous output token's embedding and the context ``o_i``;
* **output**: a linear layer on ``[state ; context ; previous token's embedding]`` (the paper's "deep
  output" without its maxout layer).

Its call ``model(src, tgt_input) -> logits`` is the one of ``seqlib.seq2seq.Seq2SeqTransformer``, so the same
teacher-forced training loop serves both; :func:`greedy_decode` is its free-running decoding.

Mask convention (torch.nn's, as in all of seqlib): bool True = padding, may not be attended.
Shape legend: B batch, S source length, T target length, E embedding size, H hidden size, A attention size,
V vocabulary size.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn

from seqlib import _checks
from seqlib.attention import padding_mask
from seqlib.recurrent import GRU, GRUCell

__all__ = ["AdditiveAttention", "AttentionGRU", "AttentionGRUTrace", "greedy_decode", "reverse_padded"]


class AdditiveAttention(nn.Module):
    """Bahdanau's additive attention: ``s_ij = wᵀ tanh(W^Q q_i + W^K k_j + b)``, softmax over j, weighted sum.

    Args:
        query_size: features of a query ``q_i``.
        key_size: features of a key ``k_j`` (the values are the keys, as in the paper).
        attention_size: width ``A`` of the hidden layer of the score network.

    Submodules: ``query_proj`` (W^Q, no bias), ``key_proj`` (W^K and b), ``score`` (wᵀ, no bias).
    """

    def __init__(self, query_size: int, key_size: int, attention_size: int) -> None:
        super().__init__()
        for name, value in (("query_size", query_size), ("key_size", key_size), ("attention_size", attention_size)):
            _checks.positive_int(name, value)
        self.query_size, self.key_size = query_size, key_size
        self.query_proj = nn.Linear(query_size, attention_size, bias=False)
        self.key_proj = nn.Linear(key_size, attention_size)
        self.score = nn.Linear(attention_size, 1, bias=False)

    def project_keys(self, keys: Tensor) -> Tensor:
        """``(B, S, key_size)`` -> ``(B, S, A)``: ``W^K k_j + b``, computed once per source for every step."""
        return self.key_proj(keys)

    def forward(
        self, query: Tensor, keys: Tensor, key_padding_mask: Tensor | None = None, projected_keys: Tensor | None = None,
    ) -> tuple[Tensor, Tensor]:
        """One query against every key.

        Args:
            query: ``(B, query_size)``, the decoder's state.
            keys: ``(B, S, key_size)``, the encoder's states (also the values).
            key_padding_mask: ``(B, S)`` bool, True = padding (gets no weight); every row needs one key left.
            projected_keys: ``project_keys(keys)``, when already computed.

        Returns:
            ``(context (B, key_size), weights (B, S))``; each row of weights sums to 1.
        """
        if query.dim() != 2 or keys.dim() != 3 or query.shape[0] != keys.shape[0]:
            raise ValueError(f"query must be (B, query_size) and keys (B, S, key_size) with the same B, got "
                             f"{tuple(query.shape)} and {tuple(keys.shape)}")
        if query.shape[1] != self.query_size or keys.shape[2] != self.key_size:
            raise ValueError(f"query has {query.shape[1]} features and keys {keys.shape[2]}; this attention was built "
                             f"for {self.query_size} and {self.key_size}")
        if key_padding_mask is not None:
            if key_padding_mask.shape != keys.shape[:2] or key_padding_mask.dtype != torch.bool:
                raise ValueError(f"key_padding_mask must be a bool (B, S) = {tuple(keys.shape[:2])} tensor, got "
                                 f"{key_padding_mask.dtype} {tuple(key_padding_mask.shape)}")
            if bool(key_padding_mask.all(dim=1).any()):
                raise ValueError("key_padding_mask blocks every key of some row: there is nothing to attend to")
        if projected_keys is None:
            projected_keys = self.project_keys(keys)  # (B, S, A)
        # s_ij = wᵀ tanh(W^Q q_i + W^K k_j + b)
        scores = self.score(torch.tanh(self.query_proj(query).unsqueeze(1) + projected_keys)).squeeze(2)  # (B, S)
        if key_padding_mask is not None:
            scores = scores.masked_fill(key_padding_mask, float("-inf"))
        # α_ij = softmax_j(s_ij)
        weights = torch.softmax(scores, dim=1)  # (B, S)
        # o_i = Σ_j α_ij v_j      (the values are the keys)
        context = torch.bmm(weights.unsqueeze(1), keys).squeeze(1)  # (B, key_size)
        return context, weights


def reverse_padded(x: Tensor, lengths: Tensor) -> Tensor:
    """Reverse each sequence of ``x (B, S, ...)`` within its own length; the padding after it stays in place.

    Applied twice it gives ``x`` back.  ``lengths (B,)`` int64, each in ``[0, S]``.
    """
    B, S = x.shape[:2]
    positions = torch.arange(S, device=x.device).expand(B, S)  # (B, S)
    lengths = lengths.unsqueeze(1)  # (B, 1)
    index = torch.where(positions < lengths, lengths - 1 - positions, positions)  # (B, S)
    return x.gather(1, index.view(B, S, *([1] * (x.dim() - 2))).expand_as(x))


class AttentionGRUTrace(NamedTuple):
    weights: Tensor  # (B, T, S): α_ij, the attention of output step i over source position j
    memory: Tensor  # (B, S, 2H): the encoder's states, the keys and values


class AttentionGRU(nn.Module):
    """A GRU encoder–decoder with additive attention (Bahdanau et al. 2015), from ``seqlib.GRU`` and ``GRUCell``.

    Args:
        src_vocab, tgt_vocab: vocabulary sizes.
        embedding_dim: ``E``, the token embedding size (source and target).
        hidden_size: ``H``, the decoder's state and each encoder direction's.
        attention_size: ``A``, the score network's hidden width.
        pad_id: the padding token of both vocabularies.

    Submodules: ``src_embedding``, ``tgt_embedding``, ``encoder_forward``, ``encoder_backward`` (``seqlib.GRU``),
    ``init_state``, ``attention`` (:class:`AdditiveAttention`), ``decoder_cell`` (``seqlib.GRUCell``),
    ``output_projection``.
    """

    def __init__(
        self, src_vocab: int, tgt_vocab: int, embedding_dim: int = 32, hidden_size: int = 64,
        attention_size: int = 64, pad_id: int = 0,
    ) -> None:
        super().__init__()
        for name, value in (("src_vocab", src_vocab), ("tgt_vocab", tgt_vocab), ("embedding_dim", embedding_dim),
                            ("hidden_size", hidden_size), ("attention_size", attention_size)):
            _checks.positive_int(name, value)
        if not 0 <= pad_id < min(src_vocab, tgt_vocab):
            raise ValueError(f"pad_id must be a token id of both vocabularies, got {pad_id}")
        self.src_vocab, self.tgt_vocab, self.pad_id, self.hidden_size = src_vocab, tgt_vocab, pad_id, hidden_size
        self.src_embedding = nn.Embedding(src_vocab, embedding_dim, padding_idx=pad_id)
        self.tgt_embedding = nn.Embedding(tgt_vocab, embedding_dim, padding_idx=pad_id)
        self.encoder_forward = GRU(embedding_dim, hidden_size, batch_first=True)
        self.encoder_backward = GRU(embedding_dim, hidden_size, batch_first=True)
        self.init_state = nn.Linear(hidden_size, hidden_size)
        self.attention = AdditiveAttention(hidden_size, 2 * hidden_size, attention_size)
        self.decoder_cell = GRUCell(embedding_dim + 2 * hidden_size, hidden_size)
        self.output_projection = nn.Linear(hidden_size + 2 * hidden_size + embedding_dim, tgt_vocab)

    def _check_tokens(self, name: str, x: Tensor, vocab: int) -> None:
        _checks.token_tensor(name, x, vocab, legend="(B, length)", type_error=ValueError)

    def encode(self, src: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``(B, S)`` ids -> ``(memory (B, S, 2H), src_padding (B, S), initial decoder state (B, H))``."""
        self._check_tokens("src", src, self.src_vocab)
        src_padding = padding_mask(tokens=src, pad_id=self.pad_id)  # (B, S), True = padding
        lengths = (~src_padding).sum(dim=1)  # (B,)
        if bool((lengths == 0).any()):
            raise ValueError("src holds a sequence of padding only: there is nothing to encode")
        x = self.src_embedding(src)  # (B, S, E)
        forward, _ = self.encoder_forward(x)  # (B, S, H): →h_j reads x_1 .. x_j
        backward, _ = self.encoder_backward(reverse_padded(x, lengths))  # reads each sequence from its end
        backward = reverse_padded(backward, lengths)  # (B, S, H): ←h_j has read x_j .. x_len
        memory = torch.cat([forward, backward], dim=2)  # (B, S, 2H)
        # s_0 = tanh(W_init ←h_1)     (Bahdanau et al., appendix A.2.2)
        state = torch.tanh(self.init_state(backward[:, 0]))  # (B, H)
        return memory, src_padding, state

    def step(
        self, previous: Tensor, state: Tensor, memory: Tensor, src_padding: Tensor, projected_keys: Tensor,
    ) -> tuple[Tensor, Tensor, Tensor]:
        """One decoder step: ``previous (B,)`` token ids and ``state (B, H)`` -> ``(logits (B, V), state,
        weights (B, S))``."""
        embedded = self.tgt_embedding(previous)  # (B, E)
        # o_i = Σ_j α_ij k_j,  the query being the state before the step
        context, weights = self.attention(state, memory, src_padding, projected_keys)  # (B, 2H), (B, S)
        state = self.decoder_cell(torch.cat([embedded, context], dim=1), state)  # (B, H)
        logits = self.output_projection(torch.cat([state, context, embedded], dim=1))  # (B, V)
        return logits, state, weights

    def forward(
        self, src: Tensor, tgt: Tensor, *, return_trace: bool = False,
    ) -> Tensor | tuple[Tensor, AttentionGRUTrace]:
        """Logits for every target position (teacher forcing): the decoder reads ``tgt`` ``(B, T)``
        (``BOS y1 ..``), position t predicting the token after ``tgt[:, t]``.

        Returns:
            ``(B, T, V)`` logits, or ``(logits, AttentionGRUTrace)``.
        """
        self._check_tokens("tgt", tgt, self.tgt_vocab)
        if src.shape[0] != tgt.shape[0]:
            raise ValueError(f"src and tgt must have the same batch size, got {src.shape[0]} and {tgt.shape[0]}")
        memory, src_padding, state = self.encode(src)
        projected_keys = self.attention.project_keys(memory)  # (B, S, A)
        all_logits, all_weights = [], []
        for t in range(tgt.shape[1]):
            logits, state, weights = self.step(tgt[:, t], state, memory, src_padding, projected_keys)
            all_logits.append(logits)
            all_weights.append(weights)
        logits = torch.stack(all_logits, dim=1)  # (B, T, V)
        if not return_trace:
            return logits
        return logits, AttentionGRUTrace(torch.stack(all_weights, dim=1), memory)


@torch.no_grad()
def greedy_decode(
    model: AttentionGRU, src: Tensor, max_len: int, bos_id: int, eos_id: int, return_trace: bool = False,
) -> Tensor | tuple[Tensor, AttentionGRUTrace]:
    """Free-running decoding, as ``seqlib.seq2seq.greedy_decode``: each step reads the token chosen before.

    A sequence that has produced ``eos_id`` is padded with ``model.pad_id`` from then on; decoding stops when
    every sequence has, or after ``max_len`` tokens.

    Returns:
        ``(B, L)`` generated ids (EOS included, L <= max_len), or ``(tokens, AttentionGRUTrace)`` whose
        weights are ``(B, L, S)``.
    """
    if not isinstance(model, AttentionGRU):
        raise ValueError(f"model must be an AttentionGRU, got {type(model).__name__}")
    _checks.positive_int("max_len", max_len)
    _checks.token_id("bos_id", bos_id, model.tgt_vocab)
    _checks.token_id("eos_id", eos_id, model.tgt_vocab)
    was_training = model.training
    model.eval()
    try:
        memory, src_padding, state = model.encode(src)
        projected_keys = model.attention.project_keys(memory)
        B = src.shape[0]
        previous = torch.full((B,), bos_id, dtype=torch.long, device=src.device)
        finished = torch.zeros(B, dtype=torch.bool, device=src.device)
        tokens, all_weights = [], []
        for _ in range(max_len):
            logits, state, weights = model.step(previous, state, memory, src_padding, projected_keys)
            # y_t = argmax p(y | y_<t, x)
            previous = logits.argmax(dim=1).masked_fill(finished, model.pad_id)  # (B,)
            tokens.append(previous)
            all_weights.append(weights)
            finished |= previous == eos_id
            if bool(finished.all()):
                break
    finally:
        model.train(was_training)
    generated = torch.stack(tokens, dim=1)  # (B, L)
    if not return_trace:
        return generated
    return generated, AttentionGRUTrace(torch.stack(all_weights, dim=1), memory)
