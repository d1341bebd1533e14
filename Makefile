# Multi-Task Recommenders: the two set-up commands are `make book` and `make test`.
# Each creates the project's Python environment in .venv when it is not there.
# Windows without make: see README.md, "Without make", for the same commands by hand.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: book test lab venv clean-book help release autograde

help:
	@echo "make book   build the site into book/_build/html (executes notebooks, cached)"
	@echo "make test   run every test (library, notebooks, book build, browser)"
	@echo "make lab    open the notebooks in JupyterLab"
	@echo "make release    student versions of the exercises into build/course (nbgrader)"
	@echo "make autograde SUBMISSIONS=dir   grade submitted notebooks into build/grading"

# The environment is (re)built when pyproject.toml changes.
$(BIN)/.installed: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[book,test]"
	@touch $@

venv: $(BIN)/.installed

book: venv
	$(BIN)/python scripts/build_book.py
	@echo "The site is in book/_build/html (open book/_build/html/index.html)."

test: venv
	$(BIN)/python -m pytest

lab: venv
	$(BIN)/jupyter lab notebooks/

release: venv
	$(BIN)/python scripts/course.py release --out build/course

autograde: venv
	@test -n "$(SUBMISSIONS)" || { echo "usage: make autograde SUBMISSIONS=path/to/submissions"; exit 2; }
	$(BIN)/python scripts/course.py autograde --submissions "$(SUBMISSIONS)" --out build/grading

clean-book:
	rm -rf book/_build
