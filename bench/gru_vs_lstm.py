"""GRU against LSTM (and RNN), measured: character language models at equal time and at equal size.

The source notes claim "LSTM보다 파라미터 수가 적기 때문에 일반적으로 성능이 좋은 경우가 많다" (with fewer
parameters than the LSTM, the GRU often performs better).  This script trains character language models on
the leaderboard's data (``seqlib.course.leaderboard.standard_split()``: *The Time Machine*, letters and
spaces, last 10 % held out) in two fair settings, with every seed of ``--seeds``:

* **time** — equal wall-clock training time: RNN, GRU and LSTM with the same hidden size (``--time-hidden``,
  256 as notebook 02's RNN), each trained for ``--budget`` seconds.  At equal width the GRU has 3/4 of the
  LSTM's recurrent parameters and a cheaper step, so it gets more steps in the same time: this is the
  notes' "fewer parameters" in practice.
* **params** — equal parameter counts: the whole language model (embedding, recurrent layer, head) held to
  notebook 02's RNN (H = 256, 82,332 parameters): the GRU and the LSTM get the largest hidden size that
  does not exceed it (``seqlib.course.nb05_gru.hidden_size_for_budget``), and every model is trained for
  the same number of steps (``--steps``), so each sees the same text.  The GRU in the paper's form
  (Cho et al. 2014, ``nb05_gru.PaperGRU``; the reset gate applied to h_{t-1} before W_hn) is trained
  beside torch's form with the same initial weights (arm ``gru-paper``).

Everything else is notebook 02's recipe, the same for every arm: embedding 32, Adam with learning rate
0.01 on a cosine to 5 % over the budget (seconds or steps), gradient clipping at global norm 1, 32 streams
read 35 characters at a time (truncated BPTT), no dropout, torch's default initialisation.  The learning
rate is not tuned per model (one value for all, the course's).  Validation perplexity is measured every
``--eval-every`` steps and at the end with ``evaluate_perplexity(model, split.val)`` (the leaderboard's
protocol); evaluation time is not counted in the budget.

Wall-clock budgets depend on the machine and its load: a slower or busier machine gives every model
fewer steps.  To keep the comparison fair on a shared machine the arms are interleaved (for each seed,
the three models run one after another, in a rotated order) and every run records its steps, its
seconds and the load average before and after.  Run it with one thread, without the reproducible-digits
environment (its matrix products are about twice as slow)::

    env -u MKL_CBWR -u ATEN_CPU_CAPABILITY .venv/bin/python bench/gru_vs_lstm.py   # bench/out/gru_vs_lstm.json
    env -u MKL_CBWR -u ATEN_CPU_CAPABILITY .venv/bin/python bench/gru_vs_lstm.py --replace-shipped
                                                          # replaces the shipped data/results/gru_vs_lstm.json
    env -u MKL_CBWR -u ATEN_CPU_CAPABILITY .venv/bin/python bench/gru_vs_lstm.py --seeds 0 --budget 3 --steps 20 \\
        --out /tmp/gru_vs_lstm.json                                                    # a smoke test

A default run never replaces the shipped file (``bench/_results.py``): it writes ``bench/out/``, which git
ignores; ``--replace-shipped`` (or ``--out data/results/gru_vs_lstm.json``) replaces it on purpose.

Measured on the course's 2-core CPU, 1 thread, shared with other jobs (load average 4-6): 19 minutes, of which
4.5 are the 'time' setting's 9 x 30 s; on a quiet machine the 'params' runs take about half as long.  Notebook
``05_gru`` reads the file, prints the tables and asserts what it states.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import time
from pathlib import Path

import torch
from _results import add_output_options, note, output_paths, write_text

import seqlib
from seqlib.course.leaderboard import standard_split
from seqlib.course.nb05_gru import (
    RESULTS_PATH,
    GruVsLstmResults,
    PaperGRU,
    hidden_size_for_budget,
    language_model_parameters,
)
from seqlib.language_models import RNNLanguageModel, evaluate_perplexity, make_language_model, train_language_model
from seqlib.train import TrainRecord

SHIPPED = {"out": RESULTS_PATH}  # the file notebook 05 reads
KINDS = {"rnn": "rnn", "gru": "gru", "lstm": "lstm", "gru-paper": "gru"}


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _build(arm: str, vocab_size: int, hidden_size: int, embedding_dim: int) -> RNNLanguageModel:
    model = make_language_model(KINDS[arm], vocab_size, hidden_size, embedding_dim=embedding_dim)
    if arm == "gru-paper":  # the same initial weights as torch's form, only the candidate differs
        model.recurrent = PaperGRU.from_gru(model.recurrent)
    return model


def train_one(setting: str, arm: str, hidden_size: int, seed: int, args: argparse.Namespace) -> dict:
    split = standard_split()
    V = len(split.vocab)
    seqlib.seed_everything(seed, threads=args.threads)
    torch.use_deterministic_algorithms(False)  # wall-clock budgets are not bitwise reproducible anyway
    model = _build(arm, V, hidden_size, args.embedding)
    params = sum(p.numel() for p in model.parameters())
    assert params == language_model_parameters(KINDS[arm], V, args.embedding, hidden_size)
    budget = {"time_budget_s": args.budget} if setting == "time" else {"max_steps": args.steps}
    curve: list[dict] = []
    started, load_before = time.perf_counter(), os.getloadavg()[0]

    def record(point: TrainRecord) -> None:
        curve.append({
            "step": point.step,
            "seconds": round(point.seconds, 3),
            "val_perplexity": point.val_perplexity,
            "train_perplexity": point.train_perplexity,
        })

    result = train_language_model(
        model,
        split.train,
        split.val,
        batch_size=args.batch,
        num_steps=args.num_steps,
        lr=args.lr,
        lr_schedule="cosine",
        clip=args.clip,
        eval_every=args.eval_every,
        progress=record,
        generator=torch.Generator().manual_seed(seed),
        **budget,
    )
    val_perplexity = evaluate_perplexity(model, split.val)  # the leaderboard's protocol
    run = {
        "setting": setting,
        "arm": arm,
        "kind": KINDS[arm],
        "form": "paper" if arm == "gru-paper" else "torch",
        "hidden_size": hidden_size,
        "params": params,
        "recurrent_params": sum(p.numel() for p in model.recurrent.parameters()),
        "seed": seed,
        "budget": budget,
        "steps": result.steps,
        "epochs": round(result.epochs, 4),
        "train_seconds": round(result.seconds, 3),
        "wall_seconds": round(time.perf_counter() - started, 3),
        "stopped_by": result.stopped_by,
        "load_before": round(load_before, 2),
        "load_after": round(os.getloadavg()[0], 2),
        "curve": curve,
        "val_perplexity": val_perplexity,
    }
    print(
        f"{setting:6s} {arm:9s} H={hidden_size:3d} seed {seed}: {result.steps:5d} steps in {result.seconds:5.1f} s, "
        f"val ppl {val_perplexity:.3f}  (load {run['load_before']:.1f} -> {run['load_after']:.1f})",
        flush=True,
    )
    return run


def main(argv: list[str] | None = None) -> GruVsLstmResults:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settings", nargs="+", choices=["time", "params"], default=["time", "params"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--budget", type=float, default=30.0, help="training seconds per run (setting 'time')")
    parser.add_argument("--time-hidden", type=int, default=256, help="hidden size of every model (setting 'time')")
    parser.add_argument("--steps", type=int, default=1200, help="optimizer steps per run (setting 'params')")
    parser.add_argument("--anchor-hidden", type=int, default=256,
                        help="the RNN's hidden size whose parameter count the others match (setting 'params')")
    parser.add_argument("--paper", action=argparse.BooleanOptionalAction, default=True,
                        help="also train the paper-form GRU (setting 'params')")
    parser.add_argument("--embedding", type=int, default=32)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--num-steps", type=int, default=35, help="BPTT truncation length")
    parser.add_argument("--lr", type=float, default=1e-2)
    parser.add_argument("--clip", type=float, default=1.0)
    parser.add_argument("--eval-every", type=int, default=100)
    parser.add_argument("--threads", type=int, default=1)
    add_output_options(parser, SHIPPED)
    args = parser.parse_args(argv)
    out = output_paths(parser, args, SHIPPED)["out"]
    if os.environ.get("MKL_CBWR"):
        print(f"note: MKL_CBWR={os.environ['MKL_CBWR']} makes matrix products about 2x slower; "
              "the time budget then buys fewer steps (run with `env -u MKL_CBWR -u ATEN_CPU_CAPABILITY`)")

    split = standard_split()
    V, E = len(split.vocab), args.embedding
    budget_params = language_model_parameters("rnn", V, E, args.anchor_hidden)
    hidden = {
        "time": {arm: args.time_hidden for arm in ("rnn", "gru", "lstm")},
        "params": {arm: hidden_size_for_budget(KINDS[arm], budget_params, E, vocab_size=V)
                   for arm in ("rnn", "gru", "lstm") + (("gru-paper",) if args.paper else ())},
    }
    described = {
        "time": {
            "title": f"equal time: {args.budget:g} s of training each, H = {args.time_hidden}",
            "time_budget_s": args.budget,
            "hidden_sizes": hidden["time"],
            "what": "every model gets the same wall-clock training seconds and the same hidden size",
        },
        "params": {
            "title": f"equal parameters: ≤ {budget_params:,} each, {args.steps} steps",
            "max_steps": args.steps,
            "parameter_budget": budget_params,
            "hidden_sizes": hidden["params"],
            "what": "every model has at most the parameters of notebook 02's RNN (H = "
                    f"{args.anchor_hidden}) and trains for the same number of steps",
        },
    }
    print(f"torch {torch.__version__}, {args.threads} thread(s), {_cpu_model()}, load {os.getloadavg()[0]:.2f}")
    for setting in args.settings:
        print(f"{setting}: {described[setting]['title']}; hidden sizes {hidden[setting]}")

    started = time.perf_counter()
    runs = []
    for seed in args.seeds:
        for setting in args.settings:
            arms = list(hidden[setting])
            k = seed % len(arms)
            for arm in arms[k:] + arms[:k]:  # rotate the order per seed: load drifts hit every arm alike
                runs.append(train_one(setting, arm, hidden[setting][arm], seed, args))

    settings = {
        "claim": "LSTM보다 파라미터 수가 적기 때문에 일반적으로 성능이 좋은 경우가 많다 (GRU: fewer parameters than "
                 "the LSTM, so often better)",
        "data": "seqlib.course.leaderboard.standard_split(): The Time Machine, letters and spaces (V = 28), "
                "first 90 % train, last 10 % validation",
        "score": "evaluate_perplexity(model, standard_split().val): validation perplexity per character",
        "settings": {name: described[name] for name in args.settings},
        "seeds": args.seeds,
        "embedding_dim": E,
        "batch_size": args.batch,
        "num_steps": args.num_steps,
        "optimizer": f"Adam, lr {args.lr} on a cosine to 5 % over the budget, clip {args.clip}",
        "dropout": 0.0,
        "initialisation": "torch's default, U(-1/sqrt(H), 1/sqrt(H)); gru-paper starts from the GRU's weights",
        "eval_every": args.eval_every,
        "order": "for each seed and setting, the arms one after another, the order rotated by the seed",
        "machine_note": "wall-clock budgets depend on the machine and its load: a slower or busier CPU gives "
                        "every model fewer steps in the 'time' setting (each run records its steps and the "
                        "load average); the 'params' setting counts steps and does not depend on the machine "
                        "beyond the last digits",
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "threads": args.threads,
        "mkl_cbwr": os.environ.get("MKL_CBWR", ""),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "date": datetime.date.today().isoformat(),
        "total_wall_seconds": round(time.perf_counter() - started, 1),
    }
    results = GruVsLstmResults(settings, runs)
    for setting in args.settings:
        print(f"\n{described[setting]['title']}\n{results.table(setting)}")
    print(f"\ntotal {settings['total_wall_seconds']:.0f} s")
    write_text(out, results.to_json())
    print(note({"out": out}, SHIPPED))
    return results


if __name__ == "__main__":
    main()
