# LearnLab: `make run` starts everything; `make test` runs the whole suite.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# Django 6 needs Python 3.12+. Use PYTHON if given, else the newest suitable interpreter found.
PYTHON ?= $(shell for p in python3.14 python3.13 python3.12 python3 \
	$$(ls -d $$HOME/.pyenv/versions/3.1[2-9]*/bin/python3 2>/dev/null | sort -rV); do \
	  $$p -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null && { command -v $$p || echo $$p; } && break; \
	done)
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
# The scale path's services on this machine; tests against them skip when absent (unless CI).
TEST_POSTGRES_URL ?= postgres://127.0.0.1:5432/test
TEST_REDIS_URL ?= redis://127.0.0.1:6379/15

.PHONY: help run dev test test-scale lint format bench clean

help:
	@echo "make run    start LearnLab (sandbox server, task cluster, web) on http://localhost:$(PORT)/"
	@echo "make dev    the same with Django's autoreloading runserver and DEBUG on"
	@echo "make test   install the test extras and run every test (browser tests included)"
	@echo "make lint   ruff check and format --check"
	@echo "make bench  the gate benchmark (bench/gate.py); the others: see bench/README.md"

$(BIN)/python:
	@if [ -z "$(PYTHON)" ]; then \
	  echo "LearnLab needs Python 3.12 or newer (Django 6). Install python3.12 or python3.13" \
	       "(Debian/Ubuntu: apt-get install python3.12 python3.12-venv; or pyenv install 3.13)," \
	       "or run: make PYTHON=/path/to/python3.12 ..."; exit 1; fi
	@echo "[learnlab] 1/3 creating $(VENV) with $(PYTHON)"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# pip's own output is the progress: the first install fetches every dependency (minutes).
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	@echo "[learnlab] 2/3 installing LearnLab and its dependencies into $(VENV)" \
	  "(the first time takes a few minutes; later runs skip this)"
	$(BIN)/pip install --progress-bar on -e .
	@touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/.installed
	@echo "[learnlab] installing the test extras (pytest, Playwright, ruff)"
	$(BIN)/pip install --progress-bar on -e ".[test]"
	@touch $@

# The supervisor stops everything on Ctrl-C, and when make alone gets SIGINT or SIGTERM
# (learnlab/site/supervisor.py, ParentMake).
run: $(VENV)/.installed
	@echo "[learnlab] 3/3 migrating the database, collecting static files, starting the stack"
	PORT=$(PORT) $(BIN)/python manage.py runstack

dev: $(VENV)/.installed
	PORT=$(PORT) $(BIN)/python manage.py runstack --dev

# Two workers, a test file each at a time (a file's tests share their fixtures); the scale
# path runs after, alone, since its tests share one PostgreSQL database and one Redis.
test: $(VENV)/.installed-test
	$(BIN)/python -m pytest -n 2 --dist loadfile
	$(MAKE) --no-print-directory test-scale

# The database and task tests again, on PostgreSQL and the Redis broker (see DEVELOPERS.md).
test-scale: $(VENV)/.installed-test
	DATABASE_URL=$(TEST_POSTGRES_URL) LEARNLAB_REDIS_URL=$(TEST_REDIS_URL) \
	  $(BIN)/python -m pytest -m services -p no:randomly

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(VENV)/.installed-test
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(VENV)/.installed-test
	$(BIN)/python bench/gate.py

clean:
	rm -rf $(VENV) data/static
