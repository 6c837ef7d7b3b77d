# tfcontroller — developer entry points. `make demo` and `make test` work on a fresh clone.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.setup-stamp
# Test files run on PYTEST_WORKERS processes (pytest-xdist, one file per worker at a time so module fixtures
# are built once): the integration tests spend most of their time waiting on controllers, not on the CPU.
PYTEST_WORKERS ?= 3
PYTEST_ARGS ?= -n $(PYTEST_WORKERS) --dist loadfile

.PHONY: setup test lint demo clean localstack-up localstack-down localstack-install generate

setup: $(STAMP)

# The development tools (tfcontroller/dev/) are their own distribution, tfcontroller-dev (dev-package/, the
# `dev` extra), left out of the controller's wheel. The editable install of the controller maps the whole
# tfcontroller/ directory of the clone, tools included, so setup installs only the tools' dependencies
# (dev-package/requirements.txt): a second editable distribution of the same top-level name would turn
# `tfcontroller` into a namespace package without its __init__.py.
$(STAMP): pyproject.toml dev-package/requirements.txt scripts/system-packages.sh
	bash scripts/system-packages.sh
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,lint]' -r dev-package/requirements.txt
	touch $(STAMP)

# The pytest exit code is kept in $(VENV)/pytest-exit-code so that .ci/run can tell "no tests" (5) apart.
test: setup localstack-install
	@rm -f $(VENV)/pytest-exit-code
	@$(BIN)/python -m pytest $(PYTEST_ARGS); rc=$$?; echo $$rc > $(VENV)/pytest-exit-code; exit $$rc

lint: setup
	$(BIN)/ruff check tfcontroller tests benchmarks scripts
	$(BIN)/lint-imports
	$(BIN)/mypy

# Ctrl-C ends the demo: it stops what it started, prints "stopped" and exits 0 (it takes the terminal's
# foreground, so make does not see the Ctrl-C; tfcontroller/dev/demo/terminal.py). DEMO_ARGS passes options on
# (`python -m tfcontroller.dev.demo --help`).
DEMO_ARGS ?=
demo: setup localstack-install
	$(BIN)/python -m tfcontroller.dev.demo $(if $(DEMO_EXIT),--exit,) $(DEMO_ARGS)

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
