"""Notebook 02's character RNN, trained with other seeds: does what the notebook says about seed 0 hold?

Every run is the notebook's own (``notebooks/02_rnn.ipynb``, section 3), changed only in the seed:

* data: *The Time Machine* as characters (``seqlib.data.load_corpus("char")``), first 90 % train, last
  10 % validation (``split_sequence(corpus, val_fraction=0.1)``);
* model: ``torch.manual_seed(seed)``, then ``make_language_model("rnn", V, hidden_size=256, embedding_dim=32)``;
* training: ``train_language_model(model, train, val, batch_size=32, num_steps=35, lr=1e-2,
  lr_schedule="cosine", clip=1.0, max_steps=1200, eval_every=240, generator=torch.Generator().manual_seed(seed))``
  (Adam, the one loop ``seqlib.train.train``);
* score: the validation curve the loop records, and at the end the leaderboard's protocol,
  ``evaluate_perplexity(model, standard_split().val)``, as the notebook scores its model.

Arm ``notebook`` is exactly that; arm ``long`` is the same with ``--long-steps`` steps (the cosine schedule
stretched over them, an evaluation every fifth of the run), to see whether more training changes the
ranking against the 5-gram.  Seed 0 of arm ``notebook`` is the notebook's own run: the notebook asserts
that its curve equals the file's.

It runs under the reproducible environment (``MKL_CBWR=COMPATIBLE ATEN_CPU_CAPABILITY=default``, see
``seqlib/_determinism.py``), which must be set before torch loads: when it is missing the script starts
itself again with it.  One thread, deterministic algorithms (``seqlib.seed_everything``).

    .venv/bin/python bench/rnn_lm_seeds.py                    # writes bench/out/rnn_lm_seeds.json (scratch)
    .venv/bin/python bench/rnn_lm_seeds.py --replace-shipped  # replaces the shipped data/results/rnn_lm_seeds.json
    .venv/bin/python bench/rnn_lm_seeds.py --seeds 0 --long-steps 0 --out /tmp/seed0.json

A default run never replaces the shipped file (``bench/_results.py``): it writes ``bench/out/``, which git
ignores; ``--replace-shipped`` (or ``--out data/results/rnn_lm_seeds.json``) replaces it on purpose.

The file records the settings, the command, the torch and Python versions, the environment, every run's
validation and training curves and final perplexities, seconds per run and the total wall time (only the
times depend on the machine).  Measured on the course's 2-core CPU shared with other jobs: about 1 min per
1200-step run.  The notebook reads it with ``seqlib.course.nb02_rnn.load_seed_runs`` and never writes it.
"""

from __future__ import annotations

import os
import sys

from seqlib._determinism import REPRODUCIBLE_ENV, reproducible_env

if any(os.environ.get(name) != value for name, value in REPRODUCIBLE_ENV.items()):
    # the variables act only if set before torch loads (it already has, above): start again with them
    os.execve(sys.executable, [sys.executable, *sys.argv], {**reproducible_env(), **REPRODUCIBLE_ENV})

import argparse  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402

import torch  # noqa: E402
from _results import add_output_options, note, output_paths, write_text  # noqa: E402

import seqlib  # noqa: E402
from seqlib.course.leaderboard import standard_split  # noqa: E402
from seqlib.course.nb02_rnn import SEEDS_PATH, SeedRuns  # noqa: E402
from seqlib.data import load_corpus, split_sequence  # noqa: E402
from seqlib.language_models import evaluate_perplexity, make_language_model, train_language_model  # noqa: E402

SHIPPED = {"out": SEEDS_PATH}  # the file notebook 02 reads
MODEL = {"kind": "rnn", "hidden_size": 256, "embedding_dim": 32}
TRAINING = {
    "batch_size": 32, "num_steps": 35, "lr": 1e-2, "lr_schedule": "cosine", "clip": 1.0,
    "max_steps": 1200, "eval_every": 240,
}


