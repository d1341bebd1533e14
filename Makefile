# Multi-Task Recommenders: the two set-up commands are `make book` and `make test`.
# Each creates the project's Python environment in .venv when it is not there.
# While working on the library: `make test-fast` (minutes, no book build) and `make lint`.
# Windows without make: see README.md, "Without make", for the same commands by hand.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: book test test-fast lint lab venv clean-book help release autograde

# What `make test-fast` leaves out: the book build, the browser, notebook executions and
# anything else marked slow. pyproject.toml adds the library's doctests to every pytest run.
FAST := -m "not slow and not browser and not book"

help:
	@echo "make book   build the site, both editions: book/_build/html and its zh/ (executes notebooks, cached)"
	@echo "make pdf    the whole book as one PDF, book/_build/pdf (needs XeLaTeX: Debian packages in .ci/run)"
	@echo "make test   run every test (library, doctests, notebooks, book build, browser)"
	@echo "make test-fast  library tests and doctests only (no book build, no browser; a few minutes)"
	@echo "make lint   ruff check and ruff format --check"
	@echo "make lab    open the notebooks in JupyterLab (make lab EDITION=zh: 中文版)"
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

# XeLaTeX and the fonts come from Debian's packages (.ci/run installs them); notebook outputs
# come from the site's jupyter-cache. A site built before is rebuilt to link the PDF.
.PHONY: pdf
pdf: venv
	$(BIN)/python scripts/build_pdf.py

test: venv
	$(BIN)/python -m pytest

test-fast: venv
	$(BIN)/python -m pytest $(FAST)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Students: build/student gets the chapter notebooks and the student version of the
# exercises (no solutions), never overwriting a notebook already there; JupyterLab opens on
# 00_start_here.ipynb (notebooks/README.md). `make lab LAB=instructor` opens notebooks/ itself;
# `make lab EDITION=zh` the same in Chinese (中文版), in build/student-zh.
lab: venv
	@if [ "$(LAB)" = instructor ]; then \
	  $(BIN)/jupyter lab notebooks/; \
	elif [ "$(EDITION)" = zh ]; then \
	  $(BIN)/python scripts/course.py student --edition zh --out build/student-zh && \
	  $(BIN)/jupyter lab --ServerApp.root_dir=build/student-zh \
	    --LabApp.default_url=/lab/tree/00_start_here.ipynb; \
	else \
	  $(BIN)/python scripts/course.py student --out build/student && \
	  $(BIN)/jupyter lab --ServerApp.root_dir=build/student \
	    --LabApp.default_url=/lab/tree/00_start_here.ipynb; \
	fi

release: venv
	$(BIN)/python scripts/course.py release --out build/course

autograde: venv
	@test -n "$(SUBMISSIONS)" || { echo "usage: make autograde SUBMISSIONS=path/to/submissions"; exit 2; }
	$(BIN)/python scripts/course.py autograde --submissions "$(SUBMISSIONS)" --out build/grading

clean-book:
	rm -rf book/_build
