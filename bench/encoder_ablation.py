"""What residual connections and layer normalisation buy an encoder, measured over several seeds.

Notebook 08 trains a small Transformer encoder to fill in a hidden character of *The Time Machine* from
both sides (``seqlib.encoder_tasks``: windows of 16 characters, each hidden with probability 0.3, the
cross-entropy at the hidden ones; 300 steps of 128 windows, Adam on a cosine, clipping at 1).  This
script trains the same model in several *arms* (``seqlib.encoder_tasks.ARMS``), every arm with every
seed of ``--seeds``:

* ``pre-norm`` — the notebook's model: x ← x + SA(LN(x)), x ← x + FFN(LN(x)), a final LayerNorm;
* ``post-norm`` — the paper's (and torch's default): x ← LN(x + SA(x)), x ← LN(x + FFN(x));
* ``no residual`` — pre-norm without the residual paths: x ← SA(LN(x)), x ← FFN(LN(x));
* ``no layer norm`` — residuals without LayerNorm: x ← x + SA(x), x ← x + FFN(x);
* ``neither`` — x ← FFN(SA(x)).

Settings (``--settings``): ``2 layers`` (the notebook's size, learning rate 0.02, every arm),
``2 layers, lr 0.01`` (pre-norm and post-norm at half the learning rate: post-norm's fair chance),
``6 layers`` (every arm, learning rate 0.02), and ``12 layers`` and ``12 layers, lr 0.005`` (pre-norm and
no layer norm: does the LayerNorm-free stack, whose activations grow with depth at initialisation, still
train?).  A run that diverges (``seqlib.train.TrainingDiverged``: a loss or a parameter became NaN or
infinite) is recorded with the step where it did and the records made before it.  Every run
is evaluated every ``--eval-every`` steps on the notebook's 2000 validation windows with one hidden
character each (``nb08_transformer_encoder.task_data``), and records its losses, its accuracy curve, how
far each head looks before and after training, and how different its layers are after training (they
start as identical copies).

The script runs under the course's reproducible environment (``seqlib._determinism.REPRODUCIBLE_ENV``),
restarting itself with it when it is not set, with one thread: the notebook re-trains the ``2 layers`` /
``pre-norm`` / seed 0 run live and asserts that it agrees with this file::

    .venv/bin/python bench/encoder_ablation.py                      # bench/out/encoder_ablation.json
    .venv/bin/python bench/encoder_ablation.py --replace-shipped    # data/results/encoder_ablation.json
    .venv/bin/python bench/encoder_ablation.py --seeds 0 --steps 20 --settings "2 layers" --out /tmp/a.json

Measured on the course's 2-core CPU, shared with other jobs: see ``total_wall_seconds`` in the file.
"""

from __future__ import annotations

import os
import sys

# the course's reproducible environment (seqlib._determinism.REPRODUCIBLE_ENV, checked in main); restart
# under it if it is missing: it must be set before torch is loaded
_REPRODUCIBLE = {"MKL_CBWR": "COMPATIBLE", "ATEN_CPU_CAPABILITY": "default"}
if __name__ == "__main__" and any(os.environ.get(k) != v for k, v in _REPRODUCIBLE.items()):
    os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, **_REPRODUCIBLE})

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import datetime  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402
from _results import add_output_options, note, output_paths, write_text  # noqa: E402

import seqlib  # noqa: E402
from seqlib._determinism import REPRODUCIBLE_ENV  # noqa: E402
from seqlib.course.nb08_transformer_encoder import (  # noqa: E402
    RESULTS_PATH,
    AblationResults,
    baseline_accuracies,
    head_distances,
    layer_difference,
    task_data,
)
from seqlib.encoder_tasks import ARMS, MaskedCharConfig, build_masked_char_encoder, train_masked_encoder  # noqa: E402
from seqlib.train import TrainingDiverged  # noqa: E402

SHIPPED = {"out": RESULTS_PATH}  # the file notebook 08 reads
SETTINGS = {
    "2 layers": {"num_layers": 2, "lr": 0.02, "arms": list(ARMS)},
    "2 layers, lr 0.01": {"num_layers": 2, "lr": 0.01, "arms": ["pre-norm", "post-norm"]},
    "6 layers": {"num_layers": 6, "lr": 0.02, "arms": list(ARMS)},
    "12 layers": {"num_layers": 12, "lr": 0.02, "arms": ["pre-norm", "no layer norm"]},
    "12 layers, lr 0.005": {"num_layers": 12, "lr": 0.005, "arms": ["pre-norm", "no layer norm"]},
}


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _rounded(values: torch.Tensor) -> list:
    return [[round(float(v), 4) for v in row] for row in values]


