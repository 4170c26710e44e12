"""seqlib's LSTM, GRU and RNN against torch.nn's, forward and forward+backward, at course sizes.

Both run in one process, interleaved (torch, seqlib, torch, seqlib, ...) so that a load change on a
shared machine hits both alike; each figure is the median of the repeats, and the ratio is
seqlib / torch (lower is better; the target is forward+backward <= 1.3 for LSTM and GRU).  The
ratio of the fastest repeats ("min ratio") is printed too: on a machine shared with other jobs it
is the steadier of the two.

    .venv/bin/python bench/bench_recurrent.py                 # full run, about 2 minutes
    .venv/bin/python bench/bench_recurrent.py --repeats 5 --modes LSTM --threads 1

"forward" runs under ``torch.no_grad()`` (inference); "fwd+bwd" is a training step's share: forward
with autograd, then ``backward`` of ``output.sum()`` into every parameter.  float32, batch_first.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import torch
from torch import nn

import seqlib

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


def _median_ms(times: list[float]) -> float:
    return 1e3 * statistics.median(times)


def bench(mode: str, size: tuple[int, int, int, int], repeats: int) -> dict[str, tuple[float, ...]]:
    """{"forward" | "fwd+bwd": (torch median ms, seqlib median ms, torch min ms, seqlib min ms)}."""
    B, T, I, H = size
    torch.manual_seed(0)
    reference = getattr(nn, mode)(I, H, batch_first=True)
    mine = getattr(seqlib, mode).from_torch(reference)
    x = torch.randn(B, T, I)
    results = {}
    for name, run in [("forward", _forward), ("fwd+bwd", _forward_backward)]:
        for module in (reference, mine, reference, mine):  # warm-up
            run(module, x)
        times: dict[str, list[float]] = {"torch": [], "seqlib": []}
        for _ in range(repeats):
            for label, module in (("torch", reference), ("seqlib", mine)):
                start = time.perf_counter()
                run(module, x)
                times[label].append(time.perf_counter() - start)
                module.zero_grad(set_to_none=True)
        results[name] = (
            _median_ms(times["torch"]),
            _median_ms(times["seqlib"]),
            1e3 * min(times["torch"]),
            1e3 * min(times["seqlib"]),
        )
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
        f"{'mode':5} {'B':>3} {'T':>4} {'I':>3} {'H':>4} | {'pass':8} {'torch ms':>9} {'seqlib ms':>10} {'ratio':>6}"
        f" | {'min ratio':>9}"
    )
    for mode in args.modes:
        for size in SIZES:
            for name, (torch_ms, seqlib_ms, torch_min, seqlib_min) in bench(mode, size, args.repeats).items():
                B, T, I, H = size
                print(
                    f"{mode:5} {B:3d} {T:4d} {I:3d} {H:4d} | {name:8} {torch_ms:9.1f} {seqlib_ms:10.1f} "
                    f"{seqlib_ms / torch_ms:6.2f} | {seqlib_min / torch_min:9.2f}",
                    flush=True,
                )
    print(f"load average after {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
