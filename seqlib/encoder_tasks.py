"""An encoder-only Transformer that fills in masked characters, and what to measure inside it.

**The task** (the masked-token objective of BERT, Devlin et al. 2019, on characters): windows of
``length`` characters of *The Time Machine* are cut from the text; some characters are replaced by a
*mask token* (id V, one past the vocabulary's V ids) and the model must say which character was
there.  An encoder sees the whole window at once, the characters after the gap as well as those
before it: the task needs both sides, which a left-to-right language model (notebooks 02–05) never
gets.  ``hidden`` is True at the replaced characters; it is *not* an attention mask (nothing is
blocked from attention: the mask token is an ordinary input).

* batches: :func:`masked_batch` (each character hidden with probability ``mask_prob``, at least one
  per window; for training) and :func:`one_gap_per_window` (exactly one hidden character per window,
  never at either end, so both its neighbours are visible; for evaluation);
* the model: :class:`MaskedCharEncoder` (embedding, sinusoidal positional encoding, seqlib's
  :class:`~seqlib.transformer.TransformerEncoder`, a linear head), with
  :class:`EncoderLayerVariant` for the ablations (an encoder layer without its residual connections,
  without its layer normalisations, or without both);
* training: :func:`train_masked_encoder` (through :func:`seqlib.train.train`), with the settings of a
  :class:`MaskedCharConfig`; :func:`masked_accuracy`;
* count baselines on the same gaps: :func:`fit_count_baselines`, :func:`baseline_predictions`
  (the most frequent character; the best follower of the left neighbour; the best predecessor of the
  right neighbour; the best character between both neighbours);
* inside an encoder layer: :func:`encoder_layer_steps` (every intermediate of one layer, post-norm or
  pre-norm, ending at the layer's own output) and :func:`signal_through_stack` (the activations' size
  and the gradient's size layer by layer through a deep stack at initialisation);
* inside the attention: :func:`mean_attention_distance` (how far each head looks) and
  :func:`attention_by_offset` (the mean weight a head puts at each offset ``j - i``).

Shape legend: B batch (windows), T window length, V vocabulary size (characters; the mask token is
id V), d ``d_model``, N_gap hidden characters (N alone, in the course, counts layers).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqlib.positional import PositionalEncoding
from seqlib.train import TrainResult, train
from seqlib.transformer import EncoderLayerTrace, EncoderTrace, LayerNorm, TransformerEncoder, TransformerEncoderLayer

__all__ = [
    "ARMS",
    "BASELINES",
    "CountBaselines",
    "EncoderLayerSteps",
    "EncoderLayerVariant",
    "MaskedBatch",
    "MaskedCharConfig",
    "MaskedCharEncoder",
    "StackSignal",
    "attention_by_offset",
    "baseline_predictions",
    "build_masked_char_encoder",
    "encoder_layer_steps",
    "fit_count_baselines",
    "masked_accuracy",
    "masked_batch",
    "masked_predictions",
    "mean_attention_distance",
    "one_gap_per_window",
    "signal_through_stack",
    "train_masked_encoder",
]


# --------------------------------------------------------------------------------------------------
# Validation (messages name the argument, what was expected and what was given)
# --------------------------------------------------------------------------------------------------


def _positive_int(name: str, value: object) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")


def _probability(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be a number in [0, 1], got {value!r}")


def _corpus(name: str, corpus: object, length: int) -> None:
    if not isinstance(corpus, Tensor) or corpus.dim() != 1 or corpus.dtype != torch.long:
        described = (f"shape {tuple(corpus.shape)}, dtype {corpus.dtype}" if isinstance(corpus, Tensor)
                     else type(corpus).__name__)
        raise ValueError(f"{name} must be a 1-D int64 tensor of character ids, got {described}")
    if len(corpus) < length:
        raise ValueError(f"{name} has {len(corpus)} ids, fewer than one window of length {length}")


def _generator(generator: object) -> None:
    if generator is not None and not isinstance(generator, torch.Generator):
        raise ValueError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")


# --------------------------------------------------------------------------------------------------
# Masked windows
# --------------------------------------------------------------------------------------------------


class MaskedBatch(NamedTuple):
    """Windows with some characters replaced by the mask token.

    ``inputs`` (B, T) ids with ``mask_id`` where ``hidden``; ``targets`` (B, T) the original ids;
    ``hidden`` (B, T) bool, True at the replaced characters (the positions to predict; not an
    attention mask: attention sees every position).
    """

    inputs: Tensor
    targets: Tensor
    hidden: Tensor


def _windows(corpus: Tensor, batch_size: int, length: int, generator: torch.Generator | None) -> Tensor:
    starts = torch.randint(len(corpus) - length + 1, (batch_size,), generator=generator)  # (B,)
    return corpus[starts[:, None] + torch.arange(length)]  # (B, T)


def masked_batch(
    corpus: Tensor, batch_size: int, length: int, mask_prob: float, mask_id: int,
    generator: torch.Generator | None = None,
) -> MaskedBatch:
    """``batch_size`` random windows of ``length`` ids; each id hidden with probability ``mask_prob``.

    One position per window is always hidden (drawn uniformly), so every window has something to
    predict.  Draws from ``generator`` only: the same generator state gives the same batch.
    """
    _positive_int("batch_size", batch_size)
    _positive_int("length", length)
    _probability("mask_prob", mask_prob)
    _corpus("corpus", corpus, length)
    _generator(generator)
    targets = _windows(corpus, batch_size, length, generator)  # (B, T)
    hidden = torch.rand(batch_size, length, generator=generator) < mask_prob  # (B, T)
    always = torch.randint(length, (batch_size,), generator=generator)  # (B,) one sure position per window
    hidden[torch.arange(batch_size), always] = True
    return MaskedBatch(targets.masked_fill(hidden, mask_id), targets, hidden)


def one_gap_per_window(
    corpus: Tensor, num_windows: int, length: int, mask_id: int, generator: torch.Generator | None = None,
) -> MaskedBatch:
    """``num_windows`` random windows, each with exactly one hidden character, never the first or last.

    Both neighbours of every gap are visible, so the count baselines of :func:`baseline_predictions`
    can use them; the gap's position is uniform over 1 … T-2.
    """
    _positive_int("num_windows", num_windows)
    _positive_int("length", length)
    if length < 3:
        raise ValueError(f"length must be at least 3 (a gap with a neighbour on each side), got {length}")
    _corpus("corpus", corpus, length)
    _generator(generator)
    targets = _windows(corpus, num_windows, length, generator)  # (B, T)
    position = torch.randint(1, length - 1, (num_windows,), generator=generator)  # (B,)
    hidden = torch.zeros(num_windows, length, dtype=torch.bool)
    hidden[torch.arange(num_windows), position] = True
    return MaskedBatch(targets.masked_fill(hidden, mask_id), targets, hidden)


# --------------------------------------------------------------------------------------------------
# The encoder layer without its residuals or normalisations (for the ablation)
# --------------------------------------------------------------------------------------------------


class EncoderLayerVariant(TransformerEncoderLayer):
    """seqlib's :class:`~seqlib.transformer.TransformerEncoderLayer`, optionally without its residual
    connections (``residual=False``) or its layer normalisations (``layer_norm=False``).

    With both True it *is* the parent layer (its ``forward`` is called).  Otherwise, with
    ``SA`` the self-attention sublayer and ``FFN`` the position-wise feed-forward network::

        post-norm: x ← N₁(R(x) + SA(x));        x ← N₂(R(x) + FFN(x))
        pre-norm:  x ← R(x) + SA(N₁(x));        x ← R(x) + FFN(N₂(x))

    where ``R(x)`` is ``x`` (residual) or 0 (none) and ``N`` is the layer's LayerNorm or the identity
    (its ``norm1``/``norm2`` are replaced by ``nn.Identity`` and have no parameters).  Arguments are the
    parent's, plus the two keyword flags.
    """

    def __init__(self, *args, residual: bool = True, layer_norm: bool = True, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for name, value in (("residual", residual), ("layer_norm", layer_norm)):
            if not isinstance(value, bool):
                raise ValueError(f"{name} must be a bool, got {value!r}")
        self.residual = residual
        self.layer_norm = layer_norm
        if not layer_norm:
            self.norm1, self.norm2 = nn.Identity(), nn.Identity()

    def extra_repr(self) -> str:
        return f"residual={self.residual}, layer_norm={self.layer_norm}, norm_first={self.norm_first}"

    def forward(
        self, src: Tensor, src_mask: Tensor | None = None, src_key_padding_mask: Tensor | None = None,
        is_causal: bool = False, *, return_trace: bool = False,
    ) -> Tensor | tuple[Tensor, EncoderLayerTrace]:
        """As :meth:`TransformerEncoderLayer.forward` (same arguments, same results)."""
        if self.residual and self.layer_norm:
            return super().forward(src, src_mask, src_key_padding_mask, is_causal, return_trace=return_trace)
        steps = _layer_steps(self, src, src_mask, src_key_padding_mask, is_causal, need_weights=return_trace)
        return (steps.output, EncoderLayerTrace(steps.weights)) if return_trace else steps.output


class EncoderLayerSteps(NamedTuple):
    """Every intermediate of one encoder layer, in the layer's own layout.

    Post-norm (the paper's, ``norm_first=False``)::

        attention = SA(input)                    attention_in = input
        middle    = LN₁(input + attention)       "Add & Norm"
        ffn       = W₂ ReLU(W₁ middle + b₁) + b₂ ffn_in = middle, ffn_hidden = ReLU(W₁ middle + b₁)
        output    = LN₂(middle + ffn)

    Pre-norm (``norm_first=True``)::

        attention = SA(LN₁(input))               attention_in = LN₁(input)
        middle    = input + attention
        ffn       = FFN(LN₂(middle))             ffn_in = LN₂(middle)
        output    = middle + ffn

    ``weights`` (B, nhead, T, T) are the self-attention weights per head (None if not asked for).
    """

    input: Tensor
    attention_in: Tensor
    attention: Tensor
    weights: Tensor | None
    middle: Tensor
    ffn_in: Tensor
    ffn_hidden: Tensor
    ffn: Tensor
    output: Tensor


def _layer_steps(
    layer: TransformerEncoderLayer, src: Tensor, src_mask: Tensor | None, src_key_padding_mask: Tensor | None,
    is_causal: bool, need_weights: bool,
) -> EncoderLayerSteps:
    residual = getattr(layer, "residual", True)

    def keep(x: Tensor) -> Tensor | float:  # the residual branch: x itself, or nothing
        return x if residual else 0.0

    def attend(x: Tensor) -> tuple[Tensor, Tensor | None]:
        # SA(x) = MultiHead(x W^Q, x W^K, x W^V)    queries, keys and values all from x
        out, weights = layer.self_attn(x, x, x, key_padding_mask=src_key_padding_mask, need_weights=need_weights,
                                       attn_mask=src_mask, average_attn_weights=False, is_causal=is_causal)
        return layer.dropout1(out), weights

    def feed_forward(x: Tensor) -> tuple[Tensor, Tensor]:
        # FFN(x) = W₂ · activation(W₁ x + b₁) + b₂      the same weights at every position
        hidden = layer.activation(layer.linear1(x))  # (..., T, d_ff)
        return hidden, layer.dropout2(layer.linear2(layer.dropout(hidden)))  # (..., T, d)

    x = src
    if layer.norm_first:
        attention_in = layer.norm1(x)
        attention, weights = attend(attention_in)
        # x ← x + SA(LN₁(x))
        middle = keep(x) + attention
        ffn_in = layer.norm2(middle)
        hidden, ffn = feed_forward(ffn_in)
        # x ← x + FFN(LN₂(x))
        output = keep(middle) + ffn
    else:
        attention_in = x
        attention, weights = attend(x)
        # x ← LN₁(x + SA(x))
        middle = layer.norm1(keep(x) + attention)
        ffn_in = middle
        hidden, ffn = feed_forward(middle)
        # x ← LN₂(x + FFN(x))
        output = layer.norm2(keep(middle) + ffn)
    return EncoderLayerSteps(src, attention_in, attention, weights, middle, ffn_in, hidden, ffn, output)


def encoder_layer_steps(
    layer: TransformerEncoderLayer, src: Tensor, src_key_padding_mask: Tensor | None = None,
) -> EncoderLayerSteps:
    """Run one encoder layer step by step and return every intermediate (:class:`EncoderLayerSteps`).

    Computed from the layer's own submodules (``self_attn``, ``norm1``, ``linear1``, ``activation``,
    ``linear2``, ``norm2``), so ``steps.output`` equals ``layer(src)``; works for post-norm and
    pre-norm layers, and for an :class:`EncoderLayerVariant`.  Dropout acts as in the layer's mode
    (put the layer in ``eval()`` mode, or build it with ``dropout=0``, for a repeatable trace).

    Args:
        layer: a seqlib ``TransformerEncoderLayer`` (or variant).
        src: ``(B, T, d)`` if ``layer.self_attn.batch_first``, else ``(T, B, d)``; or ``(T, d)``.
        src_key_padding_mask: ``(B, T)``, True at padding (may not be attended to).
    """
    if not isinstance(layer, TransformerEncoderLayer):
        raise ValueError(f"layer must be a seqlib TransformerEncoderLayer, got {type(layer).__name__}")
    if not isinstance(src, Tensor) or src.dim() not in (2, 3) or src.shape[-1] != layer.self_attn.embed_dim:
        got = tuple(src.shape) if isinstance(src, Tensor) else type(src).__name__
        raise ValueError(f"src must be (B, T, d) / (T, B, d) / (T, d) with d = {layer.self_attn.embed_dim}, got {got}")
    return _layer_steps(layer, src, None, src_key_padding_mask, False, need_weights=True)


# --------------------------------------------------------------------------------------------------
# The model
# --------------------------------------------------------------------------------------------------


class MaskedCharEncoder(nn.Module):
    """Embedding → + sinusoidal positions → encoder stack → (final LayerNorm) → linear head.

    Args:
        vocab_size: V characters; the mask token is id V (``mask_id``), so the embedding has V + 1 rows.
        d_model: d; nhead: heads (d divisible by nhead); num_layers: N layers;
        dim_feedforward: the FFN's hidden width; max_len: longest window.
        norm_first: pre-norm layers (then a final LayerNorm after the stack, as in
            ``torch.nn.Transformer`` and GPT-2) instead of the paper's post-norm.
        residual, layer_norm: False removes the residual connections / the layer normalisations of
            every layer (:class:`EncoderLayerVariant`; no final LayerNorm without ``layer_norm``).

    The stack is seqlib's :class:`~seqlib.transformer.TransformerEncoder` (``self.encoder``), batch
    first, without dropout.  Shapes: ``forward(ids (B, T)) -> logits (B, T, V)``.
    """

    def __init__(
        self, vocab_size: int, d_model: int = 32, nhead: int = 4, num_layers: int = 2, dim_feedforward: int = 64,
        max_len: int = 64, *, norm_first: bool = True, residual: bool = True, layer_norm: bool = True,
    ) -> None:
        super().__init__()
        for name, value in (("vocab_size", vocab_size), ("d_model", d_model), ("nhead", nhead),
                            ("num_layers", num_layers), ("dim_feedforward", dim_feedforward), ("max_len", max_len)):
            _positive_int(name, value)
        if d_model % nhead:
            raise ValueError(f"d_model ({d_model}) must be divisible by nhead ({nhead})")
        self.vocab_size = vocab_size
        self.d_model = d_model
        self.embedding = nn.Embedding(vocab_size + 1, d_model)  # row V: the mask token
        self.positional = PositionalEncoding(d_model, max_len=max_len, batch_first=True)
        layer_args = {"dim_feedforward": dim_feedforward, "dropout": 0.0, "batch_first": True, "norm_first": norm_first}
        if residual and layer_norm:
            layer = TransformerEncoderLayer(d_model, nhead, **layer_args)
        else:
            layer = EncoderLayerVariant(d_model, nhead, **layer_args, residual=residual, layer_norm=layer_norm)
        final_norm = LayerNorm(d_model) if norm_first and layer_norm else None
        self.encoder = TransformerEncoder(layer, num_layers, final_norm)
        self.head = nn.Linear(d_model, vocab_size)

    @property
    def mask_id(self) -> int:
        return self.vocab_size

    def forward(self, ids: Tensor, *, return_trace: bool = False) -> Tensor | tuple[Tensor, EncoderTrace]:
        """``ids`` (B, T) → logits (B, T, V); with ``return_trace``, also the encoder's
        :class:`~seqlib.transformer.EncoderTrace` (one (B, nhead, T, T) weight tensor per layer)."""
        if not isinstance(ids, Tensor) or ids.dim() != 2 or ids.dtype != torch.long:
            got = f"shape {tuple(ids.shape)}, dtype {ids.dtype}" if isinstance(ids, Tensor) else type(ids).__name__
            raise ValueError(f"ids must be a (B, T) int64 tensor, got {got}")
        if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) > self.vocab_size):
            raise ValueError(f"ids must lie in [0, {self.vocab_size}] (V = {self.vocab_size} is the mask token), "
                             f"got values from {int(ids.min())} to {int(ids.max())}")
        x = self.positional(self.embedding(ids))  # (B, T, d)
        encoded = self.encoder(x, return_trace=return_trace)
        if return_trace:
            encoded, trace = encoded
            return self.head(encoded), trace  # (B, T, V)
        return self.head(encoded)  # (B, T, V)



# --------------------------------------------------------------------------------------------------
# Training and accuracy
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MaskedCharConfig:
    """Everything a masked-character run depends on, besides the seed and the data.

    Model: ``d_model``, ``nhead``, ``num_layers``, ``dim_feedforward``, ``norm_first``, ``residual``,
    ``layer_norm`` (see :class:`MaskedCharEncoder`).  Training: windows of ``length`` characters,
    ``batch_size`` windows a step, each character hidden with probability ``mask_prob``; Adam at ``lr``
    on a cosine to 5 % over ``steps`` steps; gradients clipped to global norm ``clip``.
    """

    d_model: int = 32
    nhead: int = 4
    num_layers: int = 2
    dim_feedforward: int = 64
    norm_first: bool = True
    residual: bool = True
    layer_norm: bool = True
    length: int = 16
    batch_size: int = 128
    mask_prob: float = 0.3
    lr: float = 0.02
    steps: int = 300
    clip: float = 1.0

    def with_arm(self, arm: str) -> MaskedCharConfig:
        """This config with the ablation arm's ``norm_first``/``residual``/``layer_norm`` (see :data:`ARMS`)."""
        if arm not in ARMS:
            raise ValueError(f"arm must be one of {list(ARMS)}, got {arm!r}")
        return replace(self, **ARMS[arm])

    def to_dict(self) -> dict:
        return asdict(self)


