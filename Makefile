# Dosewise: `make run` serves the whole system on http://127.0.0.1:8000; `make test` runs the whole suite.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# clients/python: the client generated from the gateway's OpenAPI document (make openapi), for the e2e tests and integrators
PKGS := shared services/inference services/api services/trainer clients/python
PYPROJECTS := $(addsuffix /pyproject.toml,$(PKGS))
# The client generator's own venv (clients/generator-requirements.txt says why it is not in this one).
GENERATOR := $(VENV)/openapi-generator
GENERATOR_STAMP := $(GENERATOR)/.installed-stamp

.PHONY: install generator run test lint policies bench clean openapi ui-assets browser

# Quiet (@): a person running `make run` reads one line here, then what the services say.
$(STAMP): $(PYPROJECTS) requirements-dev.txt
	@echo "installing Dosewise and its dependencies into $(VENV) (the first time takes a few minutes)"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/pip install -q --upgrade pip 2>&1 | grep -v 'is ignored' || true
	@$(BIN)/pip install -q $(addprefix -e ,$(PKGS)) -r requirements-dev.txt 2>&1 | grep -v 'is ignored' || true
	@$(BIN)/python -c "import dosewise, dosewise_api, dosewise_inference, dosewise_trainer, dosewise_client, torch, onnxruntime"
	@touch $(STAMP)

$(GENERATOR_STAMP): clients/generator-requirements.txt
	@test -x $(GENERATOR)/bin/python || $(PYTHON) -m venv $(GENERATOR)
	@$(GENERATOR)/bin/pip install -q -r clients/generator-requirements.txt 2>&1 | grep -v 'is ignored' || true
	@$(GENERATOR)/bin/openapi-python-client --version >/dev/null && $(GENERATOR)/bin/ruff --version >/dev/null
	@touch $(GENERATOR_STAMP)

# The generator is for `make openapi` and the test that the committed client is current; `make run` does not need it.
install: $(STAMP)
generator: $(GENERATOR_STAMP)

# clients/openapi.json and the Python client clients/python/dosewise_client, from the app (no server, no network); commit
# both: tests/unit/test_openapi_client.py fails while either differs from what this writes.
openapi: install generator
	$(BIN)/python clients/generate.py

# The clinician UI's chart library, from the npm registry at the version package-lock.json pins, copied into the package's
# static folder (git-ignored): the pages load it from the gateway, never from the internet.
UI_FRONTEND := services/api/frontend
UI_VENDOR := services/api/dosewise_api/static/ui/vendor
$(UI_VENDOR)/chart.umd.min.js: $(UI_FRONTEND)/package.json $(UI_FRONTEND)/package-lock.json
	@echo "fetching the UI's front-end libraries (npm ci in $(UI_FRONTEND))"
	@cd $(UI_FRONTEND) && npm ci --no-audit --no-fund --loglevel=error
	@mkdir -p $(UI_VENDOR)
	@cp $(UI_FRONTEND)/node_modules/chart.js/dist/chart.umd.min.js $(UI_FRONTEND)/node_modules/chart.js/LICENSE.md $(UI_VENDOR)/
	@touch $@
ui-assets: $(UI_VENDOR)/chart.umd.min.js

# The browser the UI tests drive (tests/e2e/ui): Debian's Chromium, installed only when missing.
browser:
	@test -x /usr/bin/chromium || { echo "installing Debian's chromium for the browser tests"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); $$SUDO apt-get update -qq && $$SUDO apt-get install -y chromium chromium-driver; }

run: install ui-assets
	@$(BIN)/dosewise up

test: install generator ui-assets browser
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) var .pytest_cache

# Rebuild the shipped policies (visit DQNs with their held-out clinic evaluation, feature stats, HyperScore calibration).
policies: install
	$(BIN)/python -m dosewise_trainer.ship
