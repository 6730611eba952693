# Two entry points (see README): `make repro` runs the pipeline, `make test` runs the tests.
# Both create the virtual environment first when it is missing or out of date.
VENV    ?= .venv
PYTHON  ?= python3
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
# DVC runs stage commands through the shell: put the venv first so `python` is ours.
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: setup repro test report clean-venv

$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements.txt
	$(BIN)/python -m pip install -q --no-deps --no-build-isolation -e .
	touch $(STAMP)

setup: $(STAMP)

repro: setup
	dvc repro

test: setup
	python -m pytest -q $(PYTEST_ARGS)

clean-venv:
	rm -rf $(VENV)

report: setup
	python -m ftpipe.report --out reports
