# The two commands: `make run` and `make test`.  Everything else is a step they take.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test venv controlplane lint typecheck layers check unit conformance e2e clean

DEMO := examples/appservice

run: $(STAMP)
	PYTHONPATH=$(DEMO)/src $(BIN)/kubeloop dev appservice_operator.operator:operator \
		--sample $(DEMO)/config/samples/app.example.com_v1_appservice.yaml

test: $(STAMP) controlplane check
	$(BIN)/pytest

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

controlplane: $(STAMP)
	$(BIN)/kubeloop controlplane build

lint: $(STAMP)
	$(BIN)/ruff check src tests examples bench
	$(BIN)/ruff format --check src tests examples bench

typecheck: $(STAMP)
	$(BIN)/mypy

layers: $(STAMP)
	$(BIN)/lint-imports

check: lint typecheck layers

unit: $(STAMP)
	$(BIN)/pytest tests/unit

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
