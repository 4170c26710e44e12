"""A recurrent language model (embedding -> recurrent layers -> linear head) and sampling from it.

The model predicts token t+1 from tokens 0..t.  Any recurrent module with torch's contract fits in
the middle: seqlib's ``RNN``/``GRU``/``LSTM``, or ``torch.nn``'s as a reference.

Shape legend: B batch, T time steps, V vocabulary size, E embedding size (the recurrent layer's
``input_size``), H hidden size, L*D layers times directions.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

import seqlib.recurrent as recurrent

__all__ = ["RNNLanguageModel", "make_language_model", "detach_state", "sample"]

State = Tensor | tuple[Tensor, Tensor]


def detach_state(state: State | None) -> State | None:
    """The state cut from the graph that made it: truncated backpropagation through time.

    Carrying the state to the next minibatch keeps the information; detaching it stops gradients at
    the minibatch boundary, so each backward pass spans only ``num_steps`` steps.
    """
    if state is None:
        return None
    if isinstance(state, tuple):
        return tuple(s.detach() for s in state)
    return state.detach()


class RNNLanguageModel(nn.Module):
    """Embedding -> recurrent module -> linear head over the vocabulary.

    Args:
        vocab_size: V.
        recurrent: an RNN/GRU/LSTM with torch's contract (seqlib or torch.nn), unidirectional;
            its ``input_size`` is the embedding size E.  ``batch_first`` may be either.
        dropout: dropout on the recurrent output before the head (training mode only).

    Call ``model(tokens (B, T) int64, state=None) -> (logits (B, T, V), state)``; ``state`` is the
    recurrent module's (``h_n`` (L, B, H), or ``(h_n, c_n)`` for an LSTM), to pass back in for the
    next chunk of the same streams.
    """

    def __init__(self, vocab_size: int, recurrent: nn.Module, dropout: float = 0.0) -> None:
        super().__init__()
        if not isinstance(vocab_size, int) or vocab_size < 1:
            raise ValueError(f"vocab_size must be a positive int, got {vocab_size!r}")
        if getattr(recurrent, "bidirectional", False):
            raise ValueError("a language model reads left to right: recurrent must not be bidirectional")
        self.vocab_size = vocab_size
        self.embedding = nn.Embedding(vocab_size, recurrent.input_size)
        self.recurrent = recurrent
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(recurrent.hidden_size, vocab_size)

    def forward(self, tokens: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        if not isinstance(tokens, Tensor) or tokens.dtype != torch.long or tokens.dim() != 2:
            got = f"{tokens.dtype} of shape {tuple(tokens.shape)}" if isinstance(tokens, Tensor) else type(tokens)
            raise TypeError(f"tokens must be an int64 tensor of shape (B, T), got {got}")
        x = self.embedding(tokens)  # (B, T, E)
        if not self.recurrent.batch_first:
            x = x.transpose(0, 1)  # (T, B, E)
        output, state = self.recurrent(x, state)  # (B, T, H) or (T, B, H)
        if not self.recurrent.batch_first:
            output = output.transpose(0, 1)  # (B, T, H)
        logits = self.head(self.dropout(output))  # (B, T, V)
        return logits, state


Kind = Literal["rnn", "gru", "lstm"]


def make_language_model(
    kind: Kind,
    vocab_size: int,
    hidden_size: int,
    *,
    embedding_dim: int | None = None,
    num_layers: int = 1,
    dropout: float = 0.0,
    backend: Literal["seqlib", "torch"] = "seqlib",
) -> RNNLanguageModel:
    """An :class:`RNNLanguageModel` around a fresh recurrent module.

    Args:
        kind: ``"rnn"``, ``"gru"`` or ``"lstm"``.
        vocab_size: V.   hidden_size: H.
        embedding_dim: E; defaults to V (as wide as a one-hot input).
        num_layers: stacked recurrent layers.
        dropout: between recurrent layers and before the head.
        backend: ``"seqlib"`` (this course's code) or ``"torch"`` (``torch.nn``, for reference).
    """
    classes = {"rnn": "RNN", "gru": "GRU", "lstm": "LSTM"}
    if kind not in classes:
        raise ValueError(f"kind must be one of {sorted(classes)}, got {kind!r}")
    if backend not in ("seqlib", "torch"):
        raise ValueError(f"backend must be 'seqlib' or 'torch', got {backend!r}")
    module = getattr(recurrent if backend == "seqlib" else nn, classes[kind])
    layer_dropout = dropout if num_layers > 1 else 0.0
    rnn = module(
        embedding_dim or vocab_size, hidden_size, num_layers=num_layers, batch_first=True, dropout=layer_dropout
    )
    return RNNLanguageModel(vocab_size, rnn, dropout=dropout)


@torch.no_grad()
def sample(
    model: nn.Module,
    vocab,
    prefix: str | Sequence[str],
    num_chars: int,
    temperature: float = 1.0,
    generator: torch.Generator | None = None,
) -> str | list[str]:
    """Continue ``prefix`` by ``num_chars`` tokens, one at a time, feeding each back in.

    Args:
        model: ``(tokens (1, T), state) -> (logits (1, T, V), state)``, e.g. an RNNLanguageModel.
        vocab: a ``seqlib.data.Vocab`` (``vocab[tokens]`` -> ids, ``vocab.to_tokens(id)``).
        prefix: a string (character tokens) or a list of tokens (e.g. words); at least one token.
        num_chars: how many tokens to generate.
        temperature: 0 = greedy (argmax every step); otherwise sample from softmax(logits / temperature):
            below 1 sharper, above 1 flatter.
        generator: for reproducible sampling.

    Returns:
        The prefix followed by the generated tokens: a string for a string prefix, else a list.
        The vocabulary's unknown token (``vocab.unk``) is never generated.
    """
    if not isinstance(num_chars, int) or isinstance(num_chars, bool) or num_chars < 0:
        raise ValueError(f"num_chars must be a non-negative int, got {num_chars!r}")
    if not isinstance(temperature, int | float) or temperature < 0:
        raise ValueError(f"temperature must be a number >= 0 (0 = greedy), got {temperature!r}")
    tokens = list(prefix)
    if not tokens:
        raise ValueError("prefix must hold at least one token to start from")
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    ids = torch.tensor([vocab[tokens]], dtype=torch.long, device=device)  # (1, len(prefix))
    logits, state = model(ids)  # warm-up: read the whole prefix, keep the state
    unk = getattr(vocab, "unk", None)
    for _ in range(num_chars):
        last = logits[0, -1].clone()  # (V,)
        if unk is not None and len(vocab) > 1:
            last[unk] = float("-inf")  # never produce the unknown token
        if temperature == 0:
            next_id = int(last.argmax())
        else:
            probs = F.softmax(last.double() / temperature, dim=-1)
            next_id = int(torch.multinomial(probs.cpu(), 1, generator=generator))
        tokens.append(vocab.to_tokens(next_id))
        logits, state = model(torch.tensor([[next_id]], device=device), state)
    model.train(was_training)
    return "".join(tokens) if isinstance(prefix, str) else tokens
