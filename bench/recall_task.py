"""The recall task, measured: accuracy of RNN, LSTM and GRU on a recall task, against the lag L.

The task (``seqlib.recall_task.marked_recall_task``): random letters (V = 4), one of them
marked after 5 random letters; the network must name the marked letter L steps later.  Chance is
0.25.  Every model gets the same parameter budget (~5,000: the RNN gets more units than the gated
models), Adam with each learning rate of ``--lrs`` (the notebook reads each model at its best one,
chosen on *validation* accuracy), gradient clipping at global norm 1, batches of 128 fresh
sequences, at most ``--max-steps`` steps (a run stops early once its validation accuracy reaches
0.99), and is scored on 2,000 test sequences.  Every (model, L, learning rate) is run with every seed.

    .venv/bin/python bench/recall_task.py                     # writes bench/out/recall_task.json (scratch)
    .venv/bin/python bench/recall_task.py --replace-shipped   # replaces the shipped data/results/recall_task.json
    .venv/bin/python bench/recall_task.py --lags 10 40 --seeds 0 --out /tmp/quick.json

A default run never replaces the shipped file (``bench/_results.py``): it writes ``bench/out/``, which git
ignores; ``--replace-shipped`` (or ``--out data/results/recall_task.json``) replaces it on purpose.

Arms: ``rnn``; ``lstm`` and ``gru`` with torch's default initialisation (every gate starts near
σ(0) = 0.5); ``lstm-chrono`` and ``gru-chrono`` with the keep gate initialised open (chrono
initialisation, Tallec & Ollivier 2018: b_f ~ log U(1, L), and b_i = -b_f for the LSTM); ``rnn-identity``
with the plain RNN's best start, W_hh = I (ρ = 1; it knows no lag, while chrono is told L + 1: the gated
arms get that extra help, and the notebook says so).

A second, small grid (``--first-letter-lags``) repeats the naive version of the task: the letter to
recall is the *first* one (prefix 0), so the state is still at h_0 = 0 when it arrives.  It shows why
a naive run can make a plain RNN look good at long lags (see the module docstring of
``seqlib.recall_task``).

The file records every setting, the command, the torch version, every run (accuracy, validation
accuracy, steps, seconds) and the total wall-clock time; only the times depend on the machine.
Measured on a 2-core CPU shared with other jobs, 1 thread: about 10-20 minutes.  The notebook
``03_long_term_dependencies`` plots it and asserts what it shows.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from dataclasses import asdict

import torch
from _results import add_output_options, note, output_paths, write_text

import seqlib
from seqlib.course.nb03_long_term_dependencies import RESULTS_PATH, RecallTaskResults
from seqlib.recall_task import ARMS, RecallSettings, train_recall

SHIPPED = {"out": RESULTS_PATH}  # the file notebook 03 reads


def main(argv: list[str] | None = None) -> RecallTaskResults:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arms", nargs="+", choices=list(ARMS),
                        default=["rnn", "rnn-identity", "lstm", "gru", "lstm-chrono", "gru-chrono"])
    parser.add_argument("--lags", nargs="+", type=int, default=[5, 10, 20, 40, 80])
    parser.add_argument("--lrs", nargs="+", type=float, default=[3e-3, 1e-2], help="Adam learning rates to try")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--max-steps", type=int, default=600)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--budget", type=int, default=5000, help="parameters per model")
    parser.add_argument("--prefix", type=int, default=5, help="random letters before the marked one")
    parser.add_argument("--first-letter-arms", nargs="*", default=["rnn", "lstm", "lstm-chrono"], choices=list(ARMS))
    parser.add_argument("--first-letter-lags", nargs="*", type=int, default=[40])
    parser.add_argument("--first-letter-lr", type=float, default=1e-2)
    parser.add_argument("--threads", type=int, default=1)
    add_output_options(parser, SHIPPED)
    args = parser.parse_args(argv)
    out = output_paths(parser, args, SHIPPED)["out"]

    seqlib.seed_everything(0, threads=args.threads)
    template = RecallSettings("rnn", 1, max_steps=args.max_steps, batch_size=args.batch, parameter_budget=args.budget)
    shared = {k: v for k, v in asdict(template).items() if k not in ("kind", "lag", "gate_init", "lr", "prefix")}
    print(
        f"marked recall: V={template.vocab_size}, lags {args.lags}, prefix {args.prefix}, learning rates {args.lrs}, "
        f"seeds {args.seeds}; Adam, batch {args.batch}, clip {template.clip}, <= {args.max_steps} steps (stop at "
        f"validation accuracy {template.stop_at_accuracy}), ~{args.budget} parameters; torch {torch.__version__}, "
        f"{args.threads} thread(s), load average {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    grid = [(arm, lag, lr, args.prefix) for lag in args.lags for arm in args.arms for lr in args.lrs]
    grid += [(arm, lag, args.first_letter_lr, 0) for lag in args.first_letter_lags for arm in args.first_letter_arms]
    runs: list[dict] = []
    started = time.perf_counter()
    for arm, lag, lr, prefix in grid:
        kind, gate_init = ARMS[arm]
        for seed in args.seeds:
            settings = RecallSettings(
                kind, lag, gate_init, lr, args.max_steps, args.batch, parameter_budget=args.budget, prefix=prefix
            )
            run, _ = train_recall(settings, seed)
            runs.append({
                "arm": arm, "kind": kind, "gate_init": gate_init, "lag": lag, "lr": lr, "prefix": prefix,
                "seed": seed, "accuracy": round(run.accuracy, 4), "val_accuracy": run.history[-1][2],
                "steps": run.steps, "hidden_size": run.hidden_size, "parameters": run.parameters,
                "seconds": round(run.seconds, 1),
            })
            print(
                f"  prefix {prefix}  L={lag:3d}  {arm:12s} lr {lr:g}  seed {seed}  accuracy {run.accuracy:.3f}  "
                f"steps {run.steps:4d}  ({run.seconds:5.1f} s)",
                flush=True,
            )
    minutes = (time.perf_counter() - started) / 60
    results = RecallTaskResults(
        settings={
            **shared,
            "task": "marked recall (seqlib.recall_task.marked_recall_task)",
            "chance": 1 / template.vocab_size,
            "lrs": list(args.lrs),
            "lr_selection": "per arm and lag, the lr with the best mean validation accuracy over seeds",
            "command": "python bench/recall_task.py " + " ".join(argv if argv is not None else sys.argv[1:]),
            "torch": torch.__version__,
            "python": platform.python_version(),
            "threads": args.threads,
            "wall_minutes": round(minutes, 1),
        },
        runs=runs,
    )
    print(f"\ntest accuracy at each arm's best learning rate, per seed {args.seeds} (chance 0.25); {minutes:.1f} min")
    tables = [(args.prefix, args.lags, args.arms), (0, args.first_letter_lags, args.first_letter_arms)]
    for prefix, lags, arms in tables:
        if not lags:
            continue
        print(f"prefix {prefix}: " + " | ".join(f"L={lag}" for lag in lags))
        for arm in arms:
            cells = []
            for lag in lags:
                accuracy = results.accuracies(arm, lag, prefix)
                cells.append(f"{results.best_lr(arm, lag, prefix):g}: " + " ".join(f"{a:.2f}" for a in accuracy))
            print(f"  {arm:12s} " + " | ".join(cells))
    write_text(out, results.to_json())
    print(note({"out": out}, SHIPPED))
    return results


if __name__ == "__main__":
    main()
