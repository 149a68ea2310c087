# Backchannel: `make demo` runs the product, `make test` runs every test. Both set up .venv first.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml constraints.txt 2>/dev/null | sha1sum | cut -c1-10)

.PHONY: demo serve test lint bench audit lock system-deps clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml constraints.txt
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[test,bench]'
	rm -f $(VENV)/.installed-* && touch $(STAMP)

demo: $(STAMP)
	$(BIN)/backchannel demo

serve: $(STAMP)
	$(BIN)/backchannel serve

# Debian packages the tests need: Chromium (+ npm for axe-core) for the browser tests, poppler for PDF checks.
system-deps:
	@missing=""; \
	command -v chromium >/dev/null || missing="$$missing chromium chromium-driver"; \
	command -v npm >/dev/null || missing="$$missing npm"; \
	command -v pdftoppm >/dev/null || missing="$$missing poppler-utils"; \
	fc-list 2>/dev/null | grep -qi dejavu || missing="$$missing fonts-dejavu-core"; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	  else sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; fi; \
	fi

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Twice: embedded (SQLite + memory), then the behaviour tests in scale-out mode (PostgreSQL + Redis)
# when .ci/run or the developer sets BACKCHANNEL_TEST_DATABASE_URL / BACKCHANNEL_TEST_REDIS_URL: the app,
# the scale-out processes, and the pages and browser tests.
test: $(STAMP) system-deps lint
	env -u BACKCHANNEL_TEST_DATABASE_URL -u BACKCHANNEL_TEST_REDIS_URL $(BIN)/pytest
	@if [ -n "$$BACKCHANNEL_TEST_DATABASE_URL$$BACKCHANNEL_TEST_REDIS_URL" ]; then \
	  echo "== scale-out: $$BACKCHANNEL_TEST_DATABASE_URL + $$BACKCHANNEL_TEST_REDIS_URL"; \
	  $(BIN)/pytest tests/app tests/scaleout tests/web; \
	fi

# Every benchmark, one table (a few minutes); `make bench ARGS=--full` for the whole matrix (much longer).
bench: $(STAMP)
	$(BIN)/python -m bench $(ARGS)

# Known vulnerabilities in the pinned dependencies (constraints.txt), release by release. pip-audit asks
# PyPI's per-release address or OSV, neither of which answers on the build machines (every package comes back
# "not found"), so this is its own target; --strict makes that a failure instead of a silent pass. `make test`
# audits the pins through PyPI's project address instead (tests/hardening/test_dependency_audit.py).
audit: $(STAMP)
	$(BIN)/pip-audit --strict -r constraints.txt --no-deps --disable-pip --progress-spinner off

# Re-pin every dependency after changing pyproject.toml.
lock: $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[test,bench]'
	$(BIN)/python -m pip freeze --exclude-editable | grep -v '^backchannel' > constraints.txt

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
