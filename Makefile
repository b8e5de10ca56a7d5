# The two commands a newcomer needs (see README):
#   make demo   set up .venv and start the web demo on the bundled default weights
#   make test   set up .venv with the dev extras and run the whole test suite
# TORCH picks the PyTorch requirement (e.g. TORCH="torch --index-url https://download.pytorch.org/whl/cpu" for a
# CPU-only wheel elsewhere); the default is the pinned release this project is tested with.
PYTHON ?= python3
VENV   ?= .venv
TORCH  ?= torch==2.13.0
BIN    := $(VENV)/bin

.PHONY: demo test setup setup-dev lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

setup: $(BIN)/python
	$(BIN)/pip install -q $(TORCH)
	$(BIN)/pip install -q -e ".[demo]"

setup-dev: $(BIN)/python
	$(BIN)/pip install -q $(TORCH)
	$(BIN)/pip install -q -e ".[demo,notebooks,dev]"

demo: setup
	$(BIN)/gifnet demo

test: setup-dev
	$(BIN)/python -m pytest -q --durations=20

lint: setup-dev
	$(BIN)/ruff check gifnet tests demo benchmarks

clean:
	rm -rf $(VENV) build dist *.egg-info
