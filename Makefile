# Set-up and entry points. Every target installs what it needs, so a fresh Debian 12 machine
# (as root) only needs `make run` or `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
APT_STAMP := $(VENV)/.apt-stamp
PIP_STAMP := $(VENV)/.pip-stamp
PYTEST_ARGS ?=

.PHONY: all deps run test lint bench clean probe

all: deps

$(BIN)/python:
	$(PYTHON) -m venv $(VENV) || { tools/ensure-apt.sh && $(PYTHON) -m venv $(VENV); }

$(APT_STAMP): tools/apt-packages.txt tools/ensure-apt.sh | $(BIN)/python
	tools/ensure-apt.sh
	touch $@

$(PIP_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $@

deps: $(APT_STAMP) $(PIP_STAMP)
	@tools/ensure-apt.sh

probe: deps
	@if [ -f src/rae/syscall/probe/Makefile ]; then $(MAKE) -s -C src/rae/syscall/probe; fi

run: deps probe
	$(BIN)/rae run

lint: deps
	$(BIN)/ruff check --no-cache src tests bench

test: deps probe
	$(BIN)/ruff check --no-cache src tests bench
	$(BIN)/pytest $(PYTEST_ARGS)

bench: deps probe
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .ruff_cache
