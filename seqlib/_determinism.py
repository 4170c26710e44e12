"""One call that makes a notebook's numbers reproducible.

Stored notebook outputs are compared cell by cell by ``pytest --nbval``, so every notebook starts
with ``seqlib.seed_everything(0)``.  The thread count is fixed too: a matrix product split over a
different number of threads may add its partial sums in another order and change the last bits.

One thread is the default.  The course's models are small, so a second thread buys little, and
when two processes share two cores (``pytest -n 2`` running two notebooks, or a busy laptop) torch's
threads wait on each other and a step can take 50× longer.  One thread gives the same digits on
every machine and never oversubscribes.
"""

from __future__ import annotations

import random

import numpy as np
import torch

DEFAULT_THREADS = 1


def seed_everything(seed: int = 0, threads: int = DEFAULT_THREADS) -> None:
    """Seed Python, NumPy and torch, fix the thread count and the print options.

    Args:
        seed: the seed for ``random``, ``numpy.random`` and ``torch``.
        threads: intra-op threads for torch. The same number on every machine keeps the
            order of floating-point sums (and so the printed digits) the same.
    """
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    if not isinstance(threads, int) or isinstance(threads, bool) or threads < 1:
        raise ValueError(f"threads must be a positive int, got {threads!r}")
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(threads)
    np.set_printoptions(precision=4, suppress=True, linewidth=100)
    torch.set_printoptions(precision=4, sci_mode=False, linewidth=100)