ARMS: dict[str, dict[str, bool]] = {
    "pre-norm": {"norm_first": True, "residual": True, "layer_norm": True},
    "post-norm": {"norm_first": False, "residual": True, "layer_norm": True},
    "no residual": {"norm_first": True, "residual": False, "layer_norm": True},
    "no layer norm": {"norm_first": True, "residual": True, "layer_norm": False},
    "neither": {"norm_first": True, "residual": False, "layer_norm": False},
}
"""The ablation's arms: pre-norm layers (the course's model) and the same layers without their residual
connections (x ← SA(LN(x)), x ← FFN(LN(x))), without their LayerNorms (x ← x + SA(x), x ← x + FFN(x):
pre-norm and post-norm alike), without both (x ← FFN(SA(x))); and the paper's post-norm layers."""


def build_masked_char_encoder(config: MaskedCharConfig, vocab_size: int, seed: int) -> MaskedCharEncoder:
    """The model of ``config`` with initial weights drawn from ``torch.manual_seed(seed)``.

    Its positional table holds 64 positions (or ``config.length`` if longer), so it also reads windows
    longer than those it was trained on (the table is fixed, not learned: the weights do not depend on it).
    """
    if not isinstance(config, MaskedCharConfig):
        raise ValueError(f"config must be a MaskedCharConfig, got {type(config).__name__}")
    torch.manual_seed(seed)
    return MaskedCharEncoder(vocab_size, config.d_model, config.nhead, config.num_layers, config.dim_feedforward,
                             max_len=max(64, config.length), norm_first=config.norm_first, residual=config.residual,
                             layer_norm=config.layer_norm)


