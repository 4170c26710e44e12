"""The marked-recall task: a task that needs a long memory, and an honest way to measure RNN, LSTM and GRU on it.

**The task** (:func:`marked_recall_task`): a sequence of random letters from a vocabulary of V; one
of them, after a few random letters (``prefix``), carries a marker; the network reads ``lag`` more
random letters and must then name the marked letter.  So the answer depends on an input exactly L =
``lag`` steps back, and on nothing in between: a model that cannot keep it for L steps scores chance,
1/V.  Each step's input is the one-hot letter plus the marker bit, ``(N, T, V + 1)`` with
T = prefix + L + 1.

**Why the marker and the prefix.**  In the simpler version (recall the *first* letter of the sequence)
the network starts from h_0 = 0, a point a tanh RNN can turn into an unstable equilibrium: the first
input then tips the state into one of a few attractors that no later input moves, and the RNN
"remembers" without ever learning through L steps.  Measured: in ``bench/recall_task.py``'s first-letter
runs (prefix 0) one RNN of three reached 0.99 at L = 40, and in exploratory runs of the unmarked
version (Adam 0.01, 600 steps) RNNs reached 0.42-0.63 at L = 80-150 on some seeds (chance 0.25).  With
random letters before the marked one the state is already busy when the letter to keep arrives, and
the trick is gone: no RNN recalled it at L >= 40.

**Why a naive run fails for the gated models.**  At torch's default initialisation every gate
pre-activation is near 0, so the LSTM's forget gate and the GRU's update gate are near σ(0) = 0.5:
the state *halves* at every step, and after L steps the marked letter's share is ~0.5^L (1e-12 at
L = 40).  The loss is then flat in every direction that would use it (all four answers are
symmetric, so the network sits at the chance plateau with nothing to pull it off).  The fix the LSTM
literature uses is to initialise the gate *open*: a forget-gate bias of +1 (Gers et al. 2000,
Jozefowicz et al. 2015) or the "chrono" initialisation of Tallec & Ollivier (2018),
b_f ~ log U(1, T_max - 1) and b_i = -b_f, which gives each unit a memory time scale between 1 and
T_max steps.  :func:`gate_bias_init_` does both, with ``seqlib.init`` (for the GRU, on the update gate
z, which keeps the old state in torch's h = (1 - z) n + z h).

``bench/recall_task.py`` trains every arm at every lag over several seeds and writes
``data/results/recall_task.json``, which notebook 03 reads (``seqlib.course.nb03_long_term_dependencies``).

Shape legend: N samples (B in a batch), T time steps, V vocabulary size, H hidden size.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

import seqlib.recurrent as recurrent
from seqlib import _checks
from seqlib.init import chrono_init_, set_forget_bias_, set_identity_recurrence_, set_spectral_radius_
from seqlib.train import train

__all__ = [
    "KINDS",
    "GATE_INITS",
    "ARMS",
    "marked_recall_task",
    "RecallNet",
    "parameter_count",
    "hidden_size_for_budget",
    "gate_bias_init_",
    "make_recall_net",
    "RecallSettings",
    "RecallRun",
    "train_recall",
    "recall_accuracy",
    "input_gradient_norms",
]

KINDS = ("rnn", "lstm", "gru")
GATE_INITS = ("default", "forget+1", "chrono", "identity", "radius1")
ARMS = {  # the arms of bench/recall_task.py and notebook 03: name -> (kind, gate_init)
    "rnn": ("rnn", "default"),
    "rnn-identity": ("rnn", "identity"),
    "rnn-radius1": ("rnn", "radius1"),
    "lstm": ("lstm", "default"),
    "gru": ("gru", "default"),
    "lstm-chrono": ("lstm", "chrono"),
    "gru-chrono": ("gru", "chrono"),
    "lstm-forget1": ("lstm", "forget+1"),
    "gru-forget1": ("gru", "forget+1"),
}

_MODULES = {"rnn": "RNN", "lstm": "LSTM", "gru": "GRU"}
_GATES = {"rnn": 1, "lstm": 4, "gru": 3}


def marked_recall_task(
    num_samples: int, lag: int, vocab_size: int = 4, prefix: int = 5, generator: torch.Generator | None = None
) -> tuple[Tensor, Tensor]:
    """Random letters, one marked; the answer is the marked letter, read ``lag`` steps later.

    Args:
        num_samples: N.   lag: L >= 1, steps between the marked letter and the answer.
        vocab_size: V >= 2 letters.   prefix: random letters before the marked one (>= 0).
        generator: for reproducible data.

    Returns:
        ``(inputs, targets)``: inputs (N, T, V + 1) float, T = prefix + L + 1, the one-hot letter and
        (last feature) the marker, 1 at step ``prefix`` only; targets (N,) int64, the marked letter.
    """
    _checks.int_at_least("num_samples", num_samples, 1)
    _checks.int_at_least("lag", lag, 1)
    _checks.int_at_least("vocab_size", vocab_size, 2)
    _checks.int_at_least("prefix", prefix, 0)
    T = prefix + lag + 1
    letters = torch.randint(vocab_size, (num_samples, T), generator=generator)  # (N, T)
    marker = torch.zeros(num_samples, T, 1)  # (N, T, 1)
    marker[:, prefix] = 1.0
    inputs = torch.cat([F.one_hot(letters, vocab_size).float(), marker], dim=-1)  # (N, T, V + 1)
    return inputs, letters[:, prefix].clone()


class RecallNet(nn.Module):
    """A recurrent layer (seqlib's RNN, LSTM or GRU, batch first) and a linear head on its last step.

    Call ``net(inputs (B, T, V + 1)) -> logits (B, V)``.
    """

    def __init__(self, kind: str, vocab_size: int, hidden_size: int) -> None:
        super().__init__()
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
        self.kind = kind
        self.recurrent = getattr(recurrent, _MODULES[kind])(vocab_size + 1, hidden_size, batch_first=True)
        self.head = nn.Linear(hidden_size, vocab_size)

    def forward(self, inputs: Tensor) -> Tensor:
        output, _ = self.recurrent(inputs)  # (B, T, H)
        return self.head(output[:, -1])  # (B, V)


def parameter_count(kind: str, vocab_size: int, hidden_size: int) -> int:
    """Parameters of :class:`RecallNet`: G(H(V + 1) + H² + 2H) + HV + V."""
    G, H, V = _GATES[kind], hidden_size, vocab_size
    return G * (H * (V + 1) + H * H + 2 * H) + H * V + V


def hidden_size_for_budget(kind: str, vocab_size: int, budget: int) -> int:
    """The hidden size whose :class:`RecallNet` has the parameter count closest to ``budget``
    (equal budgets make the comparison fair: the RNN gets more units than the gated models)."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    _checks.int_at_least("budget", budget, parameter_count(kind, vocab_size, 1))
    sizes = range(1, int(math.isqrt(budget)) + 2)
    return min(sizes, key=lambda H: (abs(parameter_count(kind, vocab_size, H) - budget), H))


@torch.no_grad()
def gate_bias_init_(
    module: nn.Module, gate_init: str, max_lag: int = 100, generator: torch.Generator | None = None
) -> nn.Module:
    """Initialise a recurrent layer (layer 0) for a long memory, in place.

    ``"default"``: leave torch's U(-1/√H, 1/√H).  For an LSTM or GRU, the keep-gate biases:
    ``"forget+1"``: forget-gate bias 1 (LSTM; GRU: update gate z bias 1); ``"chrono"``: b_f ~ log U(1,
    max_lag - 1), b_i = -b_f for the LSTM; b_z ~ log U(1, max_lag - 1) for the GRU (``seqlib.init``).
    For a plain RNN, which has no gate, the starts that keep the gradient from vanishing: ``"identity"``:
    W_hh = I, b_hh = 0 (every eigenvalue 1); ``"radius1"``: torch's random W_hh rescaled to spectral radius 1.
    """
    if gate_init not in GATE_INITS:
        raise ValueError(f"gate_init must be one of {GATE_INITS}, got {gate_init!r}")
    mode = type(module).__name__.upper()
    if gate_init == "default":
        return module
    if gate_init in ("identity", "radius1"):
        if mode != "RNN":
            raise ValueError(f"gate_init={gate_init!r} is a plain RNN's start (W_hh = I or ρ = 1), got {mode}")
        if gate_init == "radius1":
            set_spectral_radius_(module.weight_hh_l0, 1.0)
            return module
        return set_identity_recurrence_(module)
    if mode not in ("LSTM", "GRU"):
        raise ValueError(f"gate_init={gate_init!r} needs an LSTM or GRU (a plain RNN has no gate), got {mode}")
    if gate_init == "forget+1":
        set_forget_bias_(module, 1.0)
    else:
        chrono_init_(module, max_lag, generator)
    return module


def make_recall_net(
    kind: str, vocab_size: int = 4, parameter_budget: int = 5000, gate_init: str = "default", max_lag: int = 100,
    generator: torch.Generator | None = None,
) -> RecallNet:
    """A :class:`RecallNet` with about ``parameter_budget`` parameters and the chosen gate init."""
    net = RecallNet(kind, vocab_size, hidden_size_for_budget(kind, vocab_size, parameter_budget))
    if kind == "rnn" and gate_init not in ("default", "identity", "radius1"):
        raise ValueError(f"gate_init={gate_init!r} needs an LSTM or GRU (a plain RNN has no gate)")
    gate_bias_init_(net.recurrent, gate_init, max_lag, generator)
    return net


@torch.no_grad()
def recall_accuracy(net: RecallNet, inputs: Tensor, targets: Tensor, batch_size: int = 1000) -> float:
    """Fraction of samples whose most likely answer is the marked letter."""
    correct = 0
    for start in range(0, len(targets), batch_size):
        logits = net(inputs[start : start + batch_size])  # (B, V)
        correct += int((logits.argmax(dim=-1) == targets[start : start + batch_size]).sum())
    return correct / len(targets)


@dataclass(frozen=True)
class RecallSettings:
    """Everything that decides a training run of the recall task (saved with every result)."""

    kind: Literal["rnn", "lstm", "gru"]
    lag: int
    gate_init: str = "default"
    lr: float = 1e-2
    max_steps: int = 600
    batch_size: int = 128
    clip: float | None = 1.0
    parameter_budget: int = 5000
    vocab_size: int = 4
    prefix: int = 5
    eval_every: int = 50
    val_samples: int = 512
    test_samples: int = 2000
    stop_at_accuracy: float | None = 0.99

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}")
        if self.gate_init not in GATE_INITS:
            raise ValueError(f"gate_init must be one of {GATE_INITS}, got {self.gate_init!r}")
        if self.kind == "rnn" and self.gate_init not in ("default", "identity", "radius1"):
            raise ValueError(f"gate_init={self.gate_init!r} needs an LSTM or GRU (a plain RNN has no gate)")
        for name in ("lag", "max_steps", "batch_size", "eval_every", "val_samples", "test_samples"):
            _checks.int_at_least(name, getattr(self, name), 1)
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr!r}")


