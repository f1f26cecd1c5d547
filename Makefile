# aidpack: `make demo` and `make test` do every set-up step on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
BYTECODE := $(VENV)/.bytecode-stamp
SOURCES := $(shell find src -name '*.py')
CHROMIUM ?= /usr/bin/chromium

.PHONY: demo test lint typecheck unit bench chromium clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Our own modules compiled ahead, as pip compiles every package it installs: an editable install leaves its sources
# uncompiled, and where PYTHONDONTWRITEBYTECODE is set (as on these machines) every command compiled them all again
# (0.1 s of each `aidpack allocate`: importing it 0.69-0.78 s, 0.56-0.65 s compiled). Again whenever a source changes.
$(BYTECODE): $(STAMP) $(SOURCES)
	$(BIN)/python -m compileall -q src
	touch $(BYTECODE)

## Load the Ukraine winter 2022 scenario into ./aidpack.db, allocate, print the plan, serve the dashboard.
demo: $(BYTECODE)
	$(BIN)/aidpack demo

## Debian's Chromium for the Playwright browser tests (never `playwright install`).
chromium:
	@test -x $(CHROMIUM) || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium >/dev/null; \
	  else sudo apt-get update -qq && sudo apt-get install -y -qq chromium >/dev/null; fi; }

lint: $(STAMP)
	$(BIN)/ruff check src tests bench tools

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(BYTECODE)
	$(BIN)/pytest -q

## The whole suite: ruff, mypy --strict, pytest (PostgreSQL too when AIDPACK_TEST_POSTGRES_URL is set).
test: $(STAMP) chromium lint typecheck unit

bench: $(BYTECODE)
	$(BIN)/python -m bench.run

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache aidpack.db
	find src -name __pycache__ -prune -exec rm -rf {} +
