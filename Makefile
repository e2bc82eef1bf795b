# Two commands: `make run` serves the dashboards, `make test` checks everything.
# Both create .venv on first use; nothing has to be installed by hand.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PORT   ?= 8866
PYTEST_ARGS ?=

.PHONY: run test unit notebooks browser bench clean help

help:
	@echo "make run    install into $(VENV) (first time) and serve the dashboards on http://127.0.0.1:$(PORT)/"
	@echo "make test   install with test extras, run unit tests, every notebook (nbval) and the browser tests"
	@echo "make bench  run benchmarks/ and rewrite benchmarks/RESULTS.md"

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# Stamp files: reinstall only when pyproject.toml changes.
$(VENV)/.installed: pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(VENV)/.installed $@

run: $(VENV)/.installed
	@echo "Landing page: http://127.0.0.1:$(PORT)/voila/render/00_index.ipynb  (Ctrl-C stops)"
	$(VENV)/bin/voila notebooks --no-browser --port=$(PORT) --Voila.ip=127.0.0.1

test: $(VENV)/.installed-test
	$(MAKE) --no-print-directory unit notebooks browser

unit: $(VENV)/.installed-test
	$(PY) -m pytest tests --ignore=tests/browser $(PYTEST_ARGS)

# Fast mode shrinks data and epochs; the same notebooks run full size for users.
notebooks: $(VENV)/.installed-test
	SANDWICHLAB_FAST=1 $(PY) -m pytest --nbval-lax --nbval-current-env --nbval-cell-timeout=600 -p no:cacheprovider notebooks $(PYTEST_ARGS)

browser: $(VENV)/.installed-test
	$(PY) -m pytest tests/browser $(PYTEST_ARGS)

bench: $(VENV)/.installed-test
	$(PY) benchmarks/run_all.py

clean:
	rm -rf $(VENV) test-artifacts .pytest_cache
