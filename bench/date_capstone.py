r"""Notebook 10's date models over seeds: the Transformer and the GRU with additive attention, 60 CPU seconds each.

Both arms learn the date task of ``seqlib.dates`` (dates as people write them -> ISO 8601) with the same recipe
(``seqlib.course.nb10_capstone_seq2seq.RECIPE``: batches of 64 random training dates in the ten seen
formats, Adam, a cosine schedule, clipping at 1) and the same budget: ``--budget`` seconds (60) of **CPU time of one
thread** (``seqlib.dates.CpuClock``: the process's own CPU seconds, evaluation excluded).  CPU time, not
wall-clock time, because the machine is shared: a wall-clock budget would measure the neighbours' load as much
as the model (on the course's 2-core machine, busy, 60 CPU seconds took 100-140 s of wall-clock time).  Both
are recorded.

1. **Learning-rate sweep** (``--sweep-lrs``, seed 0, each arm): scored on validation dates (1000: 100 per seen
   format), never on the test dates; each arm then uses its best rate (the highest exact match; among rates tied
   there, the lowest final training loss).  Both arms get the same sweep and the same rule.
2. **Full-budget runs** (``--seeds``, each arm): exact match on the held-out test dates in the seen formats
   (2000: 200 per format) and in the unseen formats (400), per format, the steps made, steps per CPU second,
   the validation curve against CPU seconds and, for the Transformer, the share of each output field's
   cross-attention on the same input field (``nb10.analyse``).  Seed 0's Transformer is saved in
   ``data/date_transformer.pt`` (0.35 MB), which notebook 10 loads with
   ``torch.load(..., weights_only=True)`` and re-scores.
3. **Short runs** (``--short-steps``, the Transformer, each seed): the notebook's live recipe, a fixed number of
   steps (deterministic: the notebook's seed-0 run gives the same losses and scores as this one).

Everything goes to ``data/results/date_capstone.json``; the notebook never writes either file.

    .venv/bin/python bench/date_capstone.py                       # bench/out/ (about 15 min on 2 shared cores)
    .venv/bin/python bench/date_capstone.py --replace-shipped     # replaces the two shipped files
    .venv/bin/python bench/date_capstone.py --seeds 0 --budget 5 --sweep-lrs 3e-3 --short-steps 5 --out /tmp/d.json \
        --checkpoint /tmp/d.pt

A default run never replaces the shipped files (``bench/_results.py``): it writes ``bench/out/date_capstone.json``
and ``bench/out/date_transformer.pt``, which git ignores; ``--replace-shipped`` (or ``--out`` / ``--checkpoint``
naming the shipped paths) replaces them on purpose.

The script runs under the course's reproducible environment (``seqlib._determinism.REPRODUCIBLE_ENV``),
re-starting itself with it when it is not set: the short runs' figures are the same on every x86 CPU with the
pinned torch; the full-budget runs depend on how many steps the CPU makes in the budget.
"""

from __future__ import annotations

import os
import sys

# The same digits on every CPU need these before torch is loaded (kept equal to
# seqlib._determinism.REPRODUCIBLE_ENV, checked in main); restart under them if they are missing.
_REPRODUCIBLE = {"MKL_CBWR": "COMPATIBLE", "ATEN_CPU_CAPABILITY": "default"}
if __name__ == "__main__" and any(os.environ.get(k) != v for k, v in _REPRODUCIBLE.items()):
    os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, **_REPRODUCIBLE})

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402

import torch  # noqa: E402
from _results import add_output_options, note, output_paths, write_atomically, write_text  # noqa: E402

import seqlib  # noqa: E402
from seqlib import dates as D  # noqa: E402
from seqlib._determinism import REPRODUCIBLE_ENV  # noqa: E402
from seqlib.course import nb10_capstone_seq2seq as nb10  # noqa: E402
from seqlib.train import TrainingDiverged, TrainRecord  # noqa: E402

SHIPPED = {"out": nb10.RESULTS_PATH, "checkpoint": nb10.CHECKPOINT_PATH}  # the files notebook 10 reads
MAKERS = {"transformer": nb10.make_transformer, "gru": nb10.make_gru}


