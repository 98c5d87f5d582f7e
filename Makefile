# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
PY     := $(VENV)/bin/python
PY_STAMP   := $(VENV)/.installed
CHECKOV    := .venv-checkov
CHECKOV_STAMP := $(CHECKOV)/.installed
NODE_STAMP := node_modules/.installed
PY_REQS := requirements.txt requirements-dev.txt samples/churn/environment/requirements.txt devhost/pyproject.toml

.PHONY: setup test test-fast lint demo run bench clean

setup: $(PY_STAMP) $(NODE_STAMP)

$(PY_STAMP): $(PY_REQS)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $@

$(CHECKOV_STAMP): requirements-checkov.txt
	@test -x $(CHECKOV)/bin/python || $(PYTHON) -m venv $(CHECKOV)
	$(CHECKOV)/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(CHECKOV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-checkov.txt
	@touch $@

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

lint: setup
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

# The app's tests, then devhost's own (a separate product with its own pytest configuration).
test: setup $(CHECKOV_STAMP)
	$(PY) -m ruff check .
	$(PY) -m mypy
	$(CHECKOV)/bin/checkov --config-file infra/.checkov.yaml
	$(PY) -m pytest
	cd devhost && DEVHOST_NODE_BIN=$(CURDIR)/node_modules/.bin ../$(PY) -m pytest

# The local stack on 127.0.0.1: Azurite :10000, endpoint server :8501, devhost :7071 (state in .local/).
# FUNCTIONS_MASTER_KEY, if set, is devhost's master key (and the lifecycle topic key).
run: setup
	$(PY) -m devstack.stack run

# The main job: the local stack plus four scenarios through the real triggers (see README, "The demo").
demo: setup
	$(PY) -m devstack.demo

test-fast: setup
	$(PY) -m pytest -m "not slow"
	cd devhost && ../$(PY) -m pytest -m "not slow"

clean:
	rm -rf .devhost .local .pytest_cache
