# Sluice: developer and CI entry points.
#
#   make run     install what the app needs, migrate the database, serve on $PORT (default 3000)
#   make test    install what the tests need (apt, pip, npm), then ruff and pytest
#   make lint    ruff only
#   make clean   caches, node_modules, static/vendor (make distclean: the venv too)
#
# Every install step is skipped when nothing changed (stamp files keyed on sha256 of the inputs).

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
PORT ?= 3000
# pytest-xdist workers: "0" runs in one process. Each worker starts its own Redis/PostgreSQL/MariaDB.
PYTEST_WORKERS ?= 2
PYTEST_ARGS ?=

export PYTHON VENV

.PHONY: help run test lint clean distclean deps deps-dev vendor system-deps migrate

help:
	@sed -n 's/^#   //p' $(firstword $(MAKEFILE_LIST))

deps:
	@scripts/ensure_venv.sh runtime

deps-dev:
	@scripts/ensure_venv.sh dev

vendor:
	@scripts/vendor_static.sh

system-deps:
	@scripts/ensure_system_packages.sh test

migrate: deps
	$(VENV)/bin/flask --app wsgi db upgrade

run: deps vendor migrate
	PORT=$(PORT) exec $(VENV)/bin/gunicorn -c gunicorn.conf.py wsgi:app

lint: deps-dev
	$(VENV)/bin/ruff check .

# ruff and pytest both run, so one failure does not hide the other; either fails the target.
# pytest exits 5 when it collected no test: that is a failure too.
test: system-deps deps-dev vendor
	@rc=0; \
	echo "[test] ruff check ."; \
	$(VENV)/bin/ruff check . || rc=$$?; \
	if [[ "$(PYTEST_WORKERS)" != "0" ]]; then xdist="-n $(PYTEST_WORKERS)"; else xdist=""; fi; \
	echo "[test] pytest $$xdist $(PYTEST_ARGS)"; \
	SLUICE_REQUIRE_SERVICES=1 $(VENV)/bin/pytest $$xdist $(PYTEST_ARGS) || prc=$$?; \
	prc=$${prc:-0}; \
	if [[ $$prc -eq 5 ]]; then echo "[test] FAILED: pytest collected no tests"; fi; \
	if [[ $$rc -ne 0 ]]; then echo "[test] FAILED: ruff check (exit $$rc)"; fi; \
	if [[ $$prc -ne 0 && $$prc -ne 5 ]]; then echo "[test] FAILED: pytest (exit $$prc)"; fi; \
	if [[ $$rc -ne 0 || $$prc -ne 0 ]]; then exit 1; fi

clean:
	rm -rf .pytest_cache .ruff_cache .mypy_cache .hypothesis htmlcov .coverage .coverage.* \
	       node_modules static/vendor test-results test-output
	find . -path ./$(VENV) -prune -o -type d -name __pycache__ -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)
