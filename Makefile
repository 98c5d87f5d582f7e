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
# side whatever -j the caller gave. The Python ones with uv (pinned; ~15 s instead of pip's ~50 s for .venv), pip
# where uv cannot run, each with its lock file as constraints, so both installers give the same environment.
# Neither byte-compiles at install: Python compiles each module on first import and caches it, so only what runs
# is compiled (not every module of azure-ai-ml, checkov's boto3...). That cache needs PYTHONDONTWRITEBYTECODE
# unset (some images set it, this machine's does): with it, every process compiled every module it imported, every
# time (7 of a training job's 14 s of CPU), so nothing make starts inherits it.
PIP_INSTALL := -m pip install --quiet --disable-pip-version-check
unexport PYTHONDONTWRITEBYTECODE
setup:
	@$(MAKE) --no-print-directory -j3 $(PY_STAMP) $(NODE_STAMP)

UV_VERSION := 0.13.8
# $(call install,VENV,REQUIREMENTS,LOCK)
install = $(1)/bin/python $(PIP_INSTALL) uv==$(UV_VERSION) \
	&& $(1)/bin/python -m uv pip install --quiet --python $(1)/bin/python -r $(2) -c $(3) \
	|| { $(1)/bin/python $(PIP_INSTALL) --upgrade pip && $(1)/bin/python $(PIP_INSTALL) --no-compile -r $(2) -c $(3); }

$(PY_STAMP): $(PY_REQS) requirements-lock.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(call install,$(VENV),requirements-dev.txt,requirements-lock.txt)
	@touch $@

$(CHECKOV_STAMP): requirements-checkov.txt requirements-checkov-lock.txt
	@test -x $(CHECKOV)/bin/python || $(PYTHON) -m venv $(CHECKOV)
	$(call install,$(CHECKOV),requirements-checkov.txt,requirements-checkov-lock.txt)
	@touch $@

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

lint: setup
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

# The app's tests on PYTEST_WORKERS pytest-xdist workers (default 3 on 2 cores): most of the slow tests wait on
# processes, timers and HTTP (a minute tick, a training job, a ramp's bake), so a third worker fills the cores
# while two wait. tests/conftest.py schedules them: a module is one unit of work on one worker, in order
# (module-scoped stacks are built once), the e2e modules whose gates judge live latency under load (LIVE_STACK)
# one after another on one worker, the longest units (SLOWEST_FIRST) handed out first, and behind a long one a
# worker is queued a light unit, not the next long one. PYTEST_WORKERS=0 runs them in one process.
# Beside them, niced, one after another: mypy, checkov and devhost's own tests (a separate product with its own
# pytest configuration, in one process), about a minute and a half of mostly one core that used to run before
# and after the app's; make -Oline keeps each line of the two streams whole.
PYTEST_WORKERS ?= 3
# Three workers on two cores, each starting stacks and jobs: one OpenMP thread per process (xgboost; OpenBLAS reads
# it too) unless the caller set one, or idle threads spin-wait for the core another process holds (a training job
# used 22% more CPU with the other core busy: 5.5 s against 4.3 s).
test test-app test-side: export OMP_NUM_THREADS ?= 1
PYTEST_XDIST = -n $(PYTEST_WORKERS) --dist loadfile
test:
	@$(MAKE) --no-print-directory -j3 $(PY_STAMP) $(NODE_STAMP) $(CHECKOV_STAMP)
	$(PY) -m ruff check .
	@$(MAKE) --no-print-directory -j2 -Oline test-app test-side

.PHONY: test-app test-side typecheck infracheck
test-app:
	$(PY) -m pytest $(PYTEST_XDIST)
test-side:
	nice -n 10 $(PY) -m mypy
	nice -n 10 $(CHECKOV)/bin/checkov --config-file infra/.checkov.yaml
	cd devhost && DEVHOST_NODE_BIN=$(CURDIR)/node_modules/.bin nice -n 10 ../$(PY) -m pytest
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
