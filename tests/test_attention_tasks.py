"""seqlib.attention_tasks: the key-value lookup, its self-attention model, training and scoring."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F

import seqlib
from seqlib import attention_tasks as tasks


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Small models: one thread is faster, and on a shared machine two threads can wait on each other."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def trained() -> tasks.LookupAttention:
    torch.manual_seed(0)
    model = tasks.LookupAttention()
    tasks.train_lookup(model, steps=200, seed=0)
    return model.eval()


def _check_lookup(batch: tasks.LookupBatch, num_values: int = 8) -> None:
    """Every query with a right key points at a pair with its key, and that pair's value is its target."""
    B, T = batch.keys.shape
    for b in range(B):
        pairs = [t for t in range(T) if batch.values[b, t] < num_values]
        assert len({int(batch.keys[b, t]) for t in pairs}) == len(pairs)  # distinct keys among the pairs
        for t in range(T):
            right = int(batch.right_key[b, t])
            if batch.values[b, t] < num_values:
                assert right == -1 and batch.targets[b, t] == tasks.IGNORE
            elif right >= 0:
                assert batch.values[b, right] < num_values and batch.keys[b, right] == batch.keys[b, t]
                assert batch.targets[b, t] == batch.values[b, right]


# --- the task -----------------------------------------------------------------------------------------


def test_a_batch_holds_pairs_then_queries_each_pointing_at_its_pair() -> None:
    batch = tasks.lookup_batch(16, 4, generator=torch.Generator().manual_seed(0))
    assert all(field.shape == (16, 8) and field.dtype == torch.long for field in batch)
    assert (batch.values[:, :4] < 8).all() and (batch.values[:, 4:] == 8).all()
    assert (batch.right_key[:, 4:] >= 0).all() and (batch.right_key[:, 4:] < 4).all()
    _check_lookup(batch)
    again = tasks.lookup_batch(16, 4, generator=torch.Generator().manual_seed(0))
    assert all(torch.equal(a, b) for a, b in zip(batch, again, strict=True))  # seeded: reproducible


def test_shuffled_and_partly_asked_batches_keep_the_right_keys() -> None:
    generator = torch.Generator().manual_seed(1)
    shuffled = tasks.lookup_batch(32, 5, shuffle=True, generator=generator)
    _check_lookup(shuffled)
    assert not (shuffled.values[:, 5:] == 8).all()  # the queries moved among the pairs
    some = tasks.lookup_batch(8, 6, 2, generator=generator)
    assert some.keys.shape == (8, 8) and int((some.right_key >= 0).sum()) == 16
    _check_lookup(some)
    _check_lookup(tasks.lookup_batch(4, 3, num_keys=3, num_values=2, generator=generator), num_values=2)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"num_pairs": 0}, "num_pairs must be an int from 1"),
        ({"num_pairs": 9}, "num_pairs must be an int from 1 to num_keys = 8"),
        ({"num_pairs": 3, "num_queries": 4}, "num_queries must be an int from 0 to num_pairs = 3"),
        ({"batch_size": 0}, "batch_size must be a positive int"),
        ({"num_keys": 9}, "num_keys must be an int from 1 to 8"),
        ({"num_values": 0}, "num_values must be an int from 1 to 8"),
    ],
)
def test_batch_arguments_are_checked(kwargs: dict, message: str) -> None:
    arguments = {"batch_size": 2, "num_pairs": 2} | kwargs
    with pytest.raises(ValueError, match=message):
        tasks.lookup_batch(**arguments)


def test_parse_reads_pairs_queries_and_queries_without_a_pair() -> None:
    batch = tasks.parse_lookup("a3 b7 c? b? a?")
    assert batch.keys.tolist() == [[0, 1, 2, 1, 0]] and batch.values.tolist() == [[3, 7, 8, 8, 8]]
    assert batch.targets.tolist() == [[tasks.IGNORE, tasks.IGNORE, tasks.IGNORE, 7, 3]]
    assert batch.right_key.tolist() == [[-1, -1, -1, 1, 0]]
    assert tasks.token_labels(batch) == ["a3", "b7", "c?", "b?", "a?"]
    early = tasks.parse_lookup("b? b5")  # a query before its pair: order does not matter
    assert early.right_key.tolist() == [[1, -1]] and early.targets.tolist() == [[5, tasks.IGNORE]]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the sequence is empty"),
        ("   ", "the sequence is empty"),
        ("a3 z1", "token 'z1' \\(number 2\\) is not a key letter"),
        ("a9", "token 'a9'"),
        ("a33", "token 'a33'"),
        ("a3 b2 a5", "key 'a' is paired twice \\(a3 and a5\\)"),
    ],
)
def test_parse_explains_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        tasks.parse_lookup(text)


def test_labels_round_trip_through_parse() -> None:
    batch = tasks.lookup_batch(5, 3, shuffle=True, generator=torch.Generator().manual_seed(2))
    for b in range(5):
        parsed = tasks.parse_lookup(" ".join(tasks.token_labels(batch, b)))
        assert all(torch.equal(p[0], f[b]) for p, f in zip(parsed, batch, strict=True))


# --- the model ----------------------------------------------------------------------------------------


