# The README's two commands: `make demo` and `make test`. Both install first when needed.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed
CORPUS ?= ../shared/corpus
# Debian packages the tests drive for real: headless Chromium for page screenshots and, through
# chromium-driver, the console's browser tests; mingw-w64 to
# build the Windows test programs the sandbox runs; and the bench's peer, SpamAssassin
# (bench/pipeline_vs_spamassassin.py); wrk loads the redirector (bench/redirector_bench.py).
APT_PACKAGES ?= chromium chromium-driver mingw-w64 spamassassin wrk

.PHONY: install system-deps node-deps test lint demo bench train package clean

install: $(STAMP) $(NODE_STAMP)

$(STAMP): pyproject.toml requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements.txt -e '.[dev]'
	touch $(STAMP)

# Azurite (the Azure Storage emulator) is the project's own npm dev dependency; so is axe-core,
# which the console's browser tests inject into every page.
node-deps: $(NODE_STAMP)

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $(NODE_STAMP)

# Installs the Debian packages named in $$missing when running as root (CI, a fresh Debian
# machine); otherwise says what to install, and why ($(1)).
apt_install = if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian packages:$$missing"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null) \
	      || echo "warning: could not install$$missing"; \
	  else echo "note: install$$missing with apt-get $(1)"; fi; \
	fi

# The tests that need these packages skip, saying what is missing, when they are not there.
system-deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	$(call apt_install,for the browser tests and the benches)

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy tap_core connectors function_app.py

test: install system-deps lint
	$(BIN)/python -m pytest

# Ends with the console's pages screenshotted into reports/console/ and its URL printed; from a
# terminal the stack stays up for a person to look until Ctrl-C (KEEP=0: stop right away).
demo: install system-deps
	$(BIN)/tap365 demo --corpus $(CORPUS) --report reports/demo.json --screenshots reports/console \
	  $$( [ -t 0 ] && [ "$(KEEP)" != 0 ] && echo --keep )

# The message model's and the page scorer's weights, model cards and reproduction samples
# (tap_core/data/detect/), learnt from the labelled training mail and pages; deterministic: the
# same corpus gives the same weights.
train: install
	$(BIN)/tap365 train --corpus $(CORPUS)/train --out tap_core/data/detect
	$(BIN)/tap365 train-pages --corpus $(CORPUS) --out tap_core/data/detect

bench: install system-deps
	$(BIN)/python bench/run_all.py --corpus $(CORPUS)

# The Flex Consumption deployment zip (infra/docs/deploy.md).
package: install
	$(BIN)/python infra/tools/package.py --out dist/tap365.zip

clean:
	rm -rf $(VENV) node_modules .pytest_cache .ruff_cache .mypy_cache dist
