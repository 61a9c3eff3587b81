# The README's two commands: `make demo` and `make test`. Both install first when needed.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CORPUS ?= ../shared/corpus

.PHONY: install test lint demo bench clean

install: $(STAMP)

$(STAMP): pyproject.toml requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements.txt -e '.[dev]'
	touch $(STAMP)

lint: install
	$(BIN)/ruff check .

test: install lint
	$(BIN)/python -m pytest

demo: install
	$(BIN)/tap365 demo --corpus $(CORPUS)

bench: install
	$(BIN)/python bench/run_all.py --corpus $(CORPUS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
