# The README's commands. `make run` and `make test` install what they need.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
RUN_STAMP := $(VENV)/.installed-run
# The AWS SAM CLI pins other versions of click, boto3 and pydantic: its own venv.
SAM_VENV  := .venv-sam
SAM_STAMP := $(SAM_VENV)/.installed
# Wheels of the admin function's zip for Lambda (python3.13, x86_64), so that the test
# of `sam build AdminFunction` runs offline.
WHEELS       := $(VENV)/lambda-wheels
WHEELS_STAMP := $(WHEELS)/.downloaded
LAMBDA_WHEEL := --platform manylinux2014_x86_64 --implementation cp --python-version 3.13 \
	--only-binary=:all: -c requirements/constraints.txt
PORT   ?= $(or $(LOMAS_PORT),8000)
# The admin dashboard: its sources in dashboard/, built by Vite into the admin function's
# package (not kept in git: the build takes seconds), from npm packages pinned in its lock.
UI        := functions/admin/chalicelib/ui/index.html
UI_SOURCE := dashboard/index.html dashboard/vite.config.js dashboard/package-lock.json \
	$(wildcard dashboard/src/*)
NODE_STAMP := dashboard/node_modules/.installed
# Vite 8 runs on Node.js ^20.19 or >=22.12 (Debian 13's nodejs is 20.19; Debian 12's, 18, is
# too old): without one, `make run` and `make test` go on without the dashboard, saying so.
NODE_OK := $(shell command -v npm >/dev/null 2>&1 && node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit((a === 20 && b >= 19) || (a === 22 && b >= 12) || a > 22 ? 0 : 1)' 2>/dev/null && echo yes)
NO_NODE := The admin dashboard needs Node.js 20.19+ or 22.12+ with npm (Debian 13: apt-get install nodejs npm)

.PHONY: install run test lint bench sam-validate openapi dashboard ui clean

# What running needs (the server, the client, the ml engines: about 1.6 GB); then what the
# tests add (the dev tools, Spark, the client's extras: about 1.3 GB more).
$(RUN_STAMP): pyproject.toml client/pyproject.toml requirements/constraints.txt requirements/ml-nodeps.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 13) else "Python >= 3.13 is needed (pyenv reads .python-version); set PYTHON=python3.13")'
	@echo "Installing what Lomas needs to run into $(VENV)/ (about 1.6 GB; 1 to 3 minutes the first time)"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -c requirements/constraints.txt -e ./client -e '.[ml]'
	$(BIN)/python -m pip install -q --no-deps -c requirements/constraints.txt -r requirements/ml-nodeps.txt
	@touch $(RUN_STAMP)

$(STAMP): $(RUN_STAMP)
	@echo "Installing the test tools into $(VENV)/ (about 1.3 GB more; 1 to 2 minutes the first time)"
	$(BIN)/python -m pip install -q -c requirements/constraints.txt -e './client[oidc,sklearn]' -e '.[dev,spark,ml]'
	@touch $(STAMP)

$(NODE_STAMP): dashboard/package.json dashboard/package-lock.json
	@test "$(NODE_OK)" = yes || { echo "$(NO_NODE)"; exit 1; }
	cd dashboard && npm ci --prefer-offline --no-audit --no-fund --loglevel=error
	@touch $(NODE_STAMP)

$(UI): $(NODE_STAMP) $(UI_SOURCE)
	cd dashboard && npx --no-install vite build --logLevel warn

$(SAM_STAMP): requirements/sam-cli.txt
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install -q -r requirements/sam-cli.txt
	@touch $(SAM_STAMP)

$(WHEELS_STAMP): requirements/admin-function.txt requirements/constraints.txt $(STAMP)
	$(BIN)/python -m pip download -q -d $(WHEELS) $(LAMBDA_WHEEL) -r requirements/admin-function.txt
	$(BIN)/python -m pip download -q -d $(WHEELS) $(LAMBDA_WHEEL) --no-deps chalice
	@touch $(WHEELS_STAMP)

install: $(STAMP)  ## only create .venv/ with the pinned dependencies

dashboard: $(UI)  ## build the admin dashboard (served at /admin/ui) when its sources changed

ifeq ($(NODE_OK),yes)
ui: $(UI)
else
ui:
	@echo "$(NO_NODE); going on without it (/admin/ui says so)."
endif

run: $(RUN_STAMP) ui  ## start Lomas on http://127.0.0.1:$(PORT) with the embedded store and demo content
	LOMAS_DEV_MODE=true LOMAS_PORT=$(PORT) $(BIN)/lomas-serve

test: $(STAMP) $(SAM_STAMP) $(WHEELS_STAMP) ui lint  ## lint, then the whole test suite
	@$(BIN)/python -c 'import pyspark' 2>/dev/null || { echo "pyspark is missing from $(VENV): rm $(STAMP) and run make test again"; exit 1; }
	SAM_CLI_TELEMETRY=0 $(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check shared functions client tests bench examples localstack
	$(BIN)/lint-imports
	$(BIN)/mypy shared/lomas client/lomas_client client/lomas_contract

# BENCH_ARGS=--no-peer skips the peer; BENCH_ARGS=--record FITS_ARGS=--record keep the run in bench/results/.
bench: $(STAMP)  ## the benchmark suite into build/bench/, with the published Lomas 0.4.1 in .venv-peer/
	$(BIN)/python bench/suite.py $(BENCH_ARGS)
	$(BIN)/python bench/fits.py $(FITS_ARGS)

openapi: $(STAMP)  ## regenerate docs/openapi.json from the route table and the wire models
	$(BIN)/python -m functions.common.openapi > docs/openapi.json

sam-validate: $(SAM_STAMP)  ## sam validate --lint on infra/sam/template.yaml (offline)
	SAM_CLI_TELEMETRY=0 $(SAM_VENV)/bin/sam validate --lint --template infra/sam/template.yaml

clean:
	rm -rf $(VENV) $(SAM_VENV) .venv-peer .pytest_cache .mypy_cache .ruff_cache dashboard/node_modules \
		functions/admin/chalicelib/ui
