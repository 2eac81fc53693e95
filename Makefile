# The template's own tooling. On a fresh machine: `make demo` and `make test`.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
DEMO_DIR ?= build/demo
# What the demo runs inside the rendered project: `lock` first, as a new project's owner does
# (its CI refuses to install without the committed uv.lock).
DEMO_TARGETS ?= lock install pipeline smoke
PYTEST_ARGS ?= --durations=25
# Two workers keep both cores busy; the slow bakes dominate the wall clock.
PYTEST_WORKERS ?= 2

.PHONY: help
help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  %-12s %s\n", $$1, $$2}'

.PHONY: install
install: $(VENV)/.installed ## Virtualenv with the pinned dev requirements

$(VENV)/.installed: requirements-dev.txt
	[ -x $(BIN)/python ] || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

.PHONY: tools
tools: install ## External validators (apt/npm; needs root or sudo for apt)
	bash .ci/install-tools.sh

.PHONY: lint
lint: install ## Lint the template's own code (hooks, tests) and YAML
	$(BIN)/ruff check hooks tests benchmarks
	$(BIN)/ruff format --check hooks tests benchmarks
	$(BIN)/yamllint --strict .

.PHONY: test
test: tools lint ## The full template test suite (renders every option value, bakes projects)
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

.PHONY: test-fast
test-fast: install ## The quick subset: every config rendered and checked, no installs (a few minutes)
	$(BIN)/python -m pytest -m "not slow" -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

.PHONY: demo
demo: install ## Render the default project into build/demo and run its pipeline and a serving smoke test
	rm -rf $(DEMO_DIR)
	$(BIN)/cookiecutter . --no-input --output-dir $(DEMO_DIR)
	PATH="$(abspath $(BIN)):$$PATH" $(MAKE) -C $(DEMO_DIR)/churn-model $(DEMO_TARGETS)
	@echo "demo: the rendered project is in $(DEMO_DIR)/churn-model"

QUALITY_TABLES ?=

.PHONY: bench-quality
bench-quality: install ## Model quality on built tables: init-data, tune, pipeline, bench-model (~20 min, quiet machine)
	$(BIN)/python benchmarks/model_quality.py $(QUALITY_TABLES)

.PHONY: clean
clean: ## Remove build output and caches (keeps .venv and cached venvs)
	rm -rf build .pytest_cache .ruff_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
