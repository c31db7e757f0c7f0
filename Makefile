# `make test` and `make demo` work on a fresh clone: the venv is created and filled on demand.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
HOST ?= 127.0.0.1
PORT ?= 8000
DB ?= demo.sqlite3
PYTEST_ARGS ?=

.PHONY: test lint typecheck pytest docs django-venv test-pythons demo bench dist clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[redis,postgres,demo,dev,docs]'
	touch $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff format --check src tests bench examples
	$(BIN)/ruff check src tests bench examples
	$(BIN)/vulture src tools/vulture_whitelist.py --min-confidence 60

# verify_types runs `pyright --verifytypes cookieguard` with VIRTUAL_ENV set to this venv.
typecheck: $(STAMP)
	$(BIN)/mypy --strict src examples
	VIRTUAL_ENV=$(abspath $(VENV)) $(BIN)/python tools/verify_types.py

# Django 6 (Python 3.12+) in its own venv, for the tests against a real Django site; reused
# once made. Without a Python 3.12 it says so (and those tests skip, or fail under CI=true).
django-venv: $(STAMP)
	$(BIN)/python -m tests.django_interop.django_env

pytest: $(STAMP) django-venv
	$(BIN)/pytest $(PYTEST_ARGS)

# The pytest run builds the site too (tests/docs/test_site.py, into a temporary directory).
test: lint typecheck pytest

# The suite on every Python this project supports (3.11 is `make test`'s own): each gets its
# own venv, found through pyenv (PYENV_ROOT or ~/.pyenv) or PATH. Not part of `make test`.
PYTHONS ?= 3.12 3.13
test-pythons: django-venv
	@for v in $(PYTHONS); do \
	  py=$$(ls -d $${PYENV_ROOT:-$$HOME/.pyenv}/versions/$$v*/bin/python3 2>/dev/null | tail -n 1); \
	  [ -n "$$py" ] || py=$$(command -v python$$v); \
	  [ -n "$$py" ] || { echo "test-pythons: no Python $$v found"; exit 1; }; \
	  echo "test-pythons: Python $$v ($$py)"; \
	  test -x .venv-$$v/bin/python || $$py -m venv .venv-$$v; \
	  .venv-$$v/bin/python -m pip install --quiet -e '.[redis,postgres,demo,dev,docs]' && \
	  .venv-$$v/bin/pytest $(PYTEST_ARGS) || exit 1; \
	done

# The documentation site in site/: every warning (a broken link, a missing snippet, a
# docstring the API reference cannot read) is an error.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

demo: $(STAMP)
	$(BIN)/cookieguard demo --host $(HOST) --port $(PORT) --db $(DB)

# The sdist and the wheel in dist/ (python -m build: an isolated build, as pip does it).
dist: $(STAMP)
	rm -rf dist
	$(BIN)/python -m build --outdir dist .

clean:
	rm -rf $(VENV) .venv-django .venv-3.1[2-9] .mypy_cache .pytest_cache .ruff_cache build dist site