def _cpu() -> str:
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def train_full(arm: str, seed: int, lr: float, budget: float, eval_every: int,
               validation: D.DateSet | None = None) -> tuple[dict, torch.nn.Module]:
    """One arm, one seed, ``budget`` CPU seconds; scored on the test sets (or only on ``validation``, for the sweep)."""
    model = MAKERS[arm](seed)
    clock = D.CpuClock()
    curve: list[dict] = []

    def progress(record: TrainRecord) -> None:
        curve.append({"step": record.step, "cpu_seconds": round(clock.seconds, 2),
                      "wall_seconds": round(record.seconds, 2), "loss": round(record.train_loss, 5),
                      "exact_match": round(record.metrics["exact_match"], 5)})
        print(f"    {arm} seed {seed} lr {lr:g} step {record.step:5d} cpu {clock.seconds:5.1f} s  loss "
              f"{record.train_loss:.4f}  validation exact match {record.metrics['exact_match']:.4f}", flush=True)

    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    run = {"arm": arm, "seed": seed, "lr": lr, "params": nb10.count_parameters(model),
           "load_before": round(load_before, 2)}
    try:
        training = nb10.train_date_arm(model, seed, cpu_budget_s=budget, lr=lr, eval_every=eval_every,
                                       progress=progress, clock=clock)
    except TrainingDiverged as err:
        print(f"  {arm} seed {seed} lr {lr:g}: diverged at step {err.step}", flush=True)
        return {**run, "diverged": True, "steps": err.step, "exact_match_validation": 0.0, "curve": curve}, model
    run.update({"diverged": False, "steps": training.result.steps, "cpu_seconds": round(training.cpu_seconds, 2),
                "train_wall_seconds": round(training.result.seconds, 2),
                "wall_seconds": round(time.perf_counter() - started, 1), "curve": curve})
    if validation is not None:
        run["exact_match_validation"] = D.exact_match_score(model, validation)
    else:
        run.update(scores(model))
    run["load_after"] = round(os.getloadavg()[0], 2)
    shown = {k: round(v, 4) for k, v in run.items() if k.startswith("exact_match")}
    print(f"  {arm} seed {seed} lr {lr:g}: {run['steps']} steps in {run['cpu_seconds']} CPU s "
          f"({run['wall_seconds']} s wall), {shown}", flush=True)
    return run, model


def scores(model: torch.nn.Module) -> dict:
    """Exact match on the test sets (seen and unseen formats), per format, and (Transformer) the field attention."""
    sets = nb10.evaluation_sets()
    seen, unseen = nb10.analyse(model, sets.seen), nb10.analyse(model, sets.unseen)
    found = {"exact_match_seen": seen.exact_match, "exact_match_unseen": unseen.exact_match,
             "per_format": {name: report.exact_match for name, report in {**seen.reports, **unseen.reports}.items()},
             "wrong_seen": sum(len(report.wrong) for report in seen.reports.values())}
    if seen.attention is not None:
        found["field_attention"] = {field: {"share": [[round(float(v), 4) for v in row]
                                                      for row in seen.attention.share[field]],
                                            "head_average": [round(float(v), 4)
                                                             for v in seen.attention.head_average[field]],
                                            "uniform": round(seen.attention.uniform[field], 4)}
                                    for field in D.ISO_FIELDS}
    return found


