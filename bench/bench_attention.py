"""seqlib MultiheadAttention and TransformerEncoderLayer vs torch.nn: time ratios in one process.

    .venv/bin/python bench/bench_attention.py [--repeats 15] [--threads N] [--quick]

Shape: B=32, T=128, d=256, 8 heads, batch_first, float32, CPU; the encoder layer has torch's
default dim_feedforward=2048 and dropout=0.  Both modules hold the same weights (``from_torch``).
Each case times seqlib and torch alternately (so a noisy neighbour slows both alike) and reports
the ratio of the medians seqlib / torch (and of the minima, less sensitive to a busy machine);
the target is <= 1.3.

Cases:
  forward (no_grad, eval)   inference; torch may take its fused "fast path" here
  forward (grad)            training-mode forward, building the graph
  forward+backward          forward, then backward of the sum
MultiheadAttention is timed with need_weights=True (torch's default call, explicit softmax) and
need_weights=False (torch then calls its fused scaled_dot_product_attention kernel).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
from torch import nn

from seqlib.attention import MultiheadAttention
from seqlib.transformer import TransformerEncoderLayer

B, T, D, HEADS = 32, 128, 256, 8


def _time(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def compare(name: str, ours: Callable[[], object], theirs: Callable[[], object], repeats: int) -> float:
    for _ in range(2):  # warm-up
        ours()
        theirs()
    ours_t, theirs_t = [], []
    for i in range(repeats):
        first, second = (ours, theirs) if i % 2 == 0 else (theirs, ours)
        a, b = _time(first), _time(second)
        ours_t.append(a if first is ours else b)
        theirs_t.append(b if first is ours else a)
    o, t = statistics.median(ours_t), statistics.median(theirs_t)
    best = min(ours_t) / min(theirs_t)
    print(f"{name:<46} seqlib {o * 1e3:7.2f} ms  torch {t * 1e3:7.2f} ms  ratio {o / t:4.2f}x  "
          f"(of minima {best:4.2f}x)")
    return o / t


def cases(module_ours: nn.Module, module_theirs: nn.Module, call: Callable[[nn.Module, torch.Tensor], torch.Tensor],
          label: str, repeats: int) -> list[float]:
    x = torch.randn(B, T, D)
    x_grad = x.clone().requires_grad_(True)
    ratios = []

    def forward_nograd(m: nn.Module) -> Callable[[], object]:
        def run() -> object:
            m.eval()
            with torch.no_grad():
                return call(m, x)
        return run

    def forward_grad(m: nn.Module) -> Callable[[], object]:
        def run() -> object:
            m.train()
            return call(m, x_grad)
        return run

    def forward_backward(m: nn.Module) -> Callable[[], object]:
        def run() -> object:
            m.train()
            m.zero_grad(set_to_none=True)
            x_grad.grad = None
            call(m, x_grad).sum().backward()
        return run

    for case, make in (("forward (no_grad, eval)", forward_nograd), ("forward (grad)", forward_grad),
                       ("forward+backward", forward_backward)):
        ratios.append(compare(f"{label}: {case}", make(module_ours), make(module_theirs), repeats))
    return ratios


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--quick", action="store_true", help="3 repeats, for a smoke run")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    repeats = 3 if args.quick else args.repeats
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, B={B} T={T} d={D} heads={HEADS}, "
          f"float32, median of {repeats}")

    theirs_mha = nn.MultiheadAttention(D, HEADS, batch_first=True)
    ours_mha = MultiheadAttention.from_torch(theirs_mha)
    ratios = []
    for need_weights in (True, False):
        def call(m: nn.Module, x: torch.Tensor, need_weights: bool = need_weights) -> torch.Tensor:
            return m(x, x, x, need_weights=need_weights)[0]
        ratios += cases(ours_mha, theirs_mha, call, f"MHA need_weights={need_weights}", repeats)

    theirs_layer = nn.TransformerEncoderLayer(D, HEADS, dropout=0.0, batch_first=True)
    ours_layer = TransformerEncoderLayer.from_torch(theirs_layer)
    ratios += cases(ours_layer, theirs_layer, lambda m, x: m(x), "EncoderLayer", repeats)
    print(f"worst ratio {max(ratios):.2f}x (target <= 1.3x)")


if __name__ == "__main__":
    main()
