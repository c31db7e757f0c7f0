# `make test` and `make demo` work on a fresh clone: the venv is created and filled on demand.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
HOST ?= 127.0.0.1
PORT ?= 8000
DB ?= demo.sqlite3
PYTEST_ARGS ?=

.PHONY: test lint typecheck pytest docs django-venv demo bench dist clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[redis,postgres,demo,dev,docs]'
	touch $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff format --check src tests bench examples
	$(BIN)/ruff check src tests bench examples

typecheck: $(STAMP)
	$(BIN)/mypy --strict src examples

# Django 6 (Python 3.12+) in its own venv, for the tests against a real Django site; reused
# once made. Without a Python 3.12 it says so (and those tests skip, or fail under CI=true).
django-venv: $(STAMP)
	$(BIN)/python -m tests.django_interop.django_env

pytest: $(STAMP) django-venv
	$(BIN)/pytest $(PYTEST_ARGS)

# The pytest run builds the site too (tests/docs/test_site.py, into a temporary directory).
test: lint typecheck pytest

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
	rm -rf $(VENV) .venv-django .mypy_cache .pytest_cache .ruff_cache build dist site
