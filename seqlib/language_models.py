"""A recurrent language model (embedding -> recurrent layers -> linear head): training, perplexity, sampling.

The model predicts token t+1 from tokens 0..t.  Any recurrent module with torch's contract fits in
the middle: seqlib's ``RNN``/``GRU``/``LSTM``, or ``torch.nn``'s as a reference.

Perplexity = exp(mean cross-entropy per token): the number of equally likely tokens the model is,
on average, choosing between (1 = certain; V = uniform over the vocabulary).

Training (:func:`train_language_model`) runs ``seqlib.train.train`` on sequential minibatches
(``seqlib.data.lm_batches(..., sequential=True)``): row b of batch i+1 continues row b of batch i, so
the hidden state is carried from one batch to the next and detached in between (truncated
backpropagation through time over ``num_steps`` steps).  :func:`print_progress` prints one line per
evaluation without any timing, so a seeded run with a step budget prints the same text every time.

Shape legend: B batch, T time steps, V vocabulary size, E embedding size (the recurrent layer's
``input_size``), H hidden size, L*D layers times directions.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

import seqlib.recurrent as recurrent
from seqlib import _checks
from seqlib.data import lm_batches
from seqlib.train import TrainRecord, TrainResult, safe_exp, train

__all__ = [
    "RNNLanguageModel",
    "make_language_model",
    "detach_state",
    "evaluate_perplexity",
    "train_language_model",
    "print_progress",
    "softmax_with_temperature",
    "sample",
]

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
        _checks.positive_int("vocab_size", vocab_size)
        if getattr(recurrent, "bidirectional", False):
            raise ValueError("a language model reads left to right: recurrent must not be bidirectional")
        self.vocab_size = vocab_size
        self.embedding = nn.Embedding(vocab_size, recurrent.input_size)
        self.recurrent = recurrent
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(recurrent.hidden_size, vocab_size)

    def forward(self, tokens: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        _checks.token_tensor("tokens", tokens, self.vocab_size)  # TypeError / ValueError, naming the bad id
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


def check_temperature(temperature: object) -> float:
    """``temperature`` as a float, or a ValueError saying what a temperature must be."""
    if not isinstance(temperature, int | float) or isinstance(temperature, bool) or not math.isfinite(temperature):
        raise ValueError(f"temperature must be a finite number >= 0 (0 = greedy), got {temperature!r}")
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0 (0 = greedy), got {temperature}")
    return float(temperature)


def softmax_with_temperature(logits: Tensor, temperature: float) -> Tensor:
    """p_κ = softmax(z / κ) over the last dimension; κ = 0 gives the one-hot of the argmax (greedy).

    κ = 1 is the model's own distribution; κ < 1 sharpens it, κ > 1 flattens it towards uniform.

    Args:
        logits: (..., V), without NaN (``-inf`` is allowed: a token that may never come).
        temperature: κ >= 0.  A tiny κ (down to the smallest float, 5e-324) is as good as greedy.

    Returns:
        (..., V) probabilities, float64.
    """
    temperature = check_temperature(temperature)
    _checks.tensor("logits", logits)
    if not logits.is_floating_point() or logits.dim() == 0 or logits.shape[-1] == 0:
        raise ValueError(f"logits must be a floating tensor (..., V) with V >= 1, got {logits.dtype} of shape "
                         f"{tuple(logits.shape)}")
    z = logits.double()
    if bool(torch.isnan(z).any()) or bool((z == math.inf).any()):
        raise ValueError("logits hold NaN or +inf: the model's output is not a distribution (did its training "
                         "diverge? its parameters may hold NaN)")
    if bool((z == -math.inf).all(dim=-1).any()):
        raise ValueError("logits are -inf for every token of a row: no token is possible")
    if temperature == 0:
        return F.one_hot(z.argmax(dim=-1), z.shape[-1]).double()
    # p_κ(k) = exp(z_k / κ) / Σ_j exp(z_j / κ) = exp((z_k − max z) / κ) / Σ_j exp((z_j − max z) / κ):
    # shifted by the maximum first, so that a tiny κ sends every other token to exp(-inf) = 0, never inf / inf
    shifted = z - z.max(dim=-1, keepdim=True).values
    return F.softmax(shifted / temperature, dim=-1)


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
    _checks.non_negative_int("num_chars", num_chars)
    temperature = check_temperature(temperature)
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
            probs = softmax_with_temperature(last, temperature)  # (V,) float64
            next_id = int(torch.multinomial(probs.cpu(), 1, generator=generator))
        tokens.append(vocab.to_tokens(next_id))
        logits, state = model(torch.tensor([[next_id]], device=device), state)
    model.train(was_training)
    return "".join(tokens) if isinstance(prefix, str) else tokens


# --------------------------------------------------------------------------------------------------
# Perplexity and training
# --------------------------------------------------------------------------------------------------


def evaluate_perplexity(model: nn.Module, corpus: Tensor, batch_size: int = 64, num_steps: int = 50) -> float:
    """Perplexity of ``model`` on every token of ``corpus`` that fits B equal streams.

    The corpus (N,) is cut into ``batch_size`` contiguous streams, read ``num_steps`` at a time with
    the state carried across, as in training; no randomness, so the figure is reproducible.

    Args:
        model: ``(tokens (B, T), state) -> (logits (B, T, V), state)``.
        corpus: (N,) int64 token ids.

    Returns:
        exp(mean cross-entropy per token); ``inf`` when that mean is beyond 709.78 (exp overflows a float).

    Raises:
        ValueError: a bad argument, or NaN in the model's output (a diverged model).
    """
    check_eval_corpus("corpus", corpus, batch_size, "batch_size", getattr(model, "vocab_size", None))
    _checks.positive_int("num_steps", num_steps)
    perplexity = _perplexity(model, corpus, batch_size, num_steps)
    if math.isnan(perplexity):
        raise ValueError("the model's logits hold NaN, so its perplexity is undefined (did its training diverge? "
                         "its parameters may hold NaN)")
    return perplexity


@torch.no_grad()
def _perplexity(model: nn.Module, corpus: Tensor, batch_size: int, num_steps: int) -> float:
    """:func:`evaluate_perplexity` without its checks; NaN for a model whose outputs hold NaN (the training
    loop turns that into ``TrainingDiverged``)."""
    was_training = model.training
    model.eval()
    length = (len(corpus) - 1) // batch_size
    inputs = corpus[: batch_size * length].reshape(batch_size, length)  # (B, N/B)
    targets = corpus[1 : batch_size * length + 1].reshape(batch_size, length)  # (B, N/B)
    state, total = None, 0.0
    for start in range(0, length, num_steps):
        logits, state = model(inputs[:, start : start + num_steps], state)  # (B, T, V)
        chunk = targets[:, start : start + num_steps]  # (B, T)
        total += F.cross_entropy(logits.reshape(-1, logits.shape[-1]), chunk.reshape(-1), reduction="sum").item()
    model.train(was_training)
    return safe_exp(total / (batch_size * length))


def check_eval_corpus(
    name: str, corpus: object, batch_size: object, batch_name: str = "batch_size", vocab_size: int | None = None
) -> None:
    """``corpus`` (the argument ``name``) a 1-D int64 tensor with more tokens than ``batch_size`` streams,
    its ids inside the vocabulary when ``vocab_size`` is known: what :func:`evaluate_perplexity` needs."""
    _checks.positive_int(batch_name, batch_size)
    _checks.token_tensor(name, corpus, vocab_size, dims=1, legend="(N,)", type_error=ValueError)
    if len(corpus) < batch_size + 1:
        raise ValueError(f"{name} must be 1-D with more than {batch_name}={batch_size} tokens, got shape "
                         f"{tuple(corpus.shape)}")


def print_progress(record: TrainRecord) -> None:
    """One deterministic line per record (no wall-clock time in it)."""
    print(
        f"epoch {record.epoch:3d}  step {record.step:6d}  train ppl {record.train_perplexity:7.3f}"
        f"  val ppl {record.val_perplexity:7.3f}",
        flush=True,
    )


def train_language_model(
    model: nn.Module,
    train_corpus: Tensor,
    val_corpus: Tensor,
    *,
    batch_size: int = 32,
    num_steps: int = 35,
    lr: float = 1e-2,
    clip: float | None = 1.0,
    max_steps: int | None = None,
    max_epochs: int | None = None,
    time_budget_s: float | None = None,
    lr_schedule: Literal["constant", "cosine"] = "constant",
    final_lr_fraction: float = 0.05,
    weight_decay: float = 0.0,
    eval_every: int | None = None,
    eval_batch_size: int = 64,
    progress: Callable[[TrainRecord], None] | None = None,
    generator: torch.Generator | None = None,
) -> TrainResult:
    """Train ``model`` with truncated backpropagation through time; evaluate validation perplexity.

    One step, as :func:`seqlib.train.train` runs it with this loss::

        logits, state = model(X, state)           # state carried over from the previous chunk
        loss = cross_entropy(logits, Y)           # mean over the B × T next-token predictions
        loss.backward(); clip; optimizer.step()
        state = detach_state(state)               # keep the values, cut the graph: T steps of BPTT

    Args:
        model: ``(tokens (B, T), state) -> (logits (B, T, V), state)``, e.g. an RNNLanguageModel.
        train_corpus, val_corpus: (N,) int64 token ids, e.g. ``seqlib.data.split_sequence(corpus)``.
        batch_size: B streams.   num_steps: T, the truncation length of backpropagation.
        lr: Adam's learning rate (the peak, with ``lr_schedule="cosine"``).
        clip: rescale the gradient to this global norm when it is larger (None: no clipping).
        max_steps, max_epochs, time_budget_s: stop at the first one reached (at least one needed).
        lr_schedule, final_lr_fraction: see :func:`seqlib.train.train`.
        weight_decay: Adam's L2 penalty.
        eval_every: evaluate every this many steps; None: at the end of each epoch.  The final
            model is always evaluated.
        eval_batch_size: streams used by :func:`evaluate_perplexity`.
        progress: called with each record (e.g. :func:`print_progress`); None: silent.
        generator: draws each epoch's random start offset (seed it for a reproducible run; the
            model's initial weights and dropout use torch's global generator).

    Returns:
        A :class:`seqlib.train.TrainResult` whose records carry ``train_perplexity`` and
        ``val_perplexity``.

    Raises:
        ValueError: a bad argument, before the first step (a validation corpus too short for
            ``eval_batch_size`` streams, a token id outside the model's vocabulary, ``clip=-1`` …).
        seqlib.train.TrainingDiverged: the loss became NaN or infinite (e.g. ``lr`` far too large); its
            ``result`` holds the run so far.
    """
    vocab_size = getattr(model, "vocab_size", None)
    _checks.token_tensor("train_corpus", train_corpus, vocab_size, dims=1, legend="(N,)", type_error=ValueError)
    check_eval_corpus("val_corpus", val_corpus, eval_batch_size, "eval_batch_size", vocab_size)
    _checks.callable_or_none("progress", progress)
    batches = lm_batches(train_corpus, batch_size, num_steps, sequential=True, generator=generator)
    carried: list[State | None] = [None]  # the state handed from one chunk to the next

    def new_pass() -> None:
        carried[0] = None  # a new pass starts at a new offset: the old state does not continue it

    def loss_fn(batch: tuple[Tensor, Tensor]) -> Tensor:
        X, Y = batch  # each (B, T)
        logits, carried[0] = model(X, carried[0])  # (B, T, V)
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), Y.reshape(-1))

    def truncate() -> None:
        carried[0] = detach_state(carried[0])  # truncated BPTT: keep the values, cut the graph

    return train(
        model,
        batches,
        loss_fn,
        lr=lr,
        weight_decay=weight_decay,
        clip=clip,
        max_steps=max_steps,
        max_epochs=max_epochs,
        time_budget_s=time_budget_s,
        lr_schedule=lr_schedule,
        final_lr_fraction=final_lr_fraction,
        evaluate=lambda: {"val_perplexity": _perplexity(model, val_corpus, eval_batch_size, num_steps)},
        eval_every=eval_every,
        on_epoch_start=new_pass,
        after_step=truncate,
        progress=progress,
    )
