"""One call that makes a notebook's numbers reproducible.

Stored notebook outputs are compared cell by cell by ``pytest --nbval``, so every notebook starts
with ``seqlib.seed_everything(0)``.  The thread count is fixed too: a matrix product split over a
different number of threads may add its partial sums in another order and change the last bits.

One thread is the default.  The course's models are small, so a second thread buys little, and
when two processes share two cores (``pytest -n 2`` running two notebooks, or a busy laptop) torch's
threads wait on each other and a step can take 50× longer.  One thread gives the same digits on
every machine and never oversubscribes.

Same digits on every x86 CPU.  A fixed seed and thread count are not enough across machines: MKL (torch's
BLAS) picks its matrix-product kernels by CPU vendor and model, and torch picks AVX-512, AVX2 or plain
loops for its elementwise kernels, and the last bits differ between them (seen: a 02 notebook trained on an
Intel and on an AMD machine ended at validation perplexity 4.252 and 4.269).  :data:`REPRODUCIBLE_ENV`
pins both: MKL's ``COMPATIBLE`` branch, the only one Intel documents as bitwise reproducible on Intel
and non-Intel CPUs alike, and torch's portable ``default`` kernels.  The variables must be set before
torch is loaded, so they live in the environment, not in :func:`seed_everything`: the Makefile exports
them for tests, notebooks and the lab, and the root ``conftest.py`` and ``tools/run_notebooks.py`` set them
for the kernels they start.  The price: matrix products about 2x slower (a notebook that trains takes
about 40 s instead of 25 s).  Benchmarks run without them.
"""

from __future__ import annotations

import os
import random

import numpy as np
import torch

DEFAULT_THREADS = 1

REPRODUCIBLE_ENV = {"MKL_CBWR": "COMPATIBLE", "ATEN_CPU_CAPABILITY": "default"}
"""Environment under which stored notebook outputs are made and compared (see the module docstring)."""


def reproducible_env(environ: dict[str, str] | None = None) -> dict[str, str]:
    """``environ`` (default: a copy of ``os.environ``) with :data:`REPRODUCIBLE_ENV` added where unset."""
    env = dict(os.environ if environ is None else environ)
    for name, value in REPRODUCIBLE_ENV.items():
        env.setdefault(name, value)
    return env


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
