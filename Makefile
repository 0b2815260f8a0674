# Two commands for a fresh machine: `make run` and `make test` (see README.md).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test

.PHONY: run test lint types contracts unit install bench screenshots clean sdk mutation

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt -e .
	touch $@

$(TEST_STAMP): $(STAMP)
	$(BIN)/pip install -q -c constraints.txt -e '.[test]'
	touch $@

install: $(STAMP)

# Starts the service on SQLite in ./var with demo data; prints the URL and a token.
run: $(STAMP)
	$(BIN)/addvalue demo --users 50 --days 14 --if-empty
	$(BIN)/addvalue serve --print-token

lint: $(TEST_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check domain application adapters entrypoints tests bench

types: $(TEST_STAMP)
	$(BIN)/mypy

contracts: $(TEST_STAMP)
	$(BIN)/lint-imports

unit: $(TEST_STAMP)
	$(BIN)/pytest -q tests/unit

# Lint, types, layer contracts, then the whole suite (PostgreSQL tests run when
# ADDVALUE_TEST_POSTGRES_URL is set, as .ci/run does).
test: $(TEST_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check domain application adapters entrypoints tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/pytest -q -n 2 --dist loadfile

# The TypeScript SDK: locked dependencies, type check (with the catalog's type tests), its tests, the build.
sdk:
	cd sdk && npm ci --no-audit --no-fund && npm run typecheck && npm test && npm run build

# Mutation testing of the domain's rules (about 15 min on 2 cores); the score is in docs/architecture.md.
mutation: $(TEST_STAMP)
	$(BIN)/pip install -q mutmut==3.8.1
	rm -rf mutants
	$(BIN)/mutmut run --max-children 2
	$(BIN)/mutmut results

bench: $(TEST_STAMP)
	$(BIN)/python bench/ingest.py

# Each dashboard page, desktop and 390 px wide, into docs/screenshots/ (needs /usr/bin/chromium).
screenshots: $(TEST_STAMP)
	PYTHONPATH=. $(BIN)/python scripts/screenshots.py

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache sdk/node_modules sdk/dist