class RecallRun(NamedTuple):
    """One training run: its settings and seed, the test accuracy at the end, the steps it took
    (fewer than ``max_steps`` when it reached ``stop_at_accuracy`` on the validation set), the
    history ``(step, training loss, validation accuracy)`` every ``eval_every`` steps, and the model's
    size.  ``seconds`` is wall-clock training time (the only field that varies between runs)."""

    settings: RecallSettings
    seed: int
    accuracy: float
    steps: int
    history: tuple[tuple[int, float, float], ...]
    hidden_size: int
    parameters: int
    seconds: float


def train_recall(
    settings: RecallSettings, seed: int = 0, progress: Callable[[int, float, float], None] | None = None
) -> tuple[RecallRun, RecallNet]:
    """Train a :class:`RecallNet` on fresh batches of the task with Adam (and clipping); evaluate.

    The seed decides the initial weights (torch's global generator is seeded with it), the
    training batches, and (offset by 10,000 and 20,000) the validation and test sets, so a run is
    reproducible on the same machine and thread count.

    Returns:
        ``(run, net)``.
    """
    s = settings
    torch.manual_seed(seed)
    net = make_recall_net(
        s.kind, s.vocab_size, s.parameter_budget, s.gate_init, max_lag=s.lag + 1,
        generator=torch.Generator().manual_seed(seed),
    )
    train_gen = torch.Generator().manual_seed(seed)
    val = marked_recall_task(s.val_samples, s.lag, s.vocab_size, s.prefix, torch.Generator().manual_seed(10_000 + seed))
    test = marked_recall_task(
        s.test_samples, s.lag, s.vocab_size, s.prefix, torch.Generator().manual_seed(20_000 + seed)
    )

    def fresh_batches() -> Iterator[tuple[Tensor, Tensor]]:
        while True:
            yield marked_recall_task(s.batch_size, s.lag, s.vocab_size, s.prefix, train_gen)

    def report(record) -> None:
        if progress is not None:
            progress(record.step, record.last_loss, record.metrics["val_accuracy"])

    result = train(
        net,
        fresh_batches(),
        lambda batch: F.cross_entropy(net(batch[0]), batch[1]),
        lr=s.lr,
        clip=s.clip,
        max_steps=s.max_steps,
        evaluate=lambda: {"val_accuracy": recall_accuracy(net, *val)},
        eval_every=s.eval_every,
        stop_when=None if s.stop_at_accuracy is None else (
            lambda record: record.metrics["val_accuracy"] >= s.stop_at_accuracy),
        progress=report,
    )
    history = tuple(
        (record.step, round(record.last_loss, 4), round(record.metrics["val_accuracy"], 4))
        for record in result.history
    )
    step, seconds = result.steps, result.seconds
    H = net.recurrent.hidden_size
    run = RecallRun(
        s, seed, recall_accuracy(net, *test), step, history, H, sum(p.numel() for p in net.parameters()),
        seconds,
    )
    return run, net


def input_gradient_norms(net: RecallNet, inputs: Tensor, targets: Tensor) -> Tensor:
    """‖∂L/∂x_t‖ for every step t (norm over the batch and features), L the mean cross-entropy.

    At initialisation this says how much of the learning signal reaches the marked letter at all:
    if ∂L/∂x_prefix is 1e-12 of ∂L/∂x_last, the network cannot discover that the marked letter matters.

    Returns:
        (T,) float64.
    """
    x = inputs.detach().clone().requires_grad_(True)  # (B, T, V + 1)
    loss = F.cross_entropy(net(x), targets)
    (grad,) = torch.autograd.grad(loss, x)
    return grad.double().norm(dim=(0, 2))  # (T,)
