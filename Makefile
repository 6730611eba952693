# Two entry points (see README): `make repro` runs the pipeline, `make test` runs the tests.
# Both create the virtual environment first when it is missing or out of date.
VENV    ?= .venv
PYTHON  ?= python3
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
# DVC runs stage commands through the shell: put the venv first so `python` is ours.
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: setup repro test report exp-show ci-report study-batch study-peft study-init study-electra-recipe clean-venv

# pip compiles every module it installs one file at a time; compileall compiles the same
# files on every core (74 s -> 23 s + 28 s on the 2-core BF16 box). Like pip, it leaves the
# few files this Python cannot compile (one of torch's test files, Python 3.12 syntax) as
# they are, hence `|| true`.
$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q --no-compile -r requirements.txt
	$(BIN)/python -m compileall -q -j 0 $(VENV)/lib > /dev/null || true
	$(BIN)/python -m pip install -q --no-deps --no-build-isolation -e .
	touch $(STAMP)

setup: $(STAMP)

repro: setup
	dvc repro

# Tests run in parallel (pytest-xdist, one worker per core); tests sharing an expensive
# fixture are one xdist_group, so the fixture is built once.
JOBS ?= auto
test: setup
	python -m pytest -q -n $(JOBS) --dist loadgroup $(PYTEST_ARGS)

clean-venv:
	rm -rf $(VENV)

report: setup
	python -m ftpipe.report --out reports

# The experiments table with the columns people compare (the rest: `dvc exp show`).
EXP_DROP ?= '.*(Created|State|Executor|train/|/step$$|:epoch$$|best_|lr$$|total|missing|per_s|loss|chunks|selected|replaced|_params$$|_pct$$|:method$$|time_s$$|^models/|^predictions/|^data/|plots/metrics$$|breakdown\.|precision$$|recall$$)'
exp-show: setup
	dvc exp show --only-changed --drop $(EXP_DROP)

# What CI posts on a pull request: metrics / params / plots diff against BASE.
BASE ?= main
ci-report: setup
	python -m ftpipe.ci_report --base $(BASE) --out ci-report

# The seed studies (README, "Studies"): DATA=sample|real|hub, SEEDS=1,2,3.
DATA  ?= sample
SEEDS ?= 1,2,3
study-batch study-peft study-init study-electra-recipe: setup
	python -m ftpipe.study $(@:study-%=%) --data $(DATA) --seeds $(SEEDS)
