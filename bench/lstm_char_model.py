"""The character LSTMs of notebook 04, trained and measured over seeds; the shipped checkpoint and result.

Two models, each trained with every seed of ``--seeds``:

* **the leaderboard's LSTM** on the leaderboard's text (letters and spaces, V = 28, the standard
  split), with notebook 02's recipe exactly (Adam, batch 32, 35 steps of truncated BPTT, learning rate
  0.01 on a cosine, clipping at 1, 1200 steps), H = 128 so that it has about as many parameters as 02's
  RNN (87,452 against 82,332).  02's RNN (H = 256) is trained beside it with the same recipe and seeds,
  so the comparison has three seeds on each side.  Both are scored by the leaderboard's protocol,
  ``evaluate_perplexity(model, standard_split().val)``.
* **the reading model**, an LSTM with H = 256 on the book *with its punctuation and line breaks*
  (``seqlib.course.nb04_lstm.clean_with_punctuation``, V = 42): the one notebook 04 reads, looking
  for units that track words, lines, quotes and sentences.  It is trained longer (``--reader-steps``)
  on longer chunks (``--reader-num-steps``), with dropout before the head.  For every seed the file
  records its validation perplexity on its own text (not comparable with the leaderboard's: another
  vocabulary), the correlation of every unit's cell state with each feature of
  ``nb04_lstm.text_features`` over the validation text, the same for the untrained network of that
  seed (the control: what correlation a random LSTM reaches), and how far back the gradient reaches
  along its cell state (``nb04_lstm.cell_gradient_profile`` on 16 snippets of the validation text).

Seed 0 of both models is saved in ``data/lstm_char_model.pt`` (float32, about 1.6 MB), which the
notebook loads with ``torch.load(..., weights_only=True)``; every seed's figures go to
``data/results/lstm_char_model.json``.  The notebook never writes either file.

    .venv/bin/python bench/lstm_char_model.py   # bench/out/ (51 min on the 2-core CPU, shared, 1 thread)
    .venv/bin/python bench/lstm_char_model.py --replace-shipped   # replaces the two shipped files
    .venv/bin/python bench/lstm_char_model.py --seeds 0 --reader-steps 200 --out /tmp/r.json --checkpoint /tmp/m.pt

A default run never replaces the shipped files (``bench/_results.py``): it writes
``bench/out/lstm_char_model.json`` and ``bench/out/lstm_char_model.pt``, which git ignores;
``--replace-shipped`` (or ``--out`` / ``--checkpoint`` naming the shipped paths) replaces them on purpose.

The script runs under the course's reproducible environment (``seqlib._determinism.REPRODUCIBLE_ENV``:
MKL's COMPATIBLE branch, torch's default kernels), re-starting itself with it when it is not set, so
every figure except the seconds is the same on every x86 CPU with the pinned torch; seed 0 of 02's RNN
reproduces notebook 02's number.
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
import copy  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402

import torch  # noqa: E402
from _results import add_output_options, note, output_paths, write_atomically, write_text  # noqa: E402

import seqlib  # noqa: E402
from seqlib._determinism import REPRODUCIBLE_ENV  # noqa: E402
from seqlib.course import nb04_lstm as nb04  # noqa: E402
from seqlib.course.leaderboard import standard_split  # noqa: E402
from seqlib.language_models import evaluate_perplexity, make_language_model, train_language_model  # noqa: E402
from seqlib.train import TrainRecord  # noqa: E402

SHIPPED = {"out": nb04.RESULTS_PATH, "checkpoint": nb04.CHECKPOINT_PATH}  # the files notebook 04 reads
LEADERBOARD_ARMS = {"lstm": 128, "rnn": 256}  # kind -> hidden size (about 85k parameters each)
RECIPE_02 = {"batch_size": 32, "num_steps": 35, "lr": 1e-2, "lr_schedule": "cosine", "clip": 1.0,
             "max_steps": 1200, "eval_every": 240}
EMBEDDING = 32


def train_leaderboard_arm(kind: str, seed: int) -> tuple[dict, torch.nn.Module]:
    split = standard_split()
    torch.manual_seed(seed)  # the initial weights, as notebook 02 draws them
    model = make_language_model(kind, len(split.vocab), LEADERBOARD_ARMS[kind], embedding_dim=EMBEDDING)
    started = time.perf_counter()
    result = train_language_model(model, split.train, split.val, **RECIPE_02,
                                  generator=torch.Generator().manual_seed(seed))
    seconds = time.perf_counter() - started
    perplexity = evaluate_perplexity(model, split.val)  # the leaderboard's protocol
    run = {
        "arm": kind, "hidden_size": LEADERBOARD_ARMS[kind], "seed": seed, "parameters": nb04.count_parameters(model),
        "val_perplexity": round(perplexity, 6),
        "history": [[r.step, round(r.train_perplexity, 4), round(r.val_perplexity, 4)] for r in result.history],
        "seconds": round(seconds, 1),
    }
    print(f"  leaderboard {kind:4s} H={LEADERBOARD_ARMS[kind]} seed {seed}: val ppl {perplexity:.4f} "
          f"({run['parameters']:,} parameters, {seconds:.0f} s)", flush=True)
    return run, model


def probe(model: torch.nn.Module, corpus: nb04.PunctuatedCorpus, features: dict) -> dict[str, nb04.BestUnit]:
    """The best unit for every feature, reading the whole validation text from zero states."""
    reading = nb04.read_ids(model, corpus.val, corpus.val_text, streams=nb04.VAL_STREAMS)
    return nb04.best_units(reading.c, features)


def measure_reader(model, corpus, features, gradient_ids) -> dict:
    reading = nb04.read_ids(model, corpus.val, corpus.val_text, streams=nb04.VAL_STREAMS)
    correlations = {name: nb04.unit_feature_correlations(reading.c, x) for name, x in features.items()}
    best = nb04.best_units(reading.c, features)
    profile = nb04.cell_gradient_profile(model, gradient_ids)
    return {
        "correlations": {name: [round(float(v), 4) for v in r] for name, r in correlations.items()},
        "best": {name: {"unit": b.unit, "r": round(b.r, 4)} for name, b in best.items()},
        "gradient": {
            "c_relative": [float(f"{v:.4g}") for v in profile.c_relative.tolist()],
            "h_relative": [float(f"{v:.4g}") for v in profile.h_relative.tolist()],
            "forget_path": [float(f"{v:.4g}") for v in profile.forget_path.tolist()],
            "mean_f": round(profile.mean_f, 4),
        },
    }


def train_reader(seed: int, corpus, features, gradient_ids, args) -> tuple[dict, torch.nn.Module]:
    model = nb04.make_reader(len(corpus.vocab), args.reader_hidden, EMBEDDING, args.reader_dropout,
                             args.reader_forget_bias, seed)
    untrained = copy.deepcopy(model)
    control = measure_reader(untrained, corpus, features, gradient_ids)

    def progress(record: TrainRecord) -> None:
        line = (f"    step {record.step:5d}  train ppl {record.train_perplexity:6.3f}  "
                f"val ppl {record.val_perplexity:6.3f}")
        if args.probe:
            line += "  " + "  ".join(f"{name[:14]} {b.r:+.2f}" for name, b in probe(model, corpus, features).items())
        print(line, flush=True)

    started = time.perf_counter()
    result = train_language_model(
        model, corpus.train, corpus.val, batch_size=args.reader_batch, num_steps=args.reader_num_steps,
        lr=args.reader_lr, lr_schedule="cosine", clip=1.0, max_steps=args.reader_steps,
        eval_every=args.reader_eval_every, progress=progress, generator=torch.Generator().manual_seed(seed),
    )
    seconds = time.perf_counter() - started
    model.eval()
    trained = measure_reader(model, corpus, features, gradient_ids)
    run = {
        "seed": seed, "parameters": nb04.count_parameters(model),
        "val_perplexity": round(evaluate_perplexity(model, corpus.val), 6),
        "history": [[r.step, round(r.train_perplexity, 4), round(r.val_perplexity, 4)] for r in result.history],
        "trained": trained, "untrained": control, "seconds": round(seconds, 1),
    }
    best = "  ".join(f"{name}: unit {b['unit']} r {b['r']:+.2f} (untrained {control['best'][name]['r']:+.2f})"
                     for name, b in trained["best"].items())
    print(f"  reader seed {seed}: val ppl {run['val_perplexity']:.4f} ({seconds / 60:.1f} min); {best}", flush=True)
    return run, model


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--parts", nargs="+", choices=["leaderboard", "reader"], default=["leaderboard", "reader"])
    parser.add_argument("--reader-hidden", type=int, default=256)
    parser.add_argument("--reader-steps", type=int, default=1600)
    parser.add_argument("--reader-batch", type=int, default=32)
    parser.add_argument("--reader-num-steps", type=int, default=100, help="BPTT length (a line is <= 72 characters)")
    parser.add_argument("--reader-lr", type=float, default=3e-3)
    parser.add_argument("--reader-dropout", type=float, default=0.5)
    parser.add_argument("--reader-eval-every", type=int, default=400)
    parser.add_argument("--reader-forget-bias", type=float, default=None,
                        help="initial forget-gate bias (seqlib.init.set_forget_bias_); default: torch's initialisation")
    parser.add_argument("--snippets", type=int, default=16, help="snippets of the validation text for the gradient")
    parser.add_argument("--snippet-length", type=int, default=100)
    parser.add_argument("--probe", action="store_true", help="print the best correlations at every evaluation")
    parser.add_argument("--threads", type=int, default=1)
    add_output_options(parser, SHIPPED)
    args = parser.parse_args(argv)
    paths = output_paths(parser, args, SHIPPED)
    args.out, args.checkpoint = paths["out"], paths["checkpoint"]
    assert _REPRODUCIBLE == REPRODUCIBLE_ENV, "keep _REPRODUCIBLE equal to seqlib._determinism.REPRODUCIBLE_ENV"

    seqlib.seed_everything(0, threads=args.threads)
    corpus = nb04.punctuated_corpus()
    length = len(corpus.val) // nb04.VAL_STREAMS * nb04.VAL_STREAMS  # what read_ids keeps of the validation text
    features = nb04.text_features(corpus.val_text[:length])
    gradient_ids = nb04.text_snippets(corpus.val, args.snippets, args.snippet_length)
    print(f"torch {torch.__version__}, {args.threads} thread(s), load average {os.getloadavg()[0]:.2f}; "
          f"reading text: {len(corpus.text)} characters, V = {len(corpus.vocab)}, validation {len(corpus.val)}",
          flush=True)
    started = time.perf_counter()
    leaderboard_runs, reader_runs, saved = [], [], {}
    if "leaderboard" in args.parts:
        for seed in args.seeds:
            for kind in LEADERBOARD_ARMS:
                run, model = train_leaderboard_arm(kind, seed)
                leaderboard_runs.append(run)
                if kind == "lstm" and seed == args.seeds[0]:
                    saved["leaderboard"] = model
    if "reader" in args.parts:
        for seed in args.seeds:
            run, model = train_reader(seed, corpus, features, gradient_ids, args)
            reader_runs.append(run)
            if seed == args.seeds[0]:
                saved["reader"] = model
    minutes = (time.perf_counter() - started) / 60
    results = {
        "settings": {
            "command": "python bench/lstm_char_model.py " + " ".join(argv if argv is not None else sys.argv[1:]),
            "torch": torch.__version__, "python": platform.python_version(), "threads": args.threads,
            "environment": REPRODUCIBLE_ENV, "wall_minutes": round(minutes, 1), "seeds": args.seeds,
            "saved_seed": args.seeds[0], "embedding_dim": EMBEDDING,
            "leaderboard": {"arms": LEADERBOARD_ARMS, "recipe": RECIPE_02,
                            "text": "seqlib.data.load_corpus('char'), standard split; evaluate_perplexity(model, val)"},
            "reader": {
                "hidden_size": args.reader_hidden, "batch_size": args.reader_batch,
                "num_steps": args.reader_num_steps, "lr": args.reader_lr, "lr_schedule": "cosine", "clip": 1.0,
                "max_steps": args.reader_steps, "dropout": args.reader_dropout, "eval_every": args.reader_eval_every,
                "forget_bias": args.reader_forget_bias,
                "text": "seqlib.course.nb04_lstm.punctuated_corpus(), first 90 % train, last 10 % validation",
                "vocab_size": len(corpus.vocab),
            },
            "features": nb04.FEATURES,
            "gradient_snippets": {"count": args.snippets, "length": args.snippet_length,
                                  "loss": "cross-entropy of the character after the last one"},
        },
        "leaderboard": {"runs": leaderboard_runs},
        "reader": {"runs": reader_runs},
    }
    written = {"out": args.out}
    if set(saved) == {"reader", "leaderboard"}:
        split = standard_split()
        write_atomically(args.checkpoint, lambda path: nb04.save_checkpoint(
            path, saved["reader"], corpus.vocab, saved["leaderboard"], split.vocab,
            {"seed": args.seeds[0], "results": str(args.out.name)}))
        print(f"checkpoint: {args.checkpoint.stat().st_size / 1e6:.2f} MB")
        written["checkpoint"] = args.checkpoint
    write_text(args.out, json.dumps(results, indent=1, sort_keys=True) + "\n")
    print(f"{minutes:.1f} min; {note(written, {k: SHIPPED[k] for k in written})}")
    return results


if __name__ == "__main__":
    main()
