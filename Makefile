# One entry point for everything: `make test` is what CI runs (.ci/run), `make run` starts
# the local stack. The virtualenv is created and (re)installed when pyproject.toml changes:
# `make run` installs what running needs (the `local` extra), `make test` what testing needs
# (with the `dev` and `deploy` extras, about ten times the size).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
RUN_STAMP := $(VENV)/.installed-run
PYTEST_ARGS ?=

.PHONY: install install-run test lint types unit integration check run fmt clean asset checkov browser

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[local,dev,deploy]'
	@touch $(STAMP) $(RUN_STAMP)

install-run: $(RUN_STAMP)

$(RUN_STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[local]'
	@touch $(RUN_STAMP)

# The browser test drives Debian's headless Chromium through chromedriver: installed here
# when missing and this is root on Debian, else named.
browser:
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing chromium and chromium-driver for the browser test" >&2; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; \
	else \
		echo "the browser test needs chromium and chromedriver: sudo apt-get install chromium chromium-driver" >&2; \
		exit 1; \
	fi

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

types: install
	$(BIN)/mypy

unit: install
	$(BIN)/pytest tests/unit $(PYTEST_ARGS)

integration: install
	$(BIN)/pytest tests/integration $(PYTEST_ARGS)

# checkov (the template linter tests/deploy runs) in a virtualenv of its own: its pins
# conflict with the project's boto3. Created from PyPI once, at the version the script pins.
checkov: install
	$(BIN)/python deploy/lint_template.py --install-checkov

# The test command: lint, types, then every test tier (tests/deploy lints the templates).
test: lint types checkov browser
	$(BIN)/pytest $(PYTEST_ARGS)

check: test

fmt: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

run: install-run
	$(BIN)/analytics serve

# The Lambda asset for `cdk deploy` (deploy/build/lambda): src, migrations, manylinux wheels.
asset: install
	$(BIN)/python deploy/package_lambda.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
