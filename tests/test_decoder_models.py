"""seqlib.decoder_models: the causal decoder reads no future, reads on in sliding windows, trains, and the leak."""

from __future__ import annotations

import pytest
import torch

from seqlib.decoder_models import (
    DecoderLanguageModel,
    count_parameters,
    full_vs_prefix,
    prefix_logits,
    train_decoder_language_model,
)
from seqlib.language_models import evaluate_perplexity, sample

V = 11


def _model(**kwargs: object) -> DecoderLanguageModel:
    torch.manual_seed(0)
    config = {"d_model": 16, "nhead": 2, "num_layers": 2, "dim_feedforward": 32, "context": 7, **kwargs}
    return DecoderLanguageModel(V, **config).eval()


def test_causal_window_never_reads_the_future() -> None:
    model = _model()
    tokens = torch.randint(0, V, (3, 7))
    changed = tokens.clone()
    changed[:, 4:] = (changed[:, 4:] + 1) % V
    with torch.no_grad():
        before, after = model.read_window(tokens), model.read_window(changed)
    torch.testing.assert_close(before[:, :4], after[:, :4])
    assert not torch.allclose(before[:, 4:], after[:, 4:])


def test_without_the_mask_position_t_reads_the_next_token() -> None:
    model = _model(causal=False)
    tokens = torch.randint(0, V, (3, 7))
    changed = tokens.clone()
    changed[:, 4] = (changed[:, 4] + 1) % V
    with torch.no_grad():
        before, after = model.read_window(tokens), model.read_window(changed)
    assert not torch.allclose(before[:, 3], after[:, 3])  # position 3 saw position 4, its answer


def test_full_pass_equals_prefixes_with_the_mask_only() -> None:
    inputs = torch.randint(0, V, (4, 7))
    targets = torch.randint(0, V, (4, 7))
    honest = full_vs_prefix(_model(), inputs, targets)
    assert honest.max_logit_gap < 1e-5
    assert honest.full_loss == pytest.approx(honest.prefix_loss, abs=1e-5)
    assert honest.full_by_position.shape == (7,)
    leaky = full_vs_prefix(_model(causal=False), inputs, targets)
    assert leaky.max_logit_gap > 1e-3
    torch.testing.assert_close(prefix_logits(_model(causal=False), inputs)[:, -1],
                               _model(causal=False).read_window(inputs)[:, -1].detach())  # the last row sees no future


def test_reading_on_from_a_state_with_stride_one_is_the_exact_sliding_window() -> None:
    model = _model(stride=1)
    x = torch.randint(0, V, (2, 30))
    with torch.no_grad():
        state, chunks = None, []
        for start in range(0, 30, 4):
            logits, state = model(x[:, start : start + 4], state)
            chunks.append(logits)
            assert state.shape == (2, min(start + 4, model.context - 1))  # the last W - 1 tokens read
        exact = torch.stack([model.read_window(x[:, max(0, k - 6) : k + 1])[:, -1] for k in range(30)], dim=1)
    torch.testing.assert_close(torch.cat(chunks, dim=1), exact)


def test_a_larger_stride_gives_every_prediction_at_least_context_minus_stride_plus_one_tokens() -> None:
    model = _model(stride=3)
    x = torch.randint(0, V, (1, 20))
    with torch.no_grad():
        logits, _ = model(x[:, :9])  # no state: windows [0, 7), then [2, 9) for positions 7, 8
        torch.testing.assert_close(logits[:, :7], model.read_window(x[:, :7]))
        torch.testing.assert_close(logits[:, 7:], model.read_window(x[:, 2:9])[:, 5:])


def test_evaluate_perplexity_and_sample_take_the_decoder() -> None:
    model = _model()
    corpus = torch.randint(0, V, (400,))
    assert 1.0 < evaluate_perplexity(model, corpus, batch_size=4, num_steps=10) < 100

    class Vocab:
        unk = 0

        def __len__(self) -> int:
            return V

        def __getitem__(self, tokens):
            return [ord(t) - 97 for t in tokens]

        def to_tokens(self, i: int) -> str:
            return chr(97 + i)

    text = sample(model, Vocab(), "abc", 12, temperature=0)
    assert len(text) == 15 and text.startswith("abc")


def test_training_lowers_the_loss_and_is_reproducible() -> None:
    corpus = torch.arange(600) % 5  # a cycle: easy to predict
    losses = []
    for _ in range(2):
        model = _model(context=8)
        result = train_decoder_language_model(model, corpus, corpus[:200], batch_size=4, num_steps=8, lr=1e-2,
                                              max_steps=30, eval_every=30, generator=torch.Generator().manual_seed(0))
        losses.append(result.losses)
    assert losses[0] == losses[1]
    assert losses[0][-1] < 0.5 * losses[0][0]
    assert result.val_perplexity < 2.0


def test_parameter_count_of_the_leaderboard_configuration() -> None:
    model = DecoderLanguageModel(28, d_model=64, nhead=4, num_layers=2, dim_feedforward=192, context=35)
    assert count_parameters(model) == 87_196  # about the leaderboard LSTM's 87,452


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"context": 0}, "context"),
        ({"stride": 9}, "stride"),
        ({"stride": 0}, "stride"),
        ({"d_model": 15}, "nhead|divisible"),
    ],
)
def test_bad_configurations_are_refused(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        _model(**kwargs)


def test_bad_calls_are_refused_with_clear_messages() -> None:
    model = _model()
    with pytest.raises(ValueError, match="window holds 1 to context=7"):
        model.read_window(torch.zeros(1, 8, dtype=torch.long))
    with pytest.raises(ValueError, match="token ids"):
        model(torch.full((1, 3), V))
    with pytest.raises(TypeError, match="int64"):
        model(torch.zeros(1, 3))
    with pytest.raises(ValueError, match="state must be"):
        model(torch.zeros(1, 3, dtype=torch.long), torch.zeros(2, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="num_steps=9 is longer"):
        train_decoder_language_model(model, torch.zeros(100, dtype=torch.long), None, num_steps=9, max_steps=1)
    with pytest.raises(ValueError, match="targets must have the shape"):
        full_vs_prefix(model, torch.zeros(2, 3, dtype=torch.long), torch.zeros(2, 4, dtype=torch.long))
