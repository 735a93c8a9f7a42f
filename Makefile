# Two entry points for a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.trigformer-installed

.PHONY: setup demo test test-all bench clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt -e '.[test]'
	@$(BIN)/python -c "import keras; assert keras.__version__.startswith('2.'), 'Keras 3 in the env breaks the QKeras path'"
	touch $@

setup: $(STAMP)

# synth exits 1 when the trigger budget is not met (after writing everything): the demo reports that, not fails.
demo: setup
	$(BIN)/synth models/jet_tagger.yaml --part xcvu9p --force || [ $$? -eq 1 ]

test: setup
	$(BIN)/pytest -q

test-all: setup
	$(BIN)/pytest -q -m ''

bench: setup
	$(BIN)/python benchmarks/bench_emulator.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
