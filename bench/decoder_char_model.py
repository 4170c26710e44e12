"""Notebook 09's decoder-only (GPT-style) character model on the leaderboard, trained over seeds with the LSTM's budget.

The model is ``seqlib.decoder_models.DecoderLanguageModel``: d_model 64, 4 heads, 2 pre-norm layers with a
feed-forward width of 192, sinusoidal positions, a context of 35 characters — 87,196 parameters, about the
leaderboard LSTM's 87,452 (notebook 04).  It is trained with **the LSTM's budget and recipe** (notebook 02's):
the same chunks of the same text in the same order (``lm_batches(train, 32, 35, sequential=True)`` with the
seed's generator), Adam, a cosine schedule to 5 %, clipping at 1, 1200 steps; what differs is that each
35-character chunk is one window read from scratch (the LSTM carries its state from chunk to chunk).  It is
scored by the leaderboard's protocol, ``evaluate_perplexity(model, standard_split().val)``, reading the
validation text in windows that slide (every prediction sees 19 to 35 characters; see the model's docstring).

The learning rate: notebook 02's 0.01 was chosen for the recurrent models.  ``--sweep`` first trains seed 0 of
*both* models, the GPT and the LSTM (H = 128, notebook 04's), at each learning rate of ``--sweep-lrs`` with
the full budget and records their validation perplexities; each model is then trained over ``--seeds`` at
its own best rate (the LSTM's rows are in ``data/results/lstm_char_model.json``, trained at 0.01; if the
sweep finds another rate better for it, the file says so and the LSTM is retrained here at that rate).  The
sweep reads the validation text, as the leaderboard's choices always have: both models get the same
help.

Seed 0's GPT is saved in ``data/decoder_char_model.pt`` (float32, about 0.35 MB), which notebook 09 loads
with ``torch.load(..., weights_only=True)`` and re-scores; every run's figures go to
``data/results/decoder_char_model.json``.  The notebook never writes either file.

    .venv/bin/python bench/decoder_char_model.py --sweep               # bench/out/ (12-17 min, 2 shared cores)
    .venv/bin/python bench/decoder_char_model.py --sweep --replace-shipped   # replaces the two shipped files
    .venv/bin/python bench/decoder_char_model.py --seeds 0 --steps 20 --out /tmp/d.json --checkpoint /tmp/d.pt

A default run never replaces the shipped files (``bench/_results.py``): it writes
``bench/out/decoder_char_model.json`` and ``bench/out/decoder_char_model.pt``, which git ignores;
``--replace-shipped`` (or ``--out`` / ``--checkpoint`` naming the shipped paths) replaces them on purpose.

The script runs under the course's reproducible environment (``seqlib._determinism.REPRODUCIBLE_ENV``),
re-starting itself with it when it is not set, so every figure except the seconds is the same on every x86 CPU
with the pinned torch.
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
from seqlib._determinism import REPRODUCIBLE_ENV  # noqa: E402
from seqlib.course import nb09_decoder_and_masks as nb09  # noqa: E402
from seqlib.course.leaderboard import standard_split  # noqa: E402
from seqlib.decoder_models import count_parameters, train_decoder_language_model  # noqa: E402
from seqlib.language_models import evaluate_perplexity, make_language_model, train_language_model  # noqa: E402
from seqlib.train import TrainRecord  # noqa: E402

SHIPPED = {"out": nb09.RESULTS_PATH, "checkpoint": nb09.CHECKPOINT_PATH}  # the files notebook 09 reads
LSTM = {"hidden_size": 128, "embedding_dim": 32}  # notebook 04's leaderboard LSTM
RECIPE = {"batch_size": 32, "num_steps": 35, "lr_schedule": "cosine", "clip": 1.0}  # notebook 02's, lr aside


def train_arm(arm: str, seed: int, lr: float, steps: int, eval_every: int) -> tuple[dict, torch.nn.Module]:
    split = standard_split()
    torch.manual_seed(seed)  # the initial weights
    if arm == "gpt":
        model = nb09.make_char_decoder(len(split.vocab))
        trainer = train_decoder_language_model
    else:
        model = make_language_model("lstm", len(split.vocab), LSTM["hidden_size"], embedding_dim=LSTM["embedding_dim"])
        trainer = train_language_model

    def progress(record: TrainRecord) -> None:
        print(f"    {arm} seed {seed} lr {lr:g} step {record.step:5d}  train ppl {record.train_perplexity:6.3f}  "
              f"val ppl {record.val_perplexity:6.3f}", flush=True)

    started = time.perf_counter()
    result = trainer(model, split.train, split.val, **RECIPE, lr=lr, max_steps=steps, eval_every=eval_every,
                     progress=progress, generator=torch.Generator().manual_seed(seed))
    seconds = time.perf_counter() - started
    perplexity = evaluate_perplexity(model, split.val)  # the leaderboard's protocol
    run = {
        "arm": arm, "seed": seed, "lr": lr, "parameters": count_parameters(model),
        "val_perplexity": round(perplexity, 6),
        "history": [[r.step, round(r.train_perplexity, 4), round(r.val_perplexity, 4)] for r in result.history],
        "seconds": round(seconds, 1), "load_before": round(os.getloadavg()[0], 2),
    }
    print(f"  {arm} seed {seed} lr {lr:g}: val ppl {perplexity:.4f} ({run['parameters']:,} parameters, "
          f"{seconds:.0f} s)", flush=True)
    return run, model


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=1200, help="training steps (the LSTM's budget: 1200)")
    parser.add_argument("--eval-every", type=int, default=240)
    parser.add_argument("--lr", type=float, default=1e-2, help="the GPT's learning rate when there is no sweep")
    parser.add_argument("--sweep", action="store_true", help="pick each model's learning rate on seed 0 first")
    parser.add_argument("--sweep-lrs", nargs="+", type=float, default=[3e-3, 1e-2, 3e-2])
    parser.add_argument("--threads", type=int, default=1)
    add_output_options(parser, SHIPPED)
    args = parser.parse_args(argv)
    paths = output_paths(parser, args, SHIPPED)
    args.out, args.checkpoint = paths["out"], paths["checkpoint"]
    assert _REPRODUCIBLE == REPRODUCIBLE_ENV, "keep _REPRODUCIBLE equal to seqlib._determinism.REPRODUCIBLE_ENV"

    seqlib.seed_everything(0, threads=args.threads)
    print(f"torch {torch.__version__}, {args.threads} thread(s), load average {os.getloadavg()[0]:.2f}", flush=True)
    started = time.perf_counter()
    sweep_runs: list[dict] = []
    sweep_models: dict[tuple[str, float], torch.nn.Module] = {}
    best = {"gpt": args.lr, "lstm": 1e-2}
    if args.sweep:
        for arm in ("gpt", "lstm"):
            for lr in args.sweep_lrs:
                run, model = train_arm(arm, args.seeds[0], lr, args.steps, args.eval_every)
                sweep_runs.append(run)
                sweep_models[arm, lr] = model
            mine = [run for run in sweep_runs if run["arm"] == arm]
            best[arm] = min(mine, key=lambda run: run["val_perplexity"])["lr"]
        print(f"best learning rates: {best}", flush=True)
    runs, saved = [], None
    for seed in args.seeds:
        if seed == args.seeds[0] and ("gpt", best["gpt"]) in sweep_models:  # trained in the sweep already
            run = next(r for r in sweep_runs if r["arm"] == "gpt" and r["lr"] == best["gpt"])
            model = sweep_models["gpt", best["gpt"]]
        else:
            run, model = train_arm("gpt", seed, best["gpt"], args.steps, args.eval_every)
        runs.append(run)
        if seed == args.seeds[0]:
            saved = model
    lstm_runs = []
    if best["lstm"] != 1e-2:  # notebook 04's LSTM rows were trained at 0.01: retrain at the better rate
        for seed in args.seeds:
            if seed == args.seeds[0]:
                run = next(r for r in sweep_runs if r["arm"] == "lstm" and r["lr"] == best["lstm"])
            else:
                run, _ = train_arm("lstm", seed, best["lstm"], args.steps, args.eval_every)
            lstm_runs.append(run)
    minutes = (time.perf_counter() - started) / 60
    split = standard_split()
    results = {
        "settings": {
            "command": "python bench/decoder_char_model.py " + " ".join(argv if argv is not None else sys.argv[1:]),
            "torch": torch.__version__, "python": platform.python_version(), "threads": args.threads,
            "environment": REPRODUCIBLE_ENV, "wall_minutes": round(minutes, 1), "seeds": args.seeds,
            "saved_seed": args.seeds[0], "model": nb09.CHAR_DECODER, "lstm": LSTM,
            "recipe": {**RECIPE, "max_steps": args.steps, "optimizer": "Adam", "final_lr_fraction": 0.05},
            "learning_rates": best, "sweep_lrs": args.sweep_lrs if args.sweep else [],
            "text": "seqlib.data.load_corpus('char'), standard split; evaluate_perplexity(model, val)",
            "vocab_size": len(split.vocab),
        },
        "sweep": sweep_runs,
        "runs": runs,
        "lstm_runs": lstm_runs,
    }
    written = {"out": args.out}
    if saved is not None:
        write_atomically(args.checkpoint, lambda path: nb09.save_checkpoint(path, saved, {"seed": args.seeds[0],
                                                                                            "lr": best["gpt"]}))
        print(f"checkpoint: {args.checkpoint.stat().st_size / 1e6:.2f} MB")
        written["checkpoint"] = args.checkpoint
    write_text(args.out, json.dumps(results, indent=1, sort_keys=True) + "\n")
    print(f"{minutes:.1f} min; {note(written, {k: SHIPPED[k] for k in written})}")
    return results


if __name__ == "__main__":
    main()