def _masked_loss(model: MaskedCharEncoder, batch: MaskedBatch) -> Tensor:
    logits = model(batch.inputs)  # (B, T, V)
    # cross-entropy at the hidden characters only: the visible ones are given, not predicted
    return F.cross_entropy(logits[batch.hidden], batch.targets[batch.hidden])


def train_masked_encoder(
    model: MaskedCharEncoder, corpus: Tensor, config: MaskedCharConfig, seed: int = 0,
    eval_batch: MaskedBatch | None = None, eval_every: int | None = None,
) -> TrainResult:
    """Train ``model`` to fill in hidden characters of random windows of ``corpus``, ``config.steps`` steps.

    The batches (:func:`masked_batch`) come from a generator seeded with ``seed``; the loss is the
    cross-entropy at the hidden characters; :func:`seqlib.train.train` does the rest (Adam, cosine
    schedule, clipping).  With ``eval_batch``, every ``eval_every`` steps (default: at the end only)
    the record holds ``{"accuracy": masked_accuracy(model, eval_batch)}``.

    Raises :class:`seqlib.train.TrainingDiverged` (with the run so far in its ``.result``) when a loss or a
    parameter becomes NaN or infinite, as every trainer of seqlib does.
    """
    if not isinstance(model, MaskedCharEncoder):
        raise ValueError(f"model must be a MaskedCharEncoder, got {type(model).__name__}")
    _corpus("corpus", corpus, config.length)
    generator = torch.Generator().manual_seed(seed)

    def batches() -> Iterator[MaskedBatch]:
        while True:
            yield masked_batch(corpus, config.batch_size, config.length, config.mask_prob, model.mask_id, generator)

    def evaluate() -> dict[str, float]:
        return {"accuracy": masked_accuracy(model, eval_batch)}

    return train(model, batches(), lambda batch: _masked_loss(model, batch), lr=config.lr, clip=config.clip,
                 max_steps=config.steps, lr_schedule="cosine", evaluate=evaluate if eval_batch is not None else None,
                 eval_every=eval_every or config.steps)


