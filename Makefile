# `make demo` and `make test` set everything up on a fresh clone (a virtual environment in .venv).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
LOG    := $(VENV)/setup.log
RUNTIME := $(VENV)/.student-runtime

.PHONY: setup demo test lint bench clean

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
	@touch $(STAMP)

# The student runtime (grader/runtime.py): a venv of the same Python with only gevent and its needs, at the
# grader's versions, that submissions run with (they start faster without the grader's packages). Optional:
# without it submissions run with the grader's own interpreter.
$(RUNTIME): $(STAMP)
	@echo "setup: $(VENV)/student, the interpreter submissions run with"
	@$(BIN)/python -m grader.runtime create >> $(LOG) 2>&1 \
	  || echo "setup: no student runtime (see $(LOG)); submissions run with the grader's own interpreter"
	@touch $(RUNTIME)

demo: setup
	$(BIN)/grader grade --out demo-out
	@echo "class report: demo-out/report.html (and report.md), gradebook: demo-out/grades.csv"

test: setup
	$(BIN)/python -m pytest

lint: setup
	$(BIN)/ruff check grader tests

bench: setup
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info demo-out
