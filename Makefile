# The README's commands. `make run` and `make test` install what they need.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PORT   ?= $(or $(LOMAS_PORT),8000)

.PHONY: run test lint bench bench-s3 clean

$(STAMP): pyproject.toml client/pyproject.toml requirements/constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 13) else "Python >= 3.13 is needed (pyenv reads .python-version); set PYTHON=python3.13")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -c requirements/constraints.txt -e ./client -e '.[dev]'
	@touch $(STAMP)

run: $(STAMP)  ## start Lomas on http://127.0.0.1:$(PORT) with the embedded store and demo content
	LOMAS_DEV_MODE=true LOMAS_PORT=$(PORT) $(BIN)/lomas-serve

test: $(STAMP) lint  ## lint, then the whole test suite
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check shared functions client tests bench examples
	$(BIN)/lint-imports
	$(BIN)/mypy shared/lomas client/lomas_client

bench: $(STAMP)  ## SQL latency through HTTP vs. snsql directly (10k and 200k rows)
	$(BIN)/python bench/sql_latency.py

bench-s3: $(STAMP)  ## first (cold) vs. later (warm) query on a 1M-row Parquet dataset in moto S3
	$(BIN)/python bench/s3_cache.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