@torch.no_grad()
def masked_predictions(model: MaskedCharEncoder, batch: MaskedBatch, chunk: int = 1024) -> Tensor:
    """The model's most likely character at every hidden position, (N_gap,) in row-major order."""
    was_training = model.training
    model.eval()
    predictions = []
    for start in range(0, len(batch.inputs), chunk):
        logits = model(batch.inputs[start : start + chunk])  # (b, T, V)
        predictions.append(logits[batch.hidden[start : start + chunk]].argmax(dim=-1))  # (n,)
    model.train(was_training)
    return torch.cat(predictions)


def masked_accuracy(model: MaskedCharEncoder, batch: MaskedBatch) -> float:
    """Share of the hidden characters the model names right (its most likely character)."""
    predictions = masked_predictions(model, batch)
    return float((predictions == batch.targets[batch.hidden]).double().mean())


# --------------------------------------------------------------------------------------------------
# Count baselines
# --------------------------------------------------------------------------------------------------


class CountBaselines(NamedTuple):
    """Character counts of a training text: ``unigram`` (V,), ``bigram`` (V, V) with ``bigram[a, b]``
    the count of "a b", and ``around`` (V, V, V) with ``around[a, c, b]`` the count of "a c b"."""

    unigram: Tensor
    bigram: Tensor
    around: Tensor


