# Two commands: `make lab` to study, `make test` to check everything.
# Both bootstrap the same .venv from pyproject.toml (the one source of dependencies).

# Python 3.11 to 3.13 (pyproject's requires-python; tests/test_environment.py keeps the three in step).
# 3.11 first: the stored outputs are made with it, and pip finds torch's CPU build for it. A name on PATH
# counts only if it runs and is in range (a version manager's shim for an inactive version prints an error).
SUPPORTED_PYTHONS := python3.11 python3.12 python3.13 python3 python
IN_RANGE := import sys; sys.exit(not (3, 11) <= sys.version_info[:2] <= (3, 13))
ifeq ($(origin PYTHON),undefined)
PYTHON := $(shell for p in $(SUPPORTED_PYTHONS); do \
	command -v $$p >/dev/null 2>&1 && $$p -c '$(IN_RANGE)' >/dev/null 2>&1 && { command -v $$p; break; }; done)
endif
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PORT   ?= 8888
JOBS   ?= 2
# strict nbval: every cell's outputs compared; the kernel is this venv's Python; a hung cell fails after 5 min
NBVAL  := --nbval --nbval-current-env --nbval-cell-timeout=300 --nbval-sanitize-with tests/nbval_sanitize.cfg

.PHONY: lab test unit nbval browser notebooks bench lint clean help print-python

help:
	@echo "make lab        install into .venv (first time only) and open JupyterLab on the course"
	@echo "make test       install the same way and run every test, notebooks included (nbval strict)"
	@echo "make browser    only the browser tests: the widgets in JupyterLab under headless Chromium"
	@echo "make notebooks  re-execute every notebook in place (refresh stored outputs); NB=notebooks/02_rnn.ipynb for one;"
	@echo "                a notebook with uncommitted edits is refused unless FORCE=1"
	@echo "make bench      run the speed/result benchmarks under bench/"
	@echo "make lint       ruff over seqlib, tests and bench"
	@echo "make clean      remove .venv and caches"

# NumPy's BLAS and torch's OpenMP pools get one thread, as seed_everything does for torch: the same
# digits on every machine, and no threads waiting on each other when two notebooks share two cores.
export OMP_NUM_THREADS := 1
export OPENBLAS_NUM_THREADS := 1
export MKL_NUM_THREADS := 1
# ... and the digits every x86 CPU gives alike: MKL's COMPATIBLE branch (MKL otherwise picks its kernels by
# CPU vendor and model) and torch's portable kernels. Kept in step with seqlib/_determinism.py's
# REPRODUCIBLE_ENV (a unit test checks). `make bench` measures speed without them.
export MKL_CBWR := COMPATIBLE
export ATEN_CPU_CAPABILITY := default

# The stamp is rebuilt only when pyproject.toml changes, so a second run installs nothing.
# tools/jupyterlab_overrides.json: the course's JupyterLab defaults (no "get notified about Jupyter news?"
# prompt, no update check), installed into .venv's own settings, never into the learner's home.
LAB_OVERRIDES := $(VENV)/share/jupyter/lab/settings/overrides.json

$(STAMP): pyproject.toml tools/jupyterlab_overrides.json
	@test -n "$(PYTHON)" || { \
		echo "error: no Python 3.11, 3.12 or 3.13 found (tried: $(SUPPORTED_PYTHONS))."; \
		echo "Install one (python.org, your package manager, pyenv or Homebrew), then run make $(MAKECMDGOALS) again,"; \
		echo "or name it: make $(MAKECMDGOALS) PYTHON=/path/to/python3.12"; exit 1; }
	@$(PYTHON) -c '$(IN_RANGE)' 2>/dev/null || { \
		echo "error: the course needs Python 3.11, 3.12 or 3.13; PYTHON=$(PYTHON) is not one (or does not run)."; \
		echo "Install one, or run: make $(MAKECMDGOALS) PYTHON=/path/to/python3.11"; exit 1; }
	@echo "Using $(PYTHON) (Python $$($(PYTHON) -c 'import platform; print(platform.python_version())')) for $(VENV)"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --disable-pip-version-check -q -e '.[lab,test]'
	@mkdir -p $(dir $(LAB_OVERRIDES)) && cp tools/jupyterlab_overrides.json $(LAB_OVERRIDES)
	@touch $(STAMP)

lab: $(STAMP)
	@echo "Opening JupyterLab on http://127.0.0.1:$(PORT)/ (the URL with the token is printed below)"
	$(BIN)/jupyter lab --ServerApp.ip=127.0.0.1 --ServerApp.port=$(PORT) \
		--ServerApp.root_dir=notebooks $(if $(filter 0,$(shell id -u)),--allow-root,) \
		--LabApp.default_url=/lab/tree/00_welcome.ipynb

test: $(STAMP)
	$(BIN)/python -m pytest -n $(JOBS) --dist loadscope $(NBVAL)

unit: $(STAMP)
	$(BIN)/python -m pytest tests --ignore=tests/browser

nbval: $(STAMP)
	$(BIN)/python -m pytest $(NBVAL) notebooks

# the real-browser check alone (JupyterLab + headless Chromium); `make test` runs it too
browser: $(STAMP)
	$(BIN)/python -m pytest tests/browser

notebooks: $(STAMP)
	$(BIN)/python tools/run_notebooks.py $(if $(FORCE),--force,) $(or $(NB),notebooks/*.ipynb)

# the speed comparisons; bench/charlm_budget.py (5 min) and bench/recall_task.py (13 min) are run by hand
bench: $(STAMP)
	@for f in bench/bench_*.py; do echo "== $$f"; env -u MKL_CBWR -u ATEN_CPU_CAPABILITY $(BIN)/python $$f || exit 1; done

lint: $(STAMP)
	$(BIN)/ruff check seqlib tests bench tools

# which Python `make lab` / `make test` would build .venv with (tests/test_environment.py uses it)
print-python:
	@echo "$(PYTHON)"

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
