# user-failure-stats: `make help` lists the targets.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PARAMS ?= parameters/default.yaml
AZURE_BUILD ?= build/azure

.DEFAULT_GOAL := help
FLOORS_VENV ?= .venv-floors
# Test workers (pytest-xdist): one per logical CPU; WORKERS=0 runs the tests in one process.
WORKERS ?= logical
PYTEST_ARGS := tests --nbmake notebooks -n $(WORKERS) --dist loadfile
EXTRAS := report,demo,lab,test,dev,serve

.PHONY: help install lock floors demo run check test lint format mutate docs lab azure azurite bench bench-rows bench-users bench-trend clean

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  make %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(STAMP): requirements.txt requirements.lock pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required, found " + sys.version.split()[0])'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet "$$(grep -m1 '^uv==' requirements.lock)"
	$(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python -r requirements.txt
	@touch $(STAMP)

install: $(STAMP) ## Create .venv and install the package and its tools at the locked versions

lock: $(STAMP) ## Re-resolve requirements.lock from pyproject.toml (newest allowed versions)
	$(BIN)/uv pip compile pyproject.toml --extra report --extra demo --extra lab --extra test \
		--extra dev --extra s3 --extra mutate --extra serve --universal --python-version 3.11 --quiet -o requirements.lock

floors: $(STAMP) ## Run the tests on the lowest versions pyproject.toml allows (in .venv-floors)
	rm -rf $(FLOORS_VENV)
	$(BIN)/uv venv --quiet --seed --python $(BIN)/python $(FLOORS_VENV)
	$(BIN)/uv pip install --quiet --compile-bytecode --python $(FLOORS_VENV)/bin/python \
		--resolution lowest-direct \
		-e '.[$(EXTRAS)]'
	$(FLOORS_VENV)/bin/python -m pytest $(PYTEST_ARGS)

demo: $(STAMP) ## Start the bundled PostgreSQL with synthetic data and write a report to reports/
	$(BIN)/user-failure-stats demo

run: $(STAMP) ## Run the report against DB_URL from .env (PARAMS=parameters/X.yaml)
	$(BIN)/user-failure-stats run -f $(PARAMS)

check: $(STAMP) ## Check the configuration, database, tables and window (PARAMS=...)
	$(BIN)/user-failure-stats check -f $(PARAMS)

azurite: ## Install the Azure Blob Storage emulator the publishing tests use (needs Node.js and npm)
	npm ci --prefix .ci/azurite --no-audit --no-fund --loglevel=error

test: $(STAMP) ## Run the tests against a real PostgreSQL, and execute the notebook (WORKERS=N)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP) ## Check style with ruff, the layers of imports, and notebooks without outputs
	$(BIN)/ruff check src tests notebooks
	$(BIN)/lint-imports --no-cache
	$(BIN)/ruff format --check src tests
	$(BIN)/nbstripout --verify notebooks/*.ipynb

format: $(STAMP) ## Fix what ruff can fix, and strip notebook outputs
	$(BIN)/ruff check --fix src tests notebooks
	$(BIN)/ruff format src tests
	$(BIN)/nbstripout notebooks/*.ipynb

mutate: $(STAMP) ## Mutation testing of the statistics, windows, text and query modules (long; not in CI)
	$(BIN)/python -m pip install --quiet -c requirements.lock mutmut
	$(BIN)/python -m tests.mutate

docs: $(STAMP) ## Write docs/cli.md, the command-line reference, from --help
	$(BIN)/python -m tests.cli_reference

lab: $(STAMP) ## Open JupyterLab on the notebook, in a Lab that browses notebooks/ and reports/
	$(BIN)/jupyter lab $(if $(filter 0,$(shell id -u)),--allow-root) --ServerApp.root_dir="$(CURDIR)" \
		--LabApp.default_url=/lab/tree/notebooks/user_failure_rates.ipynb $(LAB_ARGS)

bench: bench-rows bench-users bench-trend ## Run every benchmark below (an hour or more; not in CI)

bench-rows: $(STAMP) ## Benchmark 1 and 10 million rows against the naive approach (minutes)
	$(BIN)/python benchmarks/bench.py

bench-users: $(STAMP) ## Benchmark 2,000 to 1,000,000 users: run, memory, sizes, Chromium (USERS=...)
	$(BIN)/python benchmarks/users.py $(if $(USERS),--users $(USERS))

bench-trend: $(STAMP) ## Benchmark the trend's aggregate on a call log in time order and shuffled
	$(BIN)/python benchmarks/trend.py

azure: $(STAMP) ## Assemble the deployable Azure Functions app in build/azure (AZURE_BUILD=...)
	rm -rf $(AZURE_BUILD)
	mkdir -p $(AZURE_BUILD)
	cp azure/function_app.py azure/host.json azure/requirements.txt azure/.funcignore $(AZURE_BUILD)/
	$(BIN)/uv pip install --quiet --no-deps --target $(AZURE_BUILD) .
	rm -rf $(AZURE_BUILD)/bin $(AZURE_BUILD)/.lock
	find $(AZURE_BUILD) -name __pycache__ -prune -exec rm -rf {} +
	@echo "Deploy with: cd $(AZURE_BUILD) && func azure functionapp publish <app-name>"

clean: ## Remove the virtual environment, caches, build output and the demo database
	rm -rf $(VENV) $(FLOORS_VENV) .pytest_cache .ruff_cache .import_linter_cache .demo build src/*.egg-info
