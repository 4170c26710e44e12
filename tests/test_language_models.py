"""The recurrent language model, sampling, and the training loop."""

from __future__ import annotations

import math
import re

import pytest
import torch
from torch import nn

from seqlib.data import Vocab
from seqlib.language_models import (
    RNNLanguageModel,
    detach_state,
    evaluate_perplexity,
    make_language_model,
    print_progress,
    sample,
    softmax_with_temperature,
    train_language_model,
)
from seqlib.train import TrainingDiverged, TrainRecord, cosine_lr

F64 = torch.float64

TEXT = "the quick brown fox jumps over the lazy dog " * 40


@pytest.fixture(scope="module")
def data():
    vocab = Vocab(list(TEXT))
    corpus = torch.tensor(vocab[list(TEXT)], dtype=torch.long)
    return corpus, vocab


@pytest.mark.parametrize("kind", ["rnn", "gru", "lstm"])
@pytest.mark.parametrize("backend", ["seqlib", "torch"])
def test_language_model_shapes_and_carried_state(kind, backend):
    model = make_language_model(kind, 11, 8, embedding_dim=5, num_layers=2, backend=backend)
    tokens = torch.randint(11, (3, 7))
    logits, state = model(tokens)
    assert logits.shape == (3, 7, 11)
    h = state[0] if kind == "lstm" else state
    assert h.shape == (2, 3, 8)
    whole, _ = model(tokens)
    first, carried = model(tokens[:, :4])
    rest, _ = model(tokens[:, 4:], carried)  # state carried: same as one pass
    torch.testing.assert_close(torch.cat([first, rest], dim=1), whole, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kind", ["rnn", "gru", "lstm"])
def test_seqlib_model_equals_torch_model_with_the_same_weights(kind):
    torch.manual_seed(0)
    mine = make_language_model(kind, 9, 6, backend="seqlib")
    reference = make_language_model(kind, 9, 6, backend="torch")
    reference.load_state_dict(mine.state_dict())
    tokens = torch.randint(9, (2, 5))
    torch.testing.assert_close(mine(tokens)[0], reference(tokens)[0], rtol=1e-5, atol=1e-6)


def test_model_accepts_time_major_recurrent_module():
    from seqlib import GRU

    model = RNNLanguageModel(10, GRU(4, 6))  # batch_first=False
    logits, state = model(torch.randint(10, (3, 5)))
    assert logits.shape == (3, 5, 10) and state.shape == (1, 3, 6)


def test_model_rejects_bad_tokens_and_bidirectional():
    model = make_language_model("gru", 10, 4)
    with pytest.raises(TypeError, match="int64"):
        model(torch.randn(2, 3))
    with pytest.raises(ValueError, match="bidirectional"):
        RNNLanguageModel(10, nn.GRU(4, 4, bidirectional=True))


def test_detach_state_keeps_values_and_cuts_graph():
    h = torch.ones(2, requires_grad=True) * 2
    for state in [h, (h, h + 1)]:
        detached = detach_state(state)
        for got, want in zip(
            detached if isinstance(detached, tuple) else (detached,),
            state if isinstance(state, tuple) else (state,),
            strict=True,
        ):
            assert torch.equal(got, want) and not got.requires_grad
    assert detach_state(None) is None


def test_greedy_sampling_is_deterministic_and_extends_the_prefix(data):
    _, vocab = data
    torch.manual_seed(1)
    model = make_language_model("lstm", len(vocab), 8)
    first = sample(model, vocab, "the ", 20, temperature=0)
    assert first.startswith("the ") and len(first) == 24
    assert sample(model, vocab, "the ", 20, temperature=0) == first


def test_temperature_sampling_is_reproducible_with_a_generator(data):
    _, vocab = data
    torch.manual_seed(2)
    model = make_language_model("gru", len(vocab), 8)
    one = sample(model, vocab, "fox", 30, temperature=1.5, generator=torch.Generator().manual_seed(0))
    two = sample(model, vocab, "fox", 30, temperature=1.5, generator=torch.Generator().manual_seed(0))
    assert one == two and len(one) == 33
    assert model.training  # restored


def test_sampling_word_tokens_returns_a_list():
    vocab = Vocab("a b c a b c".split())
    model = make_language_model("rnn", len(vocab), 4)
    out = sample(model, vocab, ["a", "b"], 3, temperature=0)
    assert isinstance(out, list) and out[:2] == ["a", "b"] and len(out) == 5


@pytest.mark.parametrize(
    "kwargs,fragment",
    [(dict(num_chars=-1), "num_chars"), (dict(temperature=-0.5), "temperature"), (dict(prefix=""), "prefix")],
)
def test_sampling_rejects_bad_arguments(data, kwargs, fragment):
    _, vocab = data
    model = make_language_model("rnn", len(vocab), 4)
    arguments = dict(prefix="the", num_chars=3) | kwargs
    with pytest.raises(ValueError, match=fragment):
        sample(model, vocab, **arguments)


def test_uniform_model_has_perplexity_equal_to_vocabulary_size(data):
    corpus, vocab = data
    model = make_language_model("rnn", len(vocab), 4)
    nn.init.zeros_(model.head.weight)
    nn.init.zeros_(model.head.bias)
    assert evaluate_perplexity(model, corpus, batch_size=4, num_steps=10) == pytest.approx(len(vocab))


def _train(data, **kwargs):
    corpus, vocab = data
    torch.manual_seed(0)
    model = make_language_model("lstm", len(vocab), 32)
    train, val = corpus[:1500], corpus[1500:]
    arguments = dict(batch_size=8, num_steps=10, lr=2e-2, max_steps=40, eval_every=20)
    result = train_language_model(model, train, val, **(arguments | kwargs), generator=torch.Generator().manual_seed(0))
    return model, result


def test_training_lowers_perplexity_and_is_deterministic_with_a_step_budget(data):
    _, first = _train(data)
    _, second = _train(data)
    assert first.steps == 40 and first.stopped_by == "max_steps"
    assert [r.step for r in first.history] == [20, 40]
    assert first.val_perplexity < 4.0  # a repetitive text: far below the 27-token vocabulary
    strip = [(r.step, r.epoch, r.train_perplexity, r.val_perplexity, r.lr) for r in first.history]
    assert strip == [(r.step, r.epoch, r.train_perplexity, r.val_perplexity, r.lr) for r in second.history]
    assert len(first.losses) == 40 and all(math.isfinite(loss) for loss in first.losses)


def test_progress_callback_gets_every_record_and_printing_has_no_time(data, capsys):
    seen: list[TrainRecord] = []
    _, result = _train(data, progress=seen.append)
    assert seen == result.history
    print_progress(seen[0])
    line = capsys.readouterr().out
    assert "step     20" in line and "val ppl" in line and "s" not in line.replace("step", "").replace("ppl", "")


def test_epoch_budget_and_evaluation_at_epoch_ends(data):
    _, result = _train(data, max_steps=None, max_epochs=2, eval_every=None)
    assert result.stopped_by == "max_epochs" and result.epochs == 2
    assert [r.epoch for r in result.history] == [1, 2]


def test_time_budget_stops_training(data):
    _, result = _train(data, max_steps=None, time_budget_s=0.3, eval_every=None)
    assert result.stopped_by == "time_budget_s" and 0.3 <= result.seconds < 5


def test_cosine_schedule_decays_to_the_final_fraction(data):
    _, result = _train(data, lr_schedule="cosine", final_lr_fraction=0.1, eval_every=10)
    lrs = [r.lr for r in result.history]
    assert lrs == sorted(lrs, reverse=True)
    assert cosine_lr(1.0, 0.0, 0.1) == 1.0 and cosine_lr(1.0, 1.0, 0.1) == pytest.approx(0.1)
    assert cosine_lr(1.0, 0.5, 0.0) == pytest.approx(0.5)


def test_training_needs_a_budget(data):
    with pytest.raises(ValueError, match="budget"):
        _train(data, max_steps=None)


def test_perplexity_is_exp_of_mean_cross_entropy(data):
    corpus, vocab = data
    torch.manual_seed(3)
    model = make_language_model("gru", len(vocab), 8).eval()
    streams, steps = 4, 10
    length = (len(corpus) - 1) // streams
    inputs = corpus[: streams * length].reshape(streams, length)
    targets = corpus[1 : streams * length + 1].reshape(streams, length)
    with torch.no_grad():
        logits, _ = model(inputs)
    loss = nn.functional.cross_entropy(logits.reshape(-1, len(vocab)), targets.reshape(-1))
    assert evaluate_perplexity(model, corpus, streams, steps) == pytest.approx(math.exp(loss.item()), rel=1e-5)


def test_temperature_sharpens_flattens_and_zero_is_the_argmax() -> None:
    logits = torch.tensor([[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]])
    torch.testing.assert_close(softmax_with_temperature(logits, 1.0), torch.softmax(logits.double(), -1))
    torch.testing.assert_close(softmax_with_temperature(logits, 0.5), torch.softmax(2 * logits.double(), -1))
    greedy = softmax_with_temperature(logits, 0)
    assert greedy.tolist() == [[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
    hot = softmax_with_temperature(logits, 1e6)
    torch.testing.assert_close(hot, torch.full((2, 3), 1 / 3, dtype=F64), rtol=0, atol=1e-5)
    for bad in (-0.5, float("nan"), float("inf"), "1", True):
        with pytest.raises(ValueError, match="temperature"):
            softmax_with_temperature(logits, bad)


# --- bad input (issue 15) -----------------------------------------------------------------------------


@pytest.mark.parametrize("ids,bad", [([[1, 10]], 10), ([[-1, 2]], -1), ([[99]], 99)])
def test_a_token_id_outside_the_vocabulary_is_named(ids, bad):
    model = make_language_model("gru", 10, 4)
    message = "tokens must hold token ids in [0, 10) (the vocabulary has V = 10 tokens), got values in "
    with pytest.raises(ValueError, match=re.escape(message) + rf".*{bad} is not a token of this vocabulary"):
        model(torch.tensor(ids))


def _train_args(corpus, **kwargs):
    return dict(batch_size=4, num_steps=5, max_steps=3, eval_batch_size=4) | kwargs


@pytest.mark.parametrize(
    "val,message",
    [
        (lambda c: c[:3], "val_corpus must be 1-D with more than eval_batch_size=4 tokens, got shape (3,)"),
        (lambda c: c[:0], "val_corpus must be 1-D with more than eval_batch_size=4 tokens, got shape (0,)"),
        (lambda c: c[:40].float(), "val_corpus must be an int64 tensor of shape (N,), got torch.float32"),
        (lambda c: c[:40].reshape(4, 10), "val_corpus must be an int64 tensor of shape (N,), got torch.int64 of "
                                          "shape (4, 10)"),
        (lambda c: c[:40] + 100, "val_corpus must hold token ids in [0, "),
        (lambda c: c[:40].tolist(), "val_corpus must be an int64 tensor of shape (N,), got list"),
    ],
)
def test_a_bad_validation_corpus_is_refused_before_the_first_step(data, val, message):
    corpus, vocab = data
    model = make_language_model("rnn", len(vocab), 4)
    before = [p.detach().clone() for p in model.parameters()]
    with pytest.raises(ValueError, match=re.escape(message)):
        train_language_model(model, corpus[:1200], val(corpus[1200:]), **_train_args(corpus))
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))  # no step taken


@pytest.mark.parametrize(
    "kwargs,message",
    [
        (dict(clip=-1), "clip must be > 0, got -1 (clip=None: no clipping)"),
        (dict(lr=float("inf")), "lr must be a finite number, got inf"),
        (dict(lr_schedule="cosin"), "lr_schedule must be 'constant' or 'cosine', got 'cosin'"),
        (dict(eval_every=0), "eval_every must be a positive int or None, got 0"),
        (dict(eval_batch_size=0), "eval_batch_size must be a positive int, got 0"),
        (dict(progress="yes"), "progress must be a function or None, got str"),
    ],
)
def test_bad_training_options_are_refused_before_the_first_step(data, kwargs, message):
    corpus, vocab = data
    model = make_language_model("rnn", len(vocab), 4)
    before = [p.detach().clone() for p in model.parameters()]
    with pytest.raises(ValueError, match=re.escape(message)):
        train_language_model(model, corpus[:1200], corpus[1200:], **_train_args(corpus, **kwargs))
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


def test_a_training_corpus_outside_the_vocabulary_is_refused(data):
    corpus, vocab = data
    model = make_language_model("rnn", len(vocab) - 1, 4)  # one token short of the corpus's vocabulary
    with pytest.raises(ValueError, match=re.escape(f"train_corpus must hold token ids in [0, {len(vocab) - 1})")):
        train_language_model(model, corpus[:1200], corpus[:40] * 0, **_train_args(corpus))


@pytest.mark.parametrize("eval_every,step,what", [(3, 2, "the loss is nan (the last finite loss, at step 1, was "),
                                                    (1, 1, "the evaluation after it gave val_perplexity = nan")])
def test_a_diverging_language_model_stops_with_the_run_so_far(data, eval_every, step, what):
    corpus, vocab = data
    torch.manual_seed(0)
    model = make_language_model("rnn", len(vocab), 8)  # lr 1e30: the first update makes every logit overflow
    with pytest.raises(TrainingDiverged) as info:
        train_language_model(model, corpus[:1500], corpus[1500:], **_train_args(corpus, lr=1e30, clip=None,
                                                                                 max_steps=20, eval_every=eval_every))
    error = info.value
    assert error.step == step and f"training diverged at step {step}: {what}" in str(error)
    assert "(lr=1e+30: try one 10 times smaller), with no gradient clipping (try clip=1.0)" in str(error)
    assert "The run so far (1 step, 0 records)" in str(error)
    assert error.result.steps == 1 and error.result.stopped_by == "diverged" and math.isfinite(error.result.losses[0])


class _Confident(nn.Module):
    """Every logit 0 except 1000 on token 0: a loss near 1000 per wrong token, beyond exp's range."""

    def __init__(self, vocab_size: int, scale: float = 1000.0) -> None:
        super().__init__()
        self.vocab_size, self.scale = vocab_size, scale
        self.w = nn.Parameter(torch.tensor(1.0))

    def forward(self, tokens, state=None):
        logits = torch.zeros(*tokens.shape, self.vocab_size)
        logits[..., 0] = self.scale * self.w
        return logits, state


def test_a_loss_beyond_709_gives_an_infinite_perplexity_and_training_goes_on(data):
    corpus, vocab = data
    assert evaluate_perplexity(_Confident(len(vocab)), corpus, 4, 5) == math.inf
    result = train_language_model(_Confident(len(vocab)), corpus[:1200], corpus[1200:],
                                  **_train_args(corpus, lr=1e-9, max_steps=2))
    assert result.val_perplexity == math.inf and result.train_perplexity == math.inf


def test_a_model_with_nan_weights_is_refused_by_evaluation_and_sampling(data):
    corpus, vocab = data
    model = make_language_model("rnn", len(vocab), 4)
    with torch.no_grad():
        model.head.bias.fill_(float("nan"))
    with pytest.raises(ValueError, match="the model's logits hold NaN"):
        evaluate_perplexity(model, corpus, 4, 5)
    with pytest.raises(ValueError, match="logits hold NaN or \\+inf"):
        sample(model, vocab, "the", 3, temperature=1.0)


@pytest.mark.parametrize("temperature", [1e-320, 5e-324, 1e-300])
def test_a_tiny_temperature_is_greedy_not_a_crash(data, temperature):
    logits = torch.tensor([0.5, 2.0, -1.0, 1.9999])
    probabilities = softmax_with_temperature(logits, temperature)
    assert torch.equal(probabilities, torch.tensor([0.0, 1.0, 0.0, 0.0], dtype=F64))
    _, vocab = data
    model = make_language_model("rnn", len(vocab), 4)
    greedy = sample(model, vocab, "the", 5, temperature=0)
    assert sample(model, vocab, "the", 5, temperature=temperature, generator=torch.Generator().manual_seed(0)) == greedy


def test_softmax_with_temperature_refuses_bad_logits():
    for logits, message in [(torch.tensor([1.0, float("nan")]), "logits hold NaN"),
                            (torch.tensor([1.0, float("inf")]), "logits hold NaN or +inf"),
                            (torch.full((3,), float("-inf")), "every token of a row"),
                            (torch.tensor([1, 2]), "logits must be a floating tensor"),
                            ([1.0, 2.0], "logits must be a Tensor, got list")]:
        with pytest.raises(ValueError, match=re.escape(message)):
            softmax_with_temperature(logits, 1.0)
    # -inf for some tokens (never possible) is allowed
    assert softmax_with_temperature(torch.tensor([0.0, float("-inf")]), 0.5).tolist() == [1.0, 0.0]