BASELINES = ("unigram", "left bigram", "right bigram", "both neighbours")
"""What each count baseline predicts for a gap between a (left) and b (right): the most frequent
character; the most frequent follower of a; the most frequent predecessor of b; the most frequent
character between a and b."""


def fit_count_baselines(corpus: Tensor, vocab_size: int) -> CountBaselines:
    """Count characters, pairs and triples of ``corpus`` (1-D ids below ``vocab_size``)."""
    _positive_int("vocab_size", vocab_size)
    _corpus("corpus", corpus, 3)
    if int(corpus.min()) < 0 or int(corpus.max()) >= vocab_size:
        raise ValueError(f"corpus ids must lie in [0, {vocab_size}), got {int(corpus.min())} to {int(corpus.max())}")
    V = vocab_size
    unigram = torch.bincount(corpus, minlength=V).double()  # (V,)
    bigram = torch.bincount(corpus[:-1] * V + corpus[1:], minlength=V * V).double().view(V, V)  # (V, V)
    triples = (corpus[:-2] * V + corpus[1:-1]) * V + corpus[2:]
    around = torch.bincount(triples, minlength=V**3).double().view(V, V, V)  # (V, V, V) [left, centre, right]
    return CountBaselines(unigram, bigram, around)


def baseline_predictions(counts: CountBaselines, batch: MaskedBatch) -> dict[str, Tensor]:
    """Each count baseline's guess (N_gap,) at the hidden positions of ``batch`` (row-major order).

    Every hidden character must have visible neighbours on both sides (as :func:`one_gap_per_window`
    makes them).  Ties go to the lowest id (the most frequent character of the vocabulary).
    """
    rows, cols = batch.hidden.nonzero(as_tuple=True)  # (N_gap,), (N_gap,)
    T = batch.inputs.shape[1]
    if len(rows) and (int(cols.min()) < 1 or int(cols.max()) > T - 2):
        raise ValueError("every hidden character needs a neighbour on each side (none at position 0 or T-1)")
    left, right = batch.inputs[rows, cols - 1], batch.inputs[rows, cols + 1]  # (N_gap,)
    V = counts.unigram.shape[0]
    if len(rows) and (int(left.max()) >= V or int(right.max()) >= V):
        raise ValueError("a hidden character's neighbour is hidden too: the count baselines need both visible")
    N = len(rows)
    return {
        "unigram": counts.unigram.argmax().expand(N).clone(),
        "left bigram": counts.bigram[left].argmax(dim=-1),  # argmax_c count(a c)
        "right bigram": counts.bigram[:, right].T.argmax(dim=-1),  # argmax_c count(c b)
        "both neighbours": counts.around[left, :, right].argmax(dim=-1),  # argmax_c count(a c b)
    }


