# Two commands: `make run` (the whole stack, locally) and `make test` (the whole suite).
# Both create .venv from the pinned lock files and start an embedded PostgreSQL and Redis unless
# DATABASE_URL / REDIS_URL are set.

PYTHON ?= python3
VENV := .venv
VPY := $(VENV)/bin/python
PORT ?= 8000

.PHONY: run test venv up down lock clean

$(VENV)/.installed: requirements/dev.txt sdk/python/pyproject.toml
	test -x $(VPY) || $(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install --quiet --upgrade pip
	$(VPY) -m pip install --quiet -r requirements/dev.txt
	$(VPY) -m pip install --quiet --no-deps -e sdk/python
	touch $@

venv: $(VENV)/.installed

run: venv
	PORT=$(PORT) $(VPY) -m analytics_project.devstack run

test: venv
	$(VPY) -m analytics_project.devstack test -- $(PYTEST_ARGS)

up: venv
	$(VPY) -m analytics_project.devstack up

down: venv
	$(VPY) -m analytics_project.devstack down

# Regenerate the lock files from pyproject.toml.
lock: venv
	$(VPY) -m pip install --quiet uv
	$(VENV)/bin/uv pip compile pyproject.toml --python-version 3.11 -o requirements/base.txt
	$(VENV)/bin/uv pip compile pyproject.toml --extra dev --python-version 3.11 -o requirements/dev.txt

clean:
	-$(VPY) -m analytics_project.devstack down
	rm -rf var
