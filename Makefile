# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
# Each builds .venv from the committed lock file (requirements.lock) the first time it runs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck pytest lock clean reliability-full bench bench-quick

$(STAMP): requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/ml-connector demo

test: $(STAMP) lint typecheck pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy src/ml_connector

pytest: $(STAMP)
	$(BIN)/pytest -q

# Benchmarks against the licence ceiling and the naive script (writes bench/results/latest.json).
bench: $(STAMP)
	$(BIN)/python -m bench.run --full

bench-quick: $(STAMP)
	$(BIN)/python -m bench.run --quick

# The reliability suite at full size (500 accounts, 1,500 contacts, 2,000 orders, kills, faults); prints figures.
reliability-full: $(STAMP)
	$(BIN)/python tests/reliability/run_full.py

# Regenerate the lock file after changing dependency ranges in pyproject.toml.
lock: $(STAMP)
	$(BIN)/python -m pip install --quiet uv
	$(BIN)/uv pip compile pyproject.toml --extra dev --python-version 3.11 --no-emit-index-url -o requirements.lock

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