def train_one(seed: int, max_steps: int, eval_every: int, train_ids, val_ids, vocab_size: int) -> dict:
    """One run of the notebook's model and settings with ``seed`` (model weights and batch offsets)."""
    torch.manual_seed(seed)  # the model's initial weights, as the notebook's torch.manual_seed(0)
    model = make_language_model(MODEL["kind"], vocab_size, MODEL["hidden_size"], embedding_dim=MODEL["embedding_dim"])
    settings = {**TRAINING, "max_steps": max_steps, "eval_every": eval_every}
    start = time.perf_counter()
    result = train_language_model(model, train_ids, val_ids, **settings, generator=torch.Generator().manual_seed(seed))
    seconds = time.perf_counter() - start
    return {
        "seed": seed,
        "max_steps": max_steps,
        "steps": [record.step for record in result.history],
        "val_perplexity": [record.val_perplexity for record in result.history],
        "train_perplexity": [record.train_perplexity for record in result.history],
        "final_val_perplexity": result.val_perplexity,
        "leaderboard_val_perplexity": evaluate_perplexity(model, standard_split().val),
        "parameters": sum(p.numel() for p in model.parameters()),
        "seconds": round(seconds, 1),
    }


def main(argv: list[str] | None = None) -> SeedRuns:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--long-steps", type=int, default=4800, help="steps of arm 'long' (0: no long arm)")
    add_output_options(parser, SHIPPED)
    args = parser.parse_args(argv)
    out = output_paths(parser, args, SHIPPED)["out"]

    seqlib.seed_everything(0)  # one thread, deterministic algorithms, as the notebook's first cell
    corpus, vocab = load_corpus("char")
    train_ids, val_ids = split_sequence(corpus, val_fraction=0.1)
    arms = {"notebook": (TRAINING["max_steps"], TRAINING["eval_every"])}
    if args.long_steps:
        arms["long"] = (args.long_steps, args.long_steps // 5)
    print(
        f"notebook 02's RNN: seeds {args.seeds}, arms {arms} (max_steps, eval_every); torch {torch.__version__}, "
        f"{torch.get_num_threads()} thread, {' '.join(f'{k}={os.environ[k]}' for k in REPRODUCIBLE_ENV)}, "
        f"load average {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    runs: list[dict] = []
    started = time.perf_counter()
    for arm, (max_steps, eval_every) in arms.items():
        for seed in args.seeds:
            run = {"arm": arm, **train_one(seed, max_steps, eval_every, train_ids, val_ids, len(vocab))}
            runs.append(run)
            curve = " ".join(f"{p:.3f}" for p in run["val_perplexity"])
            print(
                f"  {arm:8s} seed {seed}  val ppl {curve}  leaderboard {run['leaderboard_val_perplexity']:.3f}"
                f"  ({run['seconds']:.0f} s)",
                flush=True,
            )
    minutes = (time.perf_counter() - started) / 60
    results = SeedRuns(
        settings={
            "data": "seqlib.data.load_corpus('char'); split_sequence(corpus, val_fraction=0.1)",
            "model": {**MODEL, "vocab_size": len(vocab), "parameters": runs[0]["parameters"]},
            "training": {**TRAINING, "optimizer": "Adam (seqlib.train.train's default)"},
            "arms": {arm: {"max_steps": steps, "eval_every": every} for arm, (steps, every) in arms.items()},
            "seeding": (
                "seqlib.seed_everything(0) once (1 thread, deterministic algorithms); per run torch.manual_seed(seed) "
                "before the model is made and torch.Generator().manual_seed(seed) for the batches' offsets"
            ),
            "leaderboard_protocol": "evaluate_perplexity(model, standard_split().val): 64 streams, 50 steps a chunk",
            "environment": {name: os.environ[name] for name in REPRODUCIBLE_ENV},
            "command": " ".join(["python bench/rnn_lm_seeds.py", *(argv if argv is not None else sys.argv[1:])]),
            "torch": torch.__version__,
            "python": platform.python_version(),
            "threads": torch.get_num_threads(),
            "wall_minutes": round(minutes, 1),
        },
        runs=runs,
    )
    write_text(out, results.to_json())
    print(f"{minutes:.1f} min; {note({'out': out}, SHIPPED)}")
    return results


if __name__ == "__main__":
    main()
