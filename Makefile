# The two commands of the README: `make demo` and `make test`. Both set everything up themselves.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
UV     := $(BIN)/uv

.PHONY: install demo test test-fast lint lock bench clean-data

$(STAMP): requirements.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	@touch $(STAMP)

install: $(STAMP)

## Generate the demo CRM source and run the whole pipeline through real Airflow (embedded default).
demo: install
	$(BIN)/crmwh demo run

## The whole test suite.
test: install
	$(BIN)/python -m pytest

test-fast: install
	$(BIN)/python -m pytest -m "not slow and not airflow and not spark and not browser" -x -q

lint: install
	$(BIN)/ruff check .

## Re-resolve the lock after changing pyproject.toml (needs uv: installed into the venv on demand).
lock:
	@test -x $(UV) || $(BIN)/python -m pip install --quiet uv
	$(UV) lock --python 3.11
	$(UV) export --all-extras --no-emit-project --python 3.11 --format requirements-txt -o requirements.lock

bench: install
	$(BIN)/python benchmarks/run_all.py

clean-data:
	rm -rf data