def train_short(seed: int, steps: int, lr: float) -> dict:
    """The notebook's live run (``nb10.train_transformer(seed, max_steps=steps)``), scored on the test sets."""
    started = time.perf_counter()
    model, training = nb10.train_transformer(seed, max_steps=steps, lr=lr)
    run = {"seed": seed, "steps": steps, "lr": lr, "cpu_seconds": round(training.cpu_seconds, 2),
           "wall_seconds": round(time.perf_counter() - started, 1),
           "curve": [{"step": r.step, "loss": r.train_loss, "exact_match": r.metrics["exact_match"]}
                     for r in training.result.history]}
    run.update(scores(model))
    print(f"  short seed {seed}: {steps} steps in {run['cpu_seconds']} CPU s, seen {run['exact_match_seen']:.4f}, "
          f"unseen {run['exact_match_unseen']:.4f}", flush=True)
    return run


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--budget", type=float, default=nb10.FULL_BUDGET_S, help="CPU seconds of training per run")
    parser.add_argument("--sweep-lrs", nargs="+", type=float, default=[1e-3, 3e-3, 1e-2])
    parser.add_argument("--short-steps", type=int, default=nb10.SHORT_STEPS)
    parser.add_argument("--eval-every", type=int, default=50, help="steps between two points of a curve")
    add_output_options(parser, SHIPPED)
    args = parser.parse_args(argv)
    paths = output_paths(parser, args, SHIPPED)
    assert _REPRODUCIBLE == REPRODUCIBLE_ENV, "keep _REPRODUCIBLE equal to seqlib._determinism.REPRODUCIBLE_ENV"

    seqlib.seed_everything(0)  # one thread
    print(f"torch {torch.__version__}, 1 thread, load average {os.getloadavg()[0]:.2f}", flush=True)
    started = time.perf_counter()
    split = D.date_split()
    validation = D.date_set(split.validation, D.SEEN_FORMATS, 100, seed=1)
    sweep, best = [], {}
    for arm in MAKERS:
        for lr in args.sweep_lrs:
            run, _ = train_full(arm, args.seeds[0], lr, args.budget, args.eval_every, validation)
            sweep.append(run)
        mine = [run for run in sweep if run["arm"] == arm]
        # the highest validation exact match; a tie (several at 1.0) goes to the lowest final training loss
        best[arm] = max(mine, key=lambda run: (run["exact_match_validation"], -run["curve"][-1]["loss"]))["lr"]
    print(f"learning rates: {best}", flush=True)
    runs, saved = [], None
    for arm in MAKERS:
        for seed in args.seeds:
            run, model = train_full(arm, seed, best[arm], args.budget, args.eval_every)
            runs.append(run)
            if arm == "transformer" and seed == args.seeds[0]:
                saved = (model, run)
    short = [train_short(seed, args.short_steps, best["transformer"]) for seed in args.seeds]
    minutes = (time.perf_counter() - started) / 60
    sets = nb10.evaluation_sets()
    results = {
        "settings": {
            "command": "python bench/date_capstone.py " + " ".join(argv if argv is not None else sys.argv[1:]),
            "torch": torch.__version__, "python": platform.python_version(), "threads": 1, "cpu": _cpu(),
            "cpu_count": os.cpu_count(), "environment": REPRODUCIBLE_ENV, "wall_minutes": round(minutes, 1),
            "seeds": args.seeds, "budget_cpu_seconds": args.budget, "short_steps": args.short_steps,
            "eval_every": args.eval_every, "sweep_lrs": args.sweep_lrs, "learning_rates": best,
            "recipe": nb10.RECIPE, "transformer": nb10.TRANSFORMER, "gru": nb10.GRU_BASELINE,
            "sets": {"sweep_validation": len(validation), "test_seen": len(sets.seen), "test_unseen": len(sets.unseen),
                     "curve_validation": len(sets.monitor)},
            "budget_note": "CPU seconds of the process's one thread (seqlib.dates.CpuClock), evaluation excluded; "
                           "wall-clock seconds are recorded beside them",
        },
        "sweep": sweep,
        "runs": runs,
        "short": short,
    }
    written = {"out": paths["out"]}
    if saved is not None:
        model, run = saved
        meta = {"arm": "transformer", "seed": run["seed"], "lr": run["lr"], "steps": run["steps"],
                "cpu_seconds": run["cpu_seconds"], "exact_match_seen": run["exact_match_seen"]}
        write_atomically(paths["checkpoint"], lambda path: nb10.save_checkpoint(path, model, meta))
        print(f"checkpoint: {paths['checkpoint'].stat().st_size / 1e6:.2f} MB")
        written["checkpoint"] = paths["checkpoint"]
    write_text(paths["out"], json.dumps(results, indent=1, sort_keys=True) + "\n")
    print(f"{minutes:.1f} min; {note(written, {k: SHIPPED[k] for k in written})}")
    return results


if __name__ == "__main__":
    main()