def test_the_model_is_one_seqlib_attention_over_three_projections() -> None:
    torch.manual_seed(3)
    model = tasks.LookupAttention(d_model=6, d_k=4, d_v=5)
    batch = tasks.lookup_batch(3, 4, generator=torch.Generator().manual_seed(3))
    logits, trace = model(batch.keys, batch.values, return_trace=True)
    assert logits.shape == (3, 8, 8) and trace.x.shape == (3, 8, 6)
    assert trace.q.shape == trace.k.shape == (3, 8, 4) and trace.v.shape == (3, 8, 5)
    assert trace.attention.weights.shape == (3, 8, 8) and trace.attention.output.shape == (3, 8, 5)  # d_v
    x = model.key_embedding(batch.keys) + model.value_embedding(batch.values)
    q, k, v = x @ model.q_proj.weight.T, x @ model.k_proj.weight.T, x @ model.v_proj.weight.T
    expected = F.scaled_dot_product_attention(q, k, v)
    torch.testing.assert_close(trace.attention.output, expected)
    torch.testing.assert_close(logits, model.head(expected))
    torch.testing.assert_close(trace.attention.weights.sum(-1), torch.ones(3, 8))
    assert torch.equal(model(batch.keys, batch.values), logits)  # no trace: the same logits


def test_the_model_has_no_positions_reordering_reorders_its_outputs() -> None:
    torch.manual_seed(4)
    model = tasks.LookupAttention()
    batch = tasks.lookup_batch(2, 4, generator=torch.Generator().manual_seed(4))
    order = torch.tensor([5, 0, 7, 2, 1, 6, 3, 4])
    logits = model(batch.keys, batch.values)
    moved = model(batch.keys[:, order], batch.values[:, order])
    torch.testing.assert_close(moved, logits[:, order])


@pytest.mark.parametrize(
    ("keys", "values", "message"),
    [
        (torch.zeros(2, 3), torch.zeros(2, 3, dtype=torch.long), "keys must be a \\(B, T\\) long tensor"),
        (torch.zeros(3, dtype=torch.long), torch.zeros(3, dtype=torch.long), "keys must be a \\(B, T\\) long tensor"),
        (torch.full((1, 2), 8), torch.zeros(1, 2, dtype=torch.long), "keys must lie in 0 … 7, got 8 … 8"),
        (torch.zeros(1, 2, dtype=torch.long), torch.full((1, 2), 9), "values must lie in 0 … 8"),
        (torch.zeros(1, 2, dtype=torch.long), torch.zeros(1, 3, dtype=torch.long), "the same shape"),
    ],
)
def test_the_model_checks_its_tokens(keys, values, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        tasks.LookupAttention()(keys, values)


def test_model_configuration_is_checked() -> None:
    with pytest.raises(ValueError, match="d_k must be a positive int"):
        tasks.LookupAttention(d_k=0)
    with pytest.raises(ValueError, match="num_values must be an int from 1 to 8"):
        tasks.LookupAttention(num_values=10)


# --- training and scoring -----------------------------------------------------------------------------


def test_weight_on_the_right_key_reads_the_query_rows() -> None:
    weights = torch.tensor([[[1.0, 0.0, 0.0], [0.2, 0.7, 0.1], [0.5, 0.25, 0.25]]])  # (1, 3, 3)
    right_key = torch.tensor([[-1, 2, 0]])
    torch.testing.assert_close(tasks.weight_on_right_key(weights, right_key), torch.tensor([0.1, 0.5]))


def test_training_puts_the_weight_on_the_right_key(trained: tasks.LookupAttention) -> None:
    test = tasks.lookup_batch(200, 4, generator=torch.Generator().manual_seed(99))
    score = tasks.evaluate_lookup(trained, test)
    assert score.weight > 0.9 and score.accuracy > 0.95 and score.chance == 1 / 8 and score.queries == 800
    torch.manual_seed(0)
    untrained = tasks.LookupAttention()
    before = tasks.evaluate_lookup(untrained, test)
    assert before.weight < 2 * before.chance and before.accuracy < 0.3


def test_training_goes_through_the_course_loop_and_is_reproducible() -> None:
    results = []
    for _ in range(2):
        torch.manual_seed(5)
        model = tasks.LookupAttention()
        results.append(tasks.train_lookup(model, steps=5, batch_size=8, seed=5))
    assert results[0].steps == 5 and results[0].stopped_by == "max_epochs"
    assert results[0].losses == results[1].losses
    with pytest.raises(ValueError, match="steps must be a positive int"):
        tasks.train_lookup(tasks.LookupAttention(), steps=0)


def test_evaluation_restores_the_mode_and_needs_a_query(trained: tasks.LookupAttention) -> None:
    model = copy.deepcopy(trained).train()
    tasks.evaluate_lookup(model, tasks.parse_lookup("a3 a?"))
    assert model.training
    with pytest.raises(ValueError, match="no query with a right key"):
        tasks.evaluate_lookup(model, tasks.parse_lookup("a3 b?"))


def test_the_example_is_answered_from_its_pairs(trained: tasks.LookupAttention) -> None:
    batch = tasks.parse_lookup("a3 f5 b7 e0 b? e? a? f?")
    with torch.no_grad():
        logits, trace = trained(batch.keys, batch.values, return_trace=True)
    assert logits[0, 4:].argmax(-1).tolist() == [7, 0, 3, 5]
    assert (tasks.weight_on_right_key(trace.attention.weights, batch.right_key) > 0.9).all()
    assert isinstance(trace.attention, seqlib.attention.AttentionTrace)