# --------------------------------------------------------------------------------------------------
# Inside the attention
# --------------------------------------------------------------------------------------------------


def _weights(weights: object) -> Tensor:
    if not isinstance(weights, Tensor) or weights.dim() != 4 or weights.shape[-1] != weights.shape[-2]:
        got = tuple(weights.shape) if isinstance(weights, Tensor) else type(weights).__name__
        raise ValueError(f"weights must be self-attention weights (B, nhead, T, T), got {got}")
    return weights


def mean_attention_distance(weights: Tensor, queries: Tensor | None = None) -> Tensor:
    """How far each head looks: Σ_j α_ij |i - j|, averaged over the queries i (and the batch).

    Args:
        weights: (B, nhead, T, T) attention weights α (rows sum to 1).
        queries: optional (B, T) bool, True at the query positions to average over (e.g. the hidden
            characters); default all.

    Returns:
        (nhead,) mean distance in positions; a uniform head over T positions looks (T² - 1) / (3T) away.
    """
    weights = _weights(weights)
    T = weights.shape[-1]
    positions = torch.arange(T, dtype=weights.dtype)
    distance = (positions[:, None] - positions[None, :]).abs()  # (T, T) |i - j|
    per_query = (weights * distance).sum(dim=-1)  # (B, nhead, T)
    if queries is None:
        return per_query.mean(dim=(0, 2))
    if not isinstance(queries, Tensor) or queries.dtype != torch.bool or queries.shape != (weights.shape[0], T):
        raise ValueError(f"queries must be a (B, T) = {(weights.shape[0], T)} bool tensor")
    if not queries.any():
        raise ValueError("queries selects no position")
    return per_query.transpose(1, 2)[queries].mean(dim=0)  # (nhead,)


