"""seqlib's LSTM, GRU and RNN against torch.nn's, forward and forward+backward, at course sizes.

Both run in one process, interleaved (torch, seqlib, torch, seqlib, ...) so that a load change on a
shared machine hits both alike; each figure is the median of the repeats, and the ratio is
seqlib / torch (lower is better; the target is forward+backward <= 1.3 for LSTM and GRU).  The
ratio of the fastest repeats ("min ratio") is printed too: on a machine shared with other jobs it
is the steadier of the two.  For LSTM a third column times torch with oneDNN switched off: torch's
float32 CPU LSTM otherwise runs oneDNN's fused RNN kernel, which parallelises the gate arithmetic
too, whereas its GRU and RNN (and the LSTM without oneDNN) loop over time in C++ like seqlib does in
Python.

    .venv/bin/python bench/bench_recurrent.py                 # full run, about 2 minutes
    .venv/bin/python bench/bench_recurrent.py --repeats 5 --modes LSTM --threads 1

"forward" runs under ``torch.no_grad()`` (inference); "fwd+bwd" is a training step's share: forward
with autograd, then ``backward`` of ``output.sum()`` into every parameter.  float32, batch_first.

Measured by the recurrent-core work on the course's 2-core CPU while three other engineers used it
(so with ``--threads 1``: with 2 threads on a busy machine OpenMP's threads wait for each other and
both libraries slow down erratically, up to tens of times).  fwd+bwd ratio seqlib / torch, median
(and min) of 11, load average 4.5:

    LSTM  B=32 T=100 I=64 H=256   1.25 (1.24)    vs torch without oneDNN 1.00
    LSTM  B=64 T=64  I=32 H=512   1.10 (1.21)    vs torch without oneDNN 0.99
    GRU   B=32 T=100 I=64 H=256   1.14 (1.02)
    GRU   B=64 T=64  I=32 H=512   0.88 (1.09)
    RNN   both sizes              0.89-1.17

Earlier, on a quieter moment with 2 threads (load ~1.3, before the one-product W_hh gradient):
LSTM 1.59 / 1.45, GRU 1.18 / 1.13.  The LSTM gap at 2 threads is oneDNN's fused kernel, which
spreads the gate arithmetic over both cores; a Python loop of ~10 small elementwise ops per step
can only parallelise its matrix products.  Forward-only (inference) LSTM stays 1.3-1.9x slower
than oneDNN for the same reason.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
import warnings
from collections.abc import Callable

import torch
from torch import nn

import seqlib

warnings.filterwarnings("ignore", message="TF32 acceleration on top of oneDNN")  # printed by mkldnn.flags

SIZES = [  # (B, T, I, H)
    (32, 100, 64, 256),
    (64, 64, 32, 512),
    (32, 35, 28, 256),  # the char-LM's shape (embedding of a 28-token vocabulary)
]


def _forward(module: nn.Module, x: torch.Tensor) -> None:
    with torch.no_grad():
        module(x)


def _forward_backward(module: nn.Module, x: torch.Tensor) -> None:
    output, _ = module(x)
    output.sum().backward()


def _without_onednn(run: Callable[[nn.Module, torch.Tensor], None]) -> Callable[[nn.Module, torch.Tensor], None]:
    """torch's float32 CPU LSTM runs oneDNN's fused RNN kernel; with oneDNN off it runs ATen's C++
    loop over time (one GEMM and a few elementwise kernels per step), as its GRU and RNN always do."""

    def wrapped(module: nn.Module, x: torch.Tensor) -> None:
        with torch.backends.mkldnn.flags(enabled=False):
            run(module, x)

    return wrapped


def bench(mode: str, size: tuple[int, int, int, int], repeats: int) -> dict[str, dict[str, list[float]]]:
    """{"forward" | "fwd+bwd": {contender: [seconds per repeat]}} for one mode and size."""
    B, T, I, H = size
    torch.manual_seed(0)
    reference = getattr(nn, mode)(I, H, batch_first=True)
    mine = getattr(seqlib, mode).from_torch(reference)
    x = torch.randn(B, T, I)
    results = {}
    for name, run in [("forward", _forward), ("fwd+bwd", _forward_backward)]:
        contenders = {"torch": (reference, run), "seqlib": (mine, run)}
        if mode == "LSTM":
            contenders["torch, no oneDNN"] = (reference, _without_onednn(run))
        for module, runner in list(contenders.values()) * 2:  # warm-up
            runner(module, x)
        times: dict[str, list[float]] = {label: [] for label in contenders}
        for _ in range(repeats):
            for label, (module, runner) in contenders.items():
                start = time.perf_counter()
                runner(module, x)
                times[label].append(time.perf_counter() - start)
                module.zero_grad(set_to_none=True)
        results[name] = times
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--modes", nargs="+", default=["LSTM", "GRU", "RNN"])
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(
        f"torch {torch.__version__}, {args.threads} threads, {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs, load average before {os.getloadavg()[0]:.2f}, median of {args.repeats}"
    )
    print(
        f"{'mode':5} {'B':>3} {'T':>4} {'I':>3} {'H':>4} | {'pass':8} {'torch ms':>9} {'seqlib ms':>10} "
        f"{'ratio':>6} {'min ratio':>9} | {'torch no-oneDNN ms':>18} {'ratio':>6}"
    )
    for mode in args.modes:
        for size in SIZES:
            for name, times in bench(mode, size, args.repeats).items():
                B, T, I, H = size
                torch_ms, seqlib_ms = (1e3 * statistics.median(times[k]) for k in ("torch", "seqlib"))
                min_ratio = min(times["seqlib"]) / min(times["torch"])
                line = (
                    f"{mode:5} {B:3d} {T:4d} {I:3d} {H:4d} | {name:8} {torch_ms:9.1f} {seqlib_ms:10.1f} "
                    f"{seqlib_ms / torch_ms:6.2f} {min_ratio:9.2f}"
                )
                if "torch, no oneDNN" in times:
                    plain_ms = 1e3 * statistics.median(times["torch, no oneDNN"])
                    line += f" | {plain_ms:18.1f} {seqlib_ms / plain_ms:6.2f}"
                print(line, flush=True)
    print(f"load average after {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
