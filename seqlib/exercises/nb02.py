"""Exercises of notebook 02 (the RNN): one step, softmax with a temperature, perplexity."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from seqlib.exercises import Exercise, Mistake, register

# --- 02.rnn_step ----------------------------------------------------------------------------------


def rnn_step(x, h, W_ih, W_hh, b_ih, b_hh):
    # h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)
    return torch.tanh(x @ W_ih.T + b_ih + h @ W_hh.T + b_hh)


def _rnn_step_cases():
    generator = torch.Generator().manual_seed(2)

    def case(B: int, I: int, H: int) -> tuple:
        def draw(*shape: int) -> torch.Tensor:
            return torch.randn(*shape, generator=generator, dtype=torch.float64)

        return (draw(B, I), draw(B, H), draw(H, I), draw(H, H), draw(H), draw(H))

    # square first (I = H), so that transposed weights run and the mistake can be named
    return [case(2, 3, 3), case(3, 2, 4), case(1, 5, 2)]


register(
    Exercise(
        name="02.rnn_step",
        title="one RNN step",
        hint=(
            "h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh). Rows of x and h are samples, and W_ih is (H, I), "
            "so the weights are used transposed; add both biases before the nonlinearity."
        ),
        reference=rnn_step,
        cases=_rnn_step_cases,
        mistakes=[
            Mistake(
                "you forgot the recurrent term h_{t-1} W_hh^T: without it the cell is a plain MLP layer "
                "that cannot remember anything",
                lambda x, h, W_ih, W_hh, b_ih, b_hh: torch.tanh(x @ W_ih.T + b_ih + b_hh),
            ),
            Mistake(
                "you applied a sigmoid where the RNN uses tanh (h_t lies in (-1, 1), not (0, 1))",
                lambda x, h, W_ih, W_hh, b_ih, b_hh: torch.sigmoid(x @ W_ih.T + b_ih + h @ W_hh.T + b_hh),
            ),
            Mistake(
                "no nonlinearity: you returned the pre-activation a_t; h_t = tanh(a_t)",
                lambda x, h, W_ih, W_hh, b_ih, b_hh: x @ W_ih.T + b_ih + h @ W_hh.T + b_hh,
            ),
            Mistake(
                "the weights are transposed: with samples in rows, multiply x @ W_ih.T and h @ W_hh.T "
                "(W_ih is (H, I), W_hh is (H, H))",
                lambda x, h, W_ih, W_hh, b_ih, b_hh: torch.tanh(x @ W_ih + b_ih + h @ W_hh + b_hh),
            ),
            Mistake(
                "only the recurrent weight is transposed wrongly: h @ W_hh.T, not h @ W_hh",
                lambda x, h, W_ih, W_hh, b_ih, b_hh: torch.tanh(x @ W_ih.T + b_ih + h @ W_hh + b_hh),
            ),
            Mistake(
                "one bias is missing: add both b_ih and b_hh",
                lambda x, h, W_ih, W_hh, b_ih, b_hh: torch.tanh(x @ W_ih.T + b_ih + h @ W_hh.T),
            ),
            Mistake(
                "one bias is missing: add both b_ih and b_hh",
                lambda x, h, W_ih, W_hh, b_ih, b_hh: torch.tanh(x @ W_ih.T + h @ W_hh.T + b_hh),
            ),
        ],
    )
)

# --- 02.softmax_temperature -------------------------------------------------------------------------


def softmax_with_temperature(logits, temperature):
    # p_τ(k) = exp(z_k / τ) / Σ_j exp(z_j / τ)   over the last dimension (the vocabulary)
    return torch.softmax(logits / temperature, dim=-1)


def _softmax_cases():
    generator = torch.Generator().manual_seed(3)
    logits = torch.randn(3, 5, generator=generator, dtype=torch.float64) * 2  # (B, V)
    return [(logits, 0.5), (logits, 2.0), (logits[0], 0.25)]


register(
    Exercise(
        name="02.softmax_temperature",
        title="softmax with a temperature",
        hint=(
            "reshape the scores before the softmax, not the probabilities after it; a temperature below 1 must "
            "sharpen the distribution and one above 1 flatten it. The probabilities sum to 1 over the vocabulary, "
            "the last dimension."
        ),
        reference=softmax_with_temperature,
        cases=_softmax_cases,
        mistakes=[
            Mistake(
                "you multiplied the logits by the temperature; divide them (τ < 1 must sharpen the distribution)",
                lambda logits, temperature: torch.softmax(logits * temperature, dim=-1),
            ),
            Mistake(
                "the temperature is ignored: this is the plain softmax (τ = 1)",
                lambda logits, temperature: torch.softmax(logits, dim=-1),
            ),
            Mistake(
                "softmax over the wrong dimension: the probabilities must sum to 1 over the vocabulary "
                "(the last dimension, dim=-1), not over the batch",
                lambda logits, temperature: torch.softmax(logits / temperature, dim=0),
            ),
            Mistake(
                "you divided the probabilities, not the logits: softmax(z) / τ does not even sum to 1",
                lambda logits, temperature: torch.softmax(logits, dim=-1) / temperature,
            ),
        ],
    )
)

# --- 02.perplexity ----------------------------------------------------------------------------------


def perplexity(logits, targets):
    # perplexity = exp(mean over tokens of -log p(target)) = exp(mean cross-entropy, in nats)
    return math.exp(F.cross_entropy(logits, targets).item())


def _target_probabilities(logits, targets):
    return torch.softmax(logits, dim=-1)[torch.arange(len(targets)), targets]  # (N,)


def _perplexity_cases():
    generator = torch.Generator().manual_seed(4)
    cases = []
    for N, V in [(6, 4), (10, 7)]:
        logits = torch.randn(N, V, generator=generator, dtype=torch.float64)  # (N, V)
        targets = torch.randint(V, (N,), generator=generator)  # (N,)
        cases.append((logits, targets))
    return cases


register(
    Exercise(
        name="02.perplexity",
        title="perplexity from logits",
        hint=(
            "perplexity is the exponential of the mean cross-entropy per token; F.cross_entropy gives that mean, in "
            "nats (natural logarithm). Sanity check: a uniform guess over V tokens must give exactly V."
        ),
        reference=perplexity,
        cases=_perplexity_cases,
        mistakes=[
            Mistake(
                "you forgot the exp: that is the mean cross-entropy (nats per token), not the perplexity",
                lambda logits, targets: F.cross_entropy(logits, targets).item(),
            ),
            Mistake(
                "you used 2 ** loss, but cross_entropy is in nats (natural log): use exp(loss), or 2 ** (loss / ln 2)",
                lambda logits, targets: 2.0 ** F.cross_entropy(logits, targets).item(),
            ),
            Mistake(
                "you exponentiated the *sum* of the cross-entropies; perplexity uses the mean per token",
                lambda logits, targets: math.exp(F.cross_entropy(logits, targets, reduction="sum").item()),
            ),
            Mistake(
                "you took 1 / (mean probability of the targets); perplexity is exp(mean of -log p), the inverse "
                "of the *geometric* mean probability",
                lambda logits, targets: 1.0 / _target_probabilities(logits, targets).mean().item(),
            ),
            Mistake(
                "you exponentiated the mean log-probability without the minus sign: that is 1 / perplexity",
                lambda logits, targets: math.exp(-F.cross_entropy(logits, targets).item()),
            ),
        ],
    )
)
