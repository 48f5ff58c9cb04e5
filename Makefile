# Dosewise: `make run` serves the whole system on http://127.0.0.1:8000; `make test` runs the whole suite.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PKGS := shared services/inference services/api services/trainer
PYPROJECTS := $(addsuffix /pyproject.toml,$(PKGS))

.PHONY: install run test lint policies bench clean

$(STAMP): $(PYPROJECTS) requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip 2>&1 | grep -v 'is ignored' || true
	$(BIN)/pip install -q $(addprefix -e ,$(PKGS)) -r requirements-dev.txt 2>&1 | grep -v 'is ignored' || true
	$(BIN)/python -c "import dosewise, dosewise_api, dosewise_inference, dosewise_trainer, torch, onnxruntime"
	touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/dosewise up

test: install
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) var .pytest_cache

# Rebuild the shipped policies (cross-validation, quick DQN, feature stats, HyperScore calibration): ~15 min on 2 cores.
policies: install
	$(BIN)/python -m dosewise_trainer.ship