def train_one(setting: str, arm: str, seed: int, config: MaskedCharConfig, eval_every: int) -> dict:
    data = task_data()
    seqlib.seed_everything(seed)
    model = build_masked_char_encoder(config, len(data.vocab), seed)
    before = head_distances(model, data.eval_batch), head_distances(model, data.eval_batch, gaps_only=True)
    load_before = os.getloadavg()[0]
    try:
        result = train_masked_encoder(model, data.train, config, seed, data.eval_batch, eval_every)
        diverged_at = None
    except TrainingDiverged as err:  # a loss or a parameter became NaN or infinite: keep what came before
        result, diverged_at = err.result, err.step
    last = result.losses[-eval_every:]
    finite = diverged_at is None
    after = (head_distances(model, data.eval_batch), head_distances(model, data.eval_batch, gaps_only=True)) \
        if finite else (None, None)
    run = {
        "setting": setting,
        "arm": arm,
        "seed": seed,
        "config": config.to_dict(),
        "params": sum(p.numel() for p in model.parameters()),
        "curve": [{"step": r.step, "train_loss": round(r.train_loss, 6), "accuracy": r.metrics["accuracy"]}
                  for r in result.history],
        "losses": [round(loss, 6) for loss in result.losses],
        "diverged_at": diverged_at,
        "accuracy": result.final.metrics["accuracy"] if finite else None,
        "final_loss": round(sum(last) / len(last), 6) if finite else None,
        "distance_before": _rounded(before[0]),
        "distance_after": _rounded(after[0]) if finite else None,
        "gap_distance_before": _rounded(before[1]),
        "gap_distance_after": _rounded(after[1]) if finite else None,
        "layer_difference": round(layer_difference(model), 6) if finite else None,
        "seconds": round(result.seconds, 2),
        "load_before": round(load_before, 2),
        "load_after": round(os.getloadavg()[0], 2),
    }
    outcome = (f"accuracy {run['accuracy']:.3f}, final loss {run['final_loss']:.3f}" if finite
               else f"diverged at step {diverged_at}")
    print(f"{setting:19s} {arm:14s} seed {seed}: {outcome}, {result.seconds:5.1f} s "
          f"(load {run['load_before']:.1f} -> {run['load_after']:.1f})", flush=True)
    return run


def main(argv: list[str] | None = None) -> AblationResults:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settings", nargs="+", choices=list(SETTINGS), default=list(SETTINGS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=MaskedCharConfig.steps)
    parser.add_argument("--eval-every", type=int, default=50)
    add_output_options(parser, SHIPPED)
    args = parser.parse_args(argv)
    out = output_paths(parser, args, SHIPPED)["out"]
    assert _REPRODUCIBLE == REPRODUCIBLE_ENV, "keep _REPRODUCIBLE in step with seqlib._determinism.REPRODUCIBLE_ENV"
    if args.steps % args.eval_every:
        parser.error("--steps must be a multiple of --eval-every")

    base = dataclasses.replace(MaskedCharConfig(), steps=args.steps)
    described = {}
    for name in args.settings:
        spec = SETTINGS[name]
        described[name] = {
            "title": f"{spec['num_layers']} layers, learning rate {spec['lr']:g}",
            "num_layers": spec["num_layers"],
            "lr": spec["lr"],
            "arms": spec["arms"],
        }
    data = task_data()
    print(f"torch {torch.__version__}, 1 thread, {_cpu_model()}, load {os.getloadavg()[0]:.2f}")
    started = time.perf_counter()
    runs = []
    for seed in args.seeds:
        for name in args.settings:
            spec = SETTINGS[name]
            for arm in spec["arms"]:
                config = dataclasses.replace(base.with_arm(arm), num_layers=spec["num_layers"], lr=spec["lr"])
                runs.append(train_one(name, arm, seed, config, args.eval_every))

    settings = {
        "task": "fill in one hidden character of a 16-character window of The Time Machine (letters and spaces), "
                "seeing both sides; seqlib.encoder_tasks",
        "data": "seqlib.course.leaderboard.standard_split(): first 90 % train, last 10 % validation; evaluation: "
                "nb08_transformer_encoder.task_data().eval_batch (2000 validation windows, one gap each)",
        "config": base.to_dict(),
        "arms": ARMS,
        "settings": described,
        "seeds": args.seeds,
        "eval_every": args.eval_every,
        "baselines": baseline_accuracies(data),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "threads": 1,
        "environment": {k: os.environ.get(k, "") for k in REPRODUCIBLE_ENV},
        "torch": torch.__version__,
        "python": platform.python_version(),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "date": datetime.date.today().isoformat(),
        "total_wall_seconds": round(time.perf_counter() - started, 1),
    }
    results = AblationResults(settings, runs)
    for name in args.settings:
        print(f"\n{described[name]['title']}\n{results.table(name)}")
    print(f"\ntotal {settings['total_wall_seconds']:.0f} s")
    write_text(out, results.to_json())
    print(note({"out": out}, SHIPPED))
    return results


if __name__ == "__main__":
    main()