def attention_by_offset(weights: Tensor, max_offset: int) -> Tensor:
    """Mean weight a head puts on the key ``m`` positions from its query (m = j - i), for |m| ≤ ``max_offset``.

    Returns (nhead, 2·max_offset + 1): column ``max_offset + m`` is the mean of α_{i, i+m} over the
    queries i for which i + m is inside the window (and over the batch).
    """
    weights = _weights(weights)
    _positive_int("max_offset", max_offset)
    T = weights.shape[-1]
    columns = []
    for m in range(-max_offset, max_offset + 1):
        diagonal = torch.diagonal(weights, offset=m, dim1=-2, dim2=-1)  # (B, nhead, T - |m|)
        columns.append(diagonal.mean(dim=(0, 2)) if abs(m) < T else torch.zeros(weights.shape[1]))
    return torch.stack(columns, dim=1)  # (nhead, 2M + 1)


# --------------------------------------------------------------------------------------------------
# A deep stack at initialisation: what residuals and LayerNorm do to the signal
# --------------------------------------------------------------------------------------------------


class StackSignal(NamedTuple):
    """The signal through a stack at initialisation, layer by layer (entry 0 is the stack's input).

    ``activation_rms`` (N + 1,) the root mean square of the activations after each layer;
    ``gradient_norm`` (N + 1,) ‖∂L/∂x‖ at each layer's output for L the sum of the stack's output
    times a fixed random tensor; ``similarity`` (N + 1,) the mean cosine similarity between the
    representations of different positions of the same window (1: every position looks alike).
    """

    activation_rms: Tensor
    gradient_norm: Tensor
    similarity: Tensor


