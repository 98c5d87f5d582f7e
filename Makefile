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

# The environments are independent and their installs mostly wait on files, not the CPU: build them side by
# side whatever -j the caller gave. --no-compile: Python byte-compiles each module on first import, so only
# what runs is compiled (pip would compile every module of azure-ai-ml, checkov's boto3...).
PIP_INSTALL := -m pip install --quiet --disable-pip-version-check
setup:
	@$(MAKE) --no-print-directory -j3 $(PY_STAMP) $(NODE_STAMP)

$(PY_STAMP): $(PY_REQS)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) $(PIP_INSTALL) --upgrade pip
	$(PY) $(PIP_INSTALL) --no-compile -r requirements-dev.txt
	@touch $@

$(CHECKOV_STAMP): requirements-checkov.txt
	@test -x $(CHECKOV)/bin/python || $(PYTHON) -m venv $(CHECKOV)
	$(CHECKOV)/bin/python $(PIP_INSTALL) --upgrade pip
	$(CHECKOV)/bin/python $(PIP_INSTALL) --no-compile -r requirements-checkov.txt
	@touch $@

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

lint: setup
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

# The app's tests on PYTEST_WORKERS pytest-xdist workers (default 2): most of its slow tests wait on processes,
# timers and HTTP, so two workers overlap them on two cores. tests/conftest.py schedules them: a module is one
# unit of work on one worker, in order (module-scoped stacks are built once), and the e2e modules whose gates
# judge live latency under load (LIVE_STACK) run one after another on one worker. PYTEST_WORKERS=0 runs them in
# one process. Then devhost's own (a separate product with its own pytest configuration) in one process: a
# minute, which two workers did not shorten. mypy and checkov run side by side.
PYTEST_WORKERS ?= 2
PYTEST_XDIST = -n $(PYTEST_WORKERS) --dist loadfile
test:
	@$(MAKE) --no-print-directory -j3 $(PY_STAMP) $(NODE_STAMP) $(CHECKOV_STAMP)
	$(PY) -m ruff check .
	@$(MAKE) --no-print-directory -j2 typecheck infracheck
	$(PY) -m pytest $(PYTEST_XDIST)
	cd devhost && DEVHOST_NODE_BIN=$(CURDIR)/node_modules/.bin ../$(PY) -m pytest

.PHONY: typecheck infracheck
typecheck:
	$(PY) -m mypy
infracheck:
	$(CHECKOV)/bin/checkov --config-file infra/.checkov.yaml

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
