# `make demo` and `make test` set everything up on a fresh clone (a virtual environment in .venv).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
LOG    := $(VENV)/setup.log
RUNTIME := $(VENV)/.student-runtime

.PHONY: setup demo test lint bench clean i18n

setup: $(STAMP) $(RUNTIME)

# pip and setuptools talk a lot (notices, index warnings): their output goes to $(LOG), shown only on failure.
$(STAMP): pyproject.toml
	@scripts/setup-system.sh
	@mkdir -p $(VENV)
	@echo "setup: $(VENV) with the grader and its dev tools (pip's log: $(LOG))"
	@{ $(PYTHON) -m venv $(VENV) \
	   && $(BIN)/python -m pip install --upgrade pip \
	   && $(BIN)/python -m pip install -e '.[dev]'; } > $(LOG) 2>&1 \
	  || { cat $(LOG); echo "setup: failed (the log above is in $(LOG))"; exit 1; }
	@$(BIN)/pybabel -q compile -d grader/locale -D grader >> $(LOG) 2>&1 || true
	@touch $(STAMP)

# The student runtime (grader/runtime.py): a venv of the same Python with only gevent and its needs, at the
# grader's versions, that submissions run with (they start faster without the grader's packages). Optional:
# without it submissions run with the grader's own interpreter.
$(RUNTIME): $(STAMP)
	@echo "setup: $(VENV)/student, the interpreter submissions run with"
	@$(BIN)/python -m grader.runtime create >> $(LOG) 2>&1 \
	  || echo "setup: no student runtime (see $(LOG)); submissions run with the grader's own interpreter"
	@touch $(RUNTIME)

# Message catalogs (docs/i18n.md): re-extract every _()/ngettext() msgid from grader/, merge them into the .po
# (new ones untranslated), compile the .mo the source checkout reads, then list what is still untranslated.
i18n: setup
	@$(BIN)/pybabel -q extract -F babel.cfg --no-location --no-wrap --sort-output --project grader \
	  --copyright-holder "grader contributors" -o grader/locale/grader.pot grader
	@$(BIN)/pybabel -q update --no-wrap --no-fuzzy-matching --ignore-obsolete -i grader/locale/grader.pot \
	  -d grader/locale -D grader
	@$(BIN)/pybabel -q compile -d grader/locale -D grader
	@$(BIN)/python scripts/i18n_status.py

demo: setup
	$(BIN)/grader grade --out demo-out
	@echo "class report: demo-out/report.html (and report.md), gradebook: demo-out/grades.csv"

test: setup
	$(BIN)/python -m pytest

# ruff; the import layers and no cycle (import-linter, contracts in pyproject.toml); types (mypy: strict on the
# sandbox, the checks, the verdict and the results; tests/fakes.py held to the same RunView as the real run)
lint: setup
	$(BIN)/ruff check grader tests benchmarks
	$(BIN)/lint-imports --no-cache
	$(BIN)/mypy

bench: setup
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info demo-out
