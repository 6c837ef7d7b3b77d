# tfcontroller — developer entry points. `make demo` and `make test` work on a fresh clone.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.setup-stamp
PYTEST_ARGS ?=

.PHONY: setup test lint demo clean localstack-up localstack-down localstack-install generate

setup: $(STAMP)

# The controller and its development tools (tfcontroller-dev, from dev-package/, the `dev` extra) are two
# distributions under one import name, `tfcontroller`. Both are installed editable in `compat` mode (a .pth
# path to the clone), so that Python finds the regular package tfcontroller/ and, inside it, tfcontroller/dev/;
# setuptools' default import-hook mode would let the second distribution turn `tfcontroller` into a
# namespace package without its __init__.py.
$(STAMP): pyproject.toml dev-package/pyproject.toml scripts/system-packages.sh
	bash scripts/system-packages.sh
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --config-settings editable_mode=compat -e '.[test,lint,dev]' -e ./dev-package
	touch $(STAMP)

# The pytest exit code is kept in $(VENV)/pytest-exit-code so that .ci/run can tell "no tests" (5) apart.
test: setup localstack-install
	@rm -f $(VENV)/pytest-exit-code
	@$(BIN)/python -m pytest $(PYTEST_ARGS); rc=$$?; echo $$rc > $(VENV)/pytest-exit-code; exit $$rc

lint: setup
	$(BIN)/ruff check tfcontroller tests benchmarks scripts
	$(BIN)/lint-imports

demo: setup localstack-install
	$(BIN)/python -m tfcontroller.dev.demo $(if $(DEMO_EXIT),--exit,)

# Builds LocalStack's venv once (cached outside the clone, keyed by the lock); quick when it exists.
localstack-install:
	bash localstack/up.sh --install-only

localstack-up:
	bash localstack/up.sh

localstack-down:
	bash localstack/down.sh

# After editing crds/: refresh the install copy and the generated API reference (tests check both).
generate: setup
	cp crds/*.yaml deploy/crds/
	$(BIN)/python scripts/gen_api_docs.py
	$(BIN)/python scripts/sync_readme_config.py

clean:
	rm -rf $(VENV) .demo build *.egg-info