def signal_through_stack(
    num_layers: int, *, residual: bool = True, layer_norm: bool = True, norm_first: bool = False,
    d_model: int = 32, nhead: int = 4, dim_feedforward: int = 64, length: int = 16, batch_size: int = 8,
    seed: int = 0,
) -> StackSignal:
    """Push random inputs (N(0, 1) entries) through a freshly initialised stack of ``num_layers``
    encoder layers and back; see :class:`StackSignal`.

    The stack is that of :class:`MaskedCharEncoder` without embedding and head (N copies of one
    freshly drawn layer, as ``torch.nn.TransformerEncoder`` builds it), with the same
    ``residual``/``layer_norm``/``norm_first`` switches and no final LayerNorm, so the last layer's
    own output is measured.  Deterministic: everything is drawn from ``seed``.
    """
    _positive_int("num_layers", num_layers)
    for name, value in (("d_model", d_model), ("nhead", nhead), ("dim_feedforward", dim_feedforward),
                        ("length", length), ("batch_size", batch_size)):
        _positive_int(name, value)
    if d_model % nhead:
        raise ValueError(f"d_model ({d_model}) must be divisible by nhead ({nhead})")
    torch.manual_seed(seed)
    layer_args = {"dim_feedforward": dim_feedforward, "dropout": 0.0, "batch_first": True, "norm_first": norm_first}
    layer = EncoderLayerVariant(d_model, nhead, **layer_args, residual=residual, layer_norm=layer_norm)
    stack = TransformerEncoder(layer, num_layers)  # N copies of one layer, as torch.nn.TransformerEncoder
    x = torch.randn(batch_size, length, d_model)
    outputs = [x.requires_grad_()]
    for layer in stack.layers:
        outputs.append(layer(outputs[-1]))
    for h in outputs:
        h.retain_grad()
    probe = torch.randn(outputs[-1].shape)
    (outputs[-1] * probe).sum().backward()
    rms = torch.stack([h.detach().pow(2).mean().sqrt() for h in outputs])
    gradient = torch.stack([h.grad.norm() for h in outputs])
    similarity = torch.stack([_position_similarity(h.detach()) for h in outputs])
    return StackSignal(rms, gradient, similarity)


def _position_similarity(h: Tensor) -> Tensor:
    """Mean cosine similarity between different positions of the same window, h (B, T, d)."""
    unit = F.normalize(h, dim=-1)  # (B, T, d)
    cosine = unit @ unit.transpose(1, 2)  # (B, T, T)
    T = h.shape[1]
    off_diagonal = ~torch.eye(T, dtype=torch.bool)
    return cosine[:, off_diagonal].mean() if T > 1 else torch.tensor(1.0)
