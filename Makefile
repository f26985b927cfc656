# Two commands do all the set-up on a fresh machine:
#   make run    create .venv if needed, install, run the main job (`causalvae run`)
#   make test   create .venv if needed, install, add the system tools some tests use, run the whole test suite
# `make env` is the set-up alone: .venv, and Graphviz's `dot` and Chromium via apt-get when run as root
# (.ci/system-deps; without root the tests that need them skip, except under CI=true, where they fail).
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed

.PHONY: run test env system-deps clean bench

env: $(STAMP) system-deps

system-deps:
	@.ci/system-deps

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt "torch==2.13.0"
	$(BIN)/python -m pip install -q -c constraints.txt -e ".[dev]"
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/causalvae run --out runs/default

test: env
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) runs .pytest_cache
