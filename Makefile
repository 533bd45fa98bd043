# `make run` serves Studio and `make test` runs the suite; both first set up .venv on a fresh machine.
# `make lint` checks style, Django's system checks and that no migration is missing.
SHELL := /bin/bash
VENV := .venv
# Rewritten after each install, so the environment is refreshed whenever pyproject.toml is newer.
STAMP := $(VENV)/.studio-installed
PYTEST_ARGS ?=
# The browser tests drive Debian's chromium (Playwright's own browser downloads are not reachable here).
CHROMIUM := /usr/bin/chromium
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
UV := $(or $(shell command -v uv 2>/dev/null),$(HOME)/.local/bin/uv)

# The container runtime's tests need an engine: scripts/podman-setup.sh installs and starts podman's Docker API (root)
# and writes the variables that point at it into $(PODMAN_ENV). Without it they skip, except under CI, where they fail.
PODMAN_ENV := $(or $(STUDIO_PODMAN_DIR),/var/lib/studio-podman)/env

.PHONY: run test lint setup podman
.DEFAULT_GOAL := run

run: $(STAMP)
	$(VENV)/bin/studio run

test: $(STAMP) $(CHROMIUM) podman
	if [ -f $(PODMAN_ENV) ]; then . $(PODMAN_ENV); fi; $(VENV)/bin/pytest $(PYTEST_ARGS)

# Every check runs even when an earlier one fails, so one pass shows everything to fix.
lint: $(STAMP)
	@status=0; \
	$(VENV)/bin/ruff check . || status=1; \
	$(VENV)/bin/ruff format --check . || status=1; \
	$(VENV)/bin/python manage.py check || status=1; \
	$(VENV)/bin/python manage.py makemigrations --check --dry-run || status=1; \
	exit $$status

setup: $(STAMP)

# Bytecode compiled at install: where PYTHONDONTWRITEBYTECODE is set (as on this project's CI machines) Python never
# writes it, and every process (each web worker, Celery worker, test server) would compile mlflow again: 10 s for
# `import mlflow` instead of 4.
$(STAMP): pyproject.toml | $(VENV)/bin/python
	VIRTUAL_ENV=$(VENV) $(UV) pip install --compile-bytecode -e '.[dev]'
	touch $@

$(VENV)/bin/python: | $(UV)
	$(UV) venv $(VENV) -p 3.11

# Only when uv is not on PATH; Debian's system Python refuses --user installs unless told it may.
$(HOME)/.local/bin/uv:
	python3 -m pip install --user uv || python3 -m pip install --user --break-system-packages uv

podman:
	$(SUDO) bash scripts/podman-setup.sh >/dev/null || echo "podman is not set up: the container tests will not run" >&2

$(CHROMIUM):
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core
