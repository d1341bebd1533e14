"""Coursework from the book's exercise notebooks: student releases and autograding (nbgrader).

Every chapter folder ``notebooks/chNN_<slug>/`` that has an ``90_exercises.ipynb`` is one
assignment, named after the folder (``ch03_cf``). The notebook in the repository is the
book's page: solutions in place (behind toggles on the site), hidden tests included. This
script turns it into an nbgrader course folder and drives nbgrader, so that an instructor
needs two commands::

    python scripts/course.py release   [--out build/course]  [ASSIGNMENT ...]
    python scripts/course.py autograde --submissions DIR [--out build/grading] [--feedback] [ASSIGNMENT ...]
    python scripts/course.py student   [--out build/student]

``release`` writes a complete nbgrader course folder: ``source/`` (the instructor version),
``release/<assignment>/90_exercises.ipynb`` (the student version: no solutions, no hidden
tests), ``zips/<assignment>.zip`` (the same, ready to upload to a learning platform), a
fresh ``gradebook.db`` and ``nbgrader_config.py`` (copied from ``course/``). On a
JupyterHub the folder works as it is with nbgrader's own commands (``release_assignment``,
``collect``, the formgrader).

``autograde`` grades a folder of submitted notebooks in any of these layouts::

    DIR/submitted/<student>/<assignment>/<notebook>.ipynb   (nbgrader's, e.g. after ``nbgrader collect``)
    DIR/<student>/<assignment>/<notebook>.ipynb             (the same without ``submitted/``)
    DIR/<assignment>/<student>.ipynb                        (one file per student, e.g. from a learning platform)

It builds a fresh course folder in ``--out`` (regenerating the assignments from the
repository's notebooks, so hidden tests come back), runs ``nbgrader autograde`` and writes
``grades.csv`` (``nbgrader export``: one row per student and assignment) and
``grades_by_cell.csv`` (one row per graded cell), and prints a table of scores. With
``--feedback`` it also writes an HTML report per submission under ``feedback/``; those
reports show the hidden tests, so hand them out only after the deadline.

While it grades, the library objects that each exercise is graded against (the
``mtrec.references`` list in its solution cell's metadata) are unavailable inside the
student's answer: every grading kernel starts with ``course/autograde_guard.py``, so an
answer that calls the reference scores zero (``--no-guard`` turns this off).

``student`` fills the student's JupyterLab folder (``make lab``; default ``build/student``):
the chapter notebooks and the student version of every exercise notebook, in folders named
as in ``notebooks/``, plus ``00_start_here.ipynb`` made from ``notebooks/README.md``. A
notebook already there is the student's work and is never overwritten.

``check`` validates the exercise notebooks (nbgrader metadata, solution markers, exercise
and solution directives) without running nbgrader; the tests use the same functions.

How the book's page becomes nbgrader's source (:func:`student_source`): the book-only
markup goes, everything nbgrader needs stays.

* A gated solution (``:::{solution-start} label`` ... ``:::{solution-end}``) keeps only
  its nbgrader solution cells (nbgrader replaces their ``### BEGIN SOLUTION`` regions with a
  stub); any other cell inside it (the worked answer of an open-ended exercise) is replaced
  by an empty answer cell.
* A ``{solution}`` directive cell (a written answer) becomes an empty answer cell.
* ``{exercise}`` directives become plain headings, ``{term}``/``{doc}`` roles plain text
  and ``{cite}`` roles "(Ma et al., 2018)" from the book's bibliography, so the student
  version reads well in plain Jupyter.
* Cells tagged ``instructor-only`` (the warning that the page's download is the
  instructor copy) are dropped.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import re
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "scripts") not in sys.path:  # build_book, translations: also when imported by the book build
    sys.path.insert(0, str(ROOT / "scripts"))
NOTEBOOKS = ROOT / "notebooks"
CONFIG = ROOT / "course" / "nbgrader_config.py"
EXERCISES = "90_exercises.ipynb"
MARKER = ".mtrec-course"  # marks a folder this script made (and may therefore replace)

SOLUTION_START = re.compile(r"^\s*(:{3,}|`{3,})\{solution-start\}")
SOLUTION_END = re.compile(r"^\s*(:{3,}|`{3,})\{solution-end\}")
SOLUTION = re.compile(r"^\s*(:{3,}|`{3,})\{solution\}")
EXERCISE = re.compile(
    r"^(?P<fence>:{3,}|`{3,})\{exercise\}[ \t]*(?P<title>[^\n]*)\n(?P<body>.*?)^(?P=fence)[ \t]*$",
    re.DOTALL | re.MULTILINE,
)
ROLE = re.compile(r"\{(?:term|doc|ref|numref)\}`(?P<text>[^`<]*?)\s*(?:<[^`>]*>)?`")
CITE = re.compile(r"\{cite(?::(?P<kind>[a-z]+))?\}`(?P<keys>[^`]+)`")
BIB = ROOT / "book" / "references.bib"
GUARD = ROOT / "course" / "autograde_guard.py"
INSTRUCTOR_ONLY = "instructor-only"  # tag of cells that the student version drops
STUDENT = ROOT / "build" / "student"
STUDENT_ZH = ROOT / "build" / "student-zh"
#: JupyterLab's start page of each edition's student folder.
START_PAGES = {"en": NOTEBOOKS / "README.md", "zh": NOTEBOOKS / "README.zh_CN.md"}
ANSWER_MD = "**Your answer** (not autograded):\n\nYOUR ANSWER HERE"


class CourseError(RuntimeError):
    """A problem the instructor can fix (bad folder, bad submission layout, nbgrader failure)."""


# ---------------------------------------------------------------------------
# The exercise notebooks
# ---------------------------------------------------------------------------
def assignments() -> dict[str, Path]:
    """Assignment name -> exercise notebook, for every chapter folder that has one."""
    return {p.parent.name: p for p in sorted(NOTEBOOKS.glob(f"ch*/{EXERCISES}"))}


def _source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def _nbgrader(cell: dict) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def _is_solution_cell(cell: dict) -> bool:
    return bool(_nbgrader(cell).get("solution"))


def _markdown(text: str) -> dict:
    return {"cell_type": "markdown", "metadata": {}, "source": text}


def _answer_cells() -> list[dict]:
    return [
        _markdown(ANSWER_MD),
        {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": ""},
    ]


def plain_markdown(text: str, number: int = 1) -> tuple[str, int]:
    """MyST exercise directives and roles as plain Markdown (for Jupyter without MyST).

    Exercises are numbered from ``number`` on; returns the text and the next number.
    """

    def heading(m: re.Match) -> str:
        nonlocal number
        title = m.group("title").strip()
        lines = m.group("body").splitlines()
        while lines and re.match(r"^:[\w-]+:", lines[0]):  # the directive's options (:label: ...)
            lines.pop(0)
        body = "\n".join(lines)
        number += 1
        return f"### Exercise {number - 1}" + (f": {title}" if title else "") + "\n\n" + body.strip("\n") + "\n"

    text = EXERCISE.sub(heading, text)
    text = CITE.sub(lambda m: _citation(m.group("keys"), m.group("kind") or "p"), text)
    return ROLE.sub(lambda m: m.group("text"), text), number


def _bibliography() -> dict[str, tuple[str, str]]:
    """Citation key -> (first author's surname with "et al." where due, year) from the book's .bib."""
    if not BIB.exists():
        return {}
    out = {}
    for m in re.finditer(r"@\w+\{(?P<key>[^,\s]+),(?P<body>.*?)\n\}", BIB.read_text(encoding="utf-8"), re.DOTALL):
        author = re.search(r"author\s*=\s*[{\"](.+?)[}\"],?\s*$", m.group("body"), re.MULTILINE)
        year = re.search(r"year\s*=\s*[{\"]?(\d{4})", m.group("body"))
        if not author:
            continue
        people = [_surname(a) for a in author.group(1).split(" and ")]
        if len(people) > 2:
            who = f"{people[0]} et al."
        else:
            who = " and ".join(people)
        out[m.group("key")] = (who, year.group(1) if year else "n.d.")
    return out


def _surname(author: str) -> str:
    """``Koren, Yehuda`` or ``Yehuda Koren`` -> ``Koren``."""
    author = author.strip().strip("{}")
    return author.split(",")[0].strip("{} ") if "," in author else author.split()[-1].strip("{}")


def _citation(keys: str, kind: str) -> str:
    """A MyST ``{cite}`` role as plain text: "Koren (2010)" (textual) or "(Koren, 2010)"."""
    bib = _bibliography()
    refs = []
    for key in (k.strip() for k in keys.split(",")):
        who, year = bib.get(key, (key, ""))
        refs.append((who, year))
    if kind == "t":
        return "; ".join(f"{who} ({year})" if year else who for who, year in refs)
    return "(" + "; ".join(f"{who}, {year}" if year else who for who, year in refs) + ")"


def student_source(nb: dict) -> dict:
    """The nbgrader source version of a book exercise notebook (see the module docstring)."""
    out, in_gated, kept_solution, exercise_no = [], False, False, 1
    for cell in nb["cells"]:
        text = _source(cell)
        if cell["cell_type"] == "markdown" and SOLUTION_START.match(text):
            in_gated, kept_solution = True, False
            continue
        if cell["cell_type"] == "markdown" and SOLUTION_END.match(text):
            if not kept_solution:
                out.extend(_answer_cells())
            in_gated = False
            continue
        if in_gated:
            if _is_solution_cell(cell):
                out.append(cell)
                kept_solution = True
            continue
        if cell["cell_type"] == "markdown" and SOLUTION.match(text):
            out.extend(_answer_cells())
            continue
        if INSTRUCTOR_ONLY in cell.get("metadata", {}).get("tags", []):
            continue
        if cell["cell_type"] == "markdown" and not _nbgrader(cell):
            text, exercise_no = plain_markdown(text, exercise_no)
            cell = {**cell, "source": text}
        out.append(cell)
    if in_gated:
        raise CourseError("a {solution-start} has no matching {solution-end}")
    return {**nb, "cells": out}


ANSWER_NAME = re.compile(r"^(?:def|class)\s+(\w+)", re.MULTILINE)
REFERENCE_PATH = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)+$")


def answer_names(cell: dict) -> list[str]:
    """Names a solution cell defines at top level: its functions and classes (the answer)."""
    names = [m.group(1) for m in ANSWER_NAME.finditer(_source(cell)) if m.group(1)]
    return list(dict.fromkeys(names))


def references(cell: dict) -> list[str]:
    """The library objects an exercise is graded against (``mtrec.references`` of its solution cell)."""
    return list(cell.get("metadata", {}).get("mtrec", {}).get("references", []))


def guarded_references(nb: dict) -> dict[str, list[str]]:
    """Answer name -> the references the autograder makes unavailable inside it."""
    out: dict[str, list[str]] = {}
    for cell in nb["cells"]:
        if _is_solution_cell(cell) and references(cell):
            for name in answer_names(cell):
                out.setdefault(name, []).extend(references(cell))
    return out


def student_notebook(nb: dict) -> dict:
    """The student version of a book exercise notebook, as one notebook: what ``make release``
    hands out (solutions replaced by stubs, hidden tests and outputs removed), without a
    course folder. The site's download button of an exercises page serves this
    (``book/_ext/student_downloads.py``).
    """
    import nbformat
    from nbgrader.preprocessors import ClearHiddenTests, ClearOutput, ClearSolutions

    out = nbformat.reads(json.dumps(student_source(nb)), as_version=4)
    resources = {"language": "python"}
    for step in (ClearSolutions(), ClearHiddenTests(), ClearOutput()):
        out, resources = step.preprocess(out, resources)
    return json.loads(nbformat.writes(out))


def check_notebook(path: Path) -> list[str]:
    """Problems of one exercise notebook (empty list: fine). Does not run nbgrader."""
    import nbformat
    from nbgrader.nbgraderformat import MetadataValidator

    problems: list[str] = []
    nb = json.loads(path.read_text(encoding="utf-8"))
    name = path.parent.name
    try:
        MetadataValidator().validate_nb(nbformat.from_dict(nb))
    except Exception as err:  # nbgrader raises several kinds
        problems.append(f"nbgrader metadata: {err}")
    labels, solved, in_gated = [], set(), False
    for i, cell in enumerate(nb["cells"]):
        text, meta = _source(cell), _nbgrader(cell)
        where = f"cell {i}"
        if cell["cell_type"] == "code" and (cell.get("outputs") or cell.get("execution_count") is not None):
            problems.append(f"{where}: has outputs; commit notebooks without them")
        if "tqdm.auto" in text or "ipywidgets" in text:
            problems.append(f"{where}: widgets (tqdm.auto, ipywidgets) do not render in the book or the grader")
        if meta:
            gid = meta.get("grade_id", "")
            if not gid.startswith(name + "_"):
                problems.append(f"{where}: grade_id {gid!r} should start with {name + '_'!r}")
            if meta.get("solution"):
                if cell["cell_type"] != "code":
                    problems.append(f"{where}: solution cells must be code cells (markdown ones need manual grading)")
                if "### BEGIN SOLUTION" not in text or "### END SOLUTION" not in text:
                    problems.append(f"{where}: solution cell {gid!r} lacks ### BEGIN/END SOLUTION")
                if not in_gated:
                    problems.append(f"{where}: solution cell {gid!r} is not inside a {{solution-start}} block")
                refs = cell.get("metadata", {}).get("mtrec", {}).get("references")
                if not isinstance(refs, list):
                    problems.append(
                        f"{where}: solution cell {gid!r} has no mtrec.references list (the library objects it "
                        "is graded against, [] when there are none)"
                    )
                elif not all(isinstance(r, str) and REFERENCE_PATH.match(r) for r in refs):
                    problems.append(f"{where}: mtrec.references of {gid!r} must be dotted paths, got {refs!r}")
                elif refs and not answer_names(cell):
                    problems.append(f"{where}: solution cell {gid!r} defines no function or class to guard")
            if meta.get("grade"):
                if not meta.get("locked"):
                    problems.append(f"{where}: test cell {gid!r} is not locked")
                if not meta.get("points"):
                    problems.append(f"{where}: test cell {gid!r} has no points")
                if in_gated:
                    problems.append(f"{where}: test cell {gid!r} sits inside a solution block")
        elif "### BEGIN" in text:
            problems.append(f"{where}: BEGIN SOLUTION/HIDDEN TESTS markers in a cell without nbgrader metadata")
        if cell["cell_type"] != "markdown":
            continue
        for m in EXERCISE.finditer(text):
            label = re.search(r"^:label:\s*(\S+)", m.group("body"), re.MULTILINE)
            if not label:
                problems.append(f"{where}: exercise without :label:")
            else:
                labels.append(label.group(1))
        if SOLUTION_START.match(text):
            if in_gated:
                problems.append(f"{where}: nested {{solution-start}}")
            in_gated = True
            gated_label = text.split("}", 1)[1].split("\n", 1)[0].strip()
            solved.add(gated_label)
            if ":class: dropdown" not in text:
                problems.append(f"{where}: solution of {gated_label} is not hidden (:class: dropdown)")
        elif SOLUTION_END.match(text):
            if not in_gated:
                problems.append(f"{where}: {{solution-end}} without {{solution-start}}")
            in_gated = False
        elif SOLUTION.match(text):
            solved.add(text.split("}", 1)[1].split("\n", 1)[0].strip())
            if ":class: dropdown" not in text:
                problems.append(f"{where}: solution is not hidden (:class: dropdown)")
    if in_gated:
        problems.append("a {solution-start} is never closed")
    if len(labels) < 3:
        problems.append(f"only {len(labels)} exercises; every chapter has at least three")
    for label in labels:
        if label not in solved:
            problems.append(f"exercise {label} has no solution")
    for label in solved - set(labels):
        problems.append(f"solution for unknown exercise {label}")
    if len(labels) != len(set(labels)):
        problems.append("duplicate exercise labels")
    return problems


# ---------------------------------------------------------------------------
# Course folders and nbgrader
# ---------------------------------------------------------------------------
def _fresh_folder(out: Path, kind: str = "release") -> Path:
    """Empty ``out`` for a new run; refuse to wipe what this script did not make.

    A release folder that has been used for grading (on a JupyterHub, ``nbgrader collect``
    puts submissions into it) is not wiped either: those submissions and grades are the
    instructor's, not ours.
    """
    out = out.resolve()
    if out.exists() and any(out.iterdir()):
        if not (out / MARKER).exists():
            raise CourseError(
                f"{out} is not empty and was not made by scripts/course.py; choose another --out or empty it first."
            )
        made_as = (out / MARKER).read_text().split(":", 1)[0].strip()
        used = [d for d in ("submitted", "autograded", "feedback") if (out / d).is_dir() and any((out / d).iterdir())]
        if made_as != "autograde" and used:
            raise CourseError(
                f"{out} holds collected work ({', '.join(used)}/); rerunning would delete it. "
                "Choose another --out, or move that work away first."
            )
        shutil.rmtree(out, onerror=_make_writable_and_retry)  # nbgrader writes read-only files
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text(f"{kind}: made by scripts/course.py; rerunning the script replaces this folder\n")
    shutil.copy(CONFIG, out / "nbgrader_config.py")
    return out


def _make_writable_and_retry(func, path, _exc_info) -> None:
    os.chmod(path, 0o700)
    func(path)


def _select(names: list[str] | None) -> dict[str, Path]:
    found = assignments()
    if not found:
        raise CourseError(f"no exercise notebooks ({EXERCISES}) under {NOTEBOOKS}")
    unknown = sorted(set(names or []) - set(found))
    if unknown:
        raise CourseError(f"unknown assignment(s) {unknown}; known: {sorted(found)}")
    return {n: p for n, p in found.items() if not names or n in names}


def _write_source(course: Path, name: str, notebook: Path) -> None:
    folder = course / "source" / name
    folder.mkdir(parents=True, exist_ok=True)
    nb = student_source(json.loads(notebook.read_text(encoding="utf-8")))
    (folder / notebook.name).write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


class Course:
    """An nbgrader course folder, driven through nbgrader's Python API in this process.

    Each step is the same as one nbgrader command run in the folder (printed as it runs),
    without paying for nbgrader's start-up at every command; each step's log goes to
    ``logs/``.
    """

    def __init__(self, root: Path, guard: bool = False):
        from nbgrader.apps import NbGraderAPI
        from nbgrader.coursedir import CourseDirectory
        from traitlets.config.loader import PyFileConfigLoader

        # nbgrader runs the `alembic` command installed next to the interpreter: put that
        # folder on PATH even when the environment is not activated.
        bindir = str(Path(sys.executable).parent)
        if bindir not in os.environ.get("PATH", "").split(os.pathsep):
            os.environ["PATH"] = os.pathsep.join([bindir, os.environ.get("PATH", "")])
        self.root = root
        config = PyFileConfigLoader("nbgrader_config.py", path=str(root)).load_config()
        config.CourseDirectory.root = str(root)
        self.guard = guard
        if guard:
            # Every grading kernel starts with the reference guard (course/autograde_guard.py).
            config.Execute.extra_arguments = [_guard_module().kernel_argument(str(GUARD))]
        self.coursedir = CourseDirectory(config=config)
        self.api = NbGraderAPI(coursedir=self.coursedir, config=config)

    def run(self, step: str, assignment: str, **kwargs) -> None:
        shown = {
            "autograde": f"autograde {assignment}",
            "generate_feedback": f"generate_feedback {assignment}",
            "generate_assignment": f"generate_assignment {assignment}",
        }[step]
        print(f"  nbgrader {shown} --force", end="", flush=True)
        log = self.root / "logs" / f"{step}-{assignment}.log"
        start = time.perf_counter()
        guard_file = self.root / "guard" / f"{assignment}.json"
        env = {_guard_module().ENV: str(guard_file)} if self.guard and step == "autograde" else {}
        with _stderr_to(log), _environment(env):  # kernels' chatter goes to the log, not the terminal
            result = getattr(self.api, step)(assignment, force=True, **kwargs)
        print(f"  ({time.perf_counter() - start:.0f} s)", flush=True)
        with open(log, "a") as f:
            f.write((result.get("log") or "") + (result.get("error") or ""))
        if not result.get("success"):
            tail = "\n".join(log.read_text().splitlines()[-25:])
            raise CourseError(f"nbgrader {shown} failed (log: {log}):\n{tail}")

    def export(self, to: Path) -> None:
        from nbgrader.api import Gradebook
        from nbgrader.plugins.export import CsvExportPlugin

        print(f"  nbgrader export --to {to}", flush=True)
        with _stderr_to(self.root / "logs" / "export.log"):
            with Gradebook(self.coursedir.db_url, self.coursedir.course_id) as gb:
                CsvExportPlugin(to=str(to)).export(gb)


def _guard_module():
    import importlib.util

    if "mtrec_course_guard" not in sys.modules:
        spec = importlib.util.spec_from_file_location("mtrec_course_guard", GUARD)
        module = importlib.util.module_from_spec(spec)
        sys.modules["mtrec_course_guard"] = module
        spec.loader.exec_module(module)
    return sys.modules["mtrec_course_guard"]


@contextlib.contextmanager
def _environment(values: dict[str, str]):
    """Set environment variables (inherited by the kernels nbgrader starts) for a block."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextlib.contextmanager
def _stderr_to(path: Path):
    """Send everything written to file descriptor 2 (also by child processes) to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sys.stderr.flush()
    saved = os.dup(2)
    with open(path, "w") as f:
        os.dup2(f.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)


def _generate(course: Course, selected: dict[str, Path]) -> None:
    for name, notebook in selected.items():
        _write_source(course.root, name, notebook)
        course.run("generate_assignment", name)


def release(out: Path, names: list[str] | None = None, make_zips: bool = True) -> Path:
    """Write a course folder with the student version of every selected assignment."""
    selected = _select(names)
    course = _fresh_folder(out)
    print(f"Student release of {len(selected)} assignment(s) into {course}")
    _generate(Course(course), selected)
    for name in selected:
        leaked = solution_leaks(course / "release" / name)
        if leaked:
            raise CourseError(f"the student version of {name} still contains solutions: {leaked}")
        if make_zips:
            (course / "zips").mkdir(exist_ok=True)
            shutil.make_archive(str(course / "zips" / name), "zip", course / "release", name)
    print(
        f"Done. Student notebooks: {course / 'release'}/<assignment>/"
        + (f"; zip files: {course / 'zips'}" if make_zips else "")
    )
    return course


# ---------------------------------------------------------------------------
# The student's folder for JupyterLab (make lab)
# ---------------------------------------------------------------------------
def reading_order() -> list[str]:
    """Chapter folders of notebooks/ in the order the book's table of contents reads them."""
    import build_book

    files = build_book.toc_files()
    folders = [f.split("/")[1] for f in files if f.startswith("notebooks/") and f.count("/") == 2]
    return list(dict.fromkeys(folders))


def start_here_notebook(page: Path = NOTEBOOKS / "README.md") -> dict:
    """A start page (``notebooks/README.md``) as a notebook of Markdown cells, one per section."""
    text = page.read_text(encoding="utf-8")
    sections = [part for part in re.split(r"\n(?=## )", text) if part.strip()]
    cells = [
        {"cell_type": "markdown", "id": f"start-{i}", "metadata": {}, "source": part.strip() + "\n"}
        for i, part in enumerate(sections)
    ]
    return {
        "cells": cells,
        "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def _release_is_current(folder: Path) -> bool:
    """Whether ``folder`` holds a release made after every exercise notebook last changed."""
    marker = folder / MARKER
    if not marker.exists() or not marker.read_text().startswith("release"):
        return False
    made = marker.stat().st_mtime
    found = assignments()
    if not all((folder / "release" / name / EXERCISES).exists() for name in found):
        return False
    return all(p.stat().st_mtime < made for p in [*found.values(), Path(__file__), CONFIG])


def student_folder(out: Path = STUDENT, edition: str = "en") -> Path:
    """The student's working copy: chapter notebooks and student exercises, never overwritten.

    Writes ``out/<chapter folder>/`` for every folder of ``notebooks/`` with the chapter's
    notebooks as they are and ``90_exercises.ipynb`` in its *student* version (generated
    with :func:`release`: no solutions, no hidden tests), plus ``out/00_start_here.ipynb``
    from ``notebooks/README.md``. A notebook that already exists in ``out`` is the student's
    work and is left alone, so rerunning (``make lab`` does every time) only adds what is new.
    With ``edition="zh"`` (``make lab EDITION=zh``, folder build/student-zh) every notebook's
    prose is the Chinese edition's (``scripts/translations.py``), the code the same, and the
    start page is ``notebooks/README.zh_CN.md``.
    """
    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    # The release (its source/ holds the solutions) lives beside the folder JupyterLab opens,
    # not inside it, and is regenerated only when an exercise notebook or this script changed.
    released = out.parent / f".{out.name}-release"
    if edition == "en" and not _release_is_current(released):
        release(released, make_zips=False)
    added, kept = 0, 0
    for folder in reading_order():
        src = NOTEBOOKS / folder
        if not src.is_dir():
            continue
        dest = out / folder
        dest.mkdir(exist_ok=True)
        copies = [(nb, dest / nb.name) for nb in sorted(src.glob("*.ipynb")) if nb.name != EXERCISES]
        student_copy = released / "release" / folder / EXERCISES
        if student_copy.exists() or (edition == "zh" and (src / EXERCISES).exists()):
            copies.append((student_copy, dest / EXERCISES))
        for source, target in copies:
            if target.exists():
                kept += 1
                continue
            if edition == "zh":
                # Translate the book's notebook, then (exercises) make its student version:
                # the student version turns roles into plain text, which no message matches.
                import translations

                origin = src / target.name
                docname = f"notebooks/{folder}/{target.stem}"
                nb = translations.translate_notebook(json.loads(origin.read_text(encoding="utf-8")), docname)
                if target.name == EXERCISES:
                    nb = translations.chinese_student_words(student_notebook(nb))
                target.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
            else:
                shutil.copy(source, target)
            added += 1
    start = start_here_notebook(START_PAGES[edition])
    (out / "00_start_here.ipynb").write_text(json.dumps(start, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"Student folder {out}: {added} notebook(s) added, {kept} of your copies kept as they were.")
    return out


def solution_leaks(folder: Path) -> list[str]:
    """Traces of solutions or hidden tests in the notebooks of a student-version folder."""
    leaks = []
    for nb_path in sorted(folder.rglob("*.ipynb")):
        nb = json.loads(nb_path.read_text(encoding="utf-8"))
        for i, cell in enumerate(nb["cells"]):
            text = _source(cell)
            for needle in (
                "BEGIN SOLUTION",
                "END SOLUTION",
                "BEGIN HIDDEN TESTS",
                "{solution",
                "solution-start",
                "solution-end",
            ):
                if needle in text:
                    leaks.append(f"{nb_path.name} cell {i}: {needle!r}")
    return leaks


# ---------------------------------------------------------------------------
# Submissions and autograding
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Submission:
    student: str
    assignment: str
    notebook: Path


def _student_id(raw: str) -> str:
    # nbgrader ids end up in paths and in the database: keep them plain.
    sid = re.sub(r"[^A-Za-z0-9_.@-]+", "_", raw).strip("_.")
    if not sid:
        raise CourseError(f"cannot make a student id from {raw!r}")
    return sid


def _visible(paths) -> list[Path]:
    return sorted(p for p in paths if not p.name.startswith("."))


def find_submissions(folder: Path, known: list[str], notebook_name: str = EXERCISES) -> list[Submission]:
    """Every submitted notebook under ``folder``, in any of the three layouts (module docstring)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise CourseError(f"submissions folder {folder} does not exist")
    base = folder / "submitted" if (folder / "submitted").is_dir() else folder
    found: list[Submission] = []
    for first in _visible(p for p in base.iterdir() if p.is_dir()):
        if first.name in known and _visible(first.glob("*.ipynb")):
            # <assignment>/<student>.ipynb
            for nb in _visible(first.glob("*.ipynb")):
                found.append(Submission(_student_id(nb.stem), first.name, nb))
            continue
        # <student>/<assignment>/<notebook>.ipynb
        for adir in _visible(p for p in first.iterdir() if p.is_dir()):
            if adir.name not in known:
                print(f"  skipped {adir}: not an assignment ({', '.join(known)})")
                continue
            nbs = _visible(adir.glob("*.ipynb"))
            named = [nb for nb in nbs if nb.name == notebook_name]
            if named or len(nbs) == 1:
                found.append(Submission(_student_id(first.name), adir.name, (named or nbs)[0]))
            elif nbs:
                print(f"  skipped {adir}: several notebooks and none named {notebook_name}")
    keys = [(s.student, s.assignment) for s in found]
    dupes = sorted({k for k in keys if keys.count(k) > 1})
    if dupes:
        raise CourseError(f"two submissions for the same student and assignment: {dupes}")
    return found


def _cell_grades(db: Path) -> list[dict]:
    from nbgrader.api import Gradebook

    rows = []
    with Gradebook(f"sqlite:///{db}") as gb:
        for assignment in gb.assignments:
            for sub in assignment.submissions:
                for nb in sub.notebooks:
                    for grade in nb.grades:
                        d = grade.to_dict()
                        rows.append(
                            {
                                "student_id": d["student"],
                                "assignment": d["assignment"],
                                "notebook": d["notebook"],
                                "cell": d["name"],
                                "score": float(grade.score),
                                "max_score": float(d["max_score"]),
                                "needs_manual_grade": bool(d["needs_manual_grade"]),
                            }
                        )
    return sorted(rows, key=lambda r: (r["student_id"], r["assignment"], r["notebook"]))


def autograde(
    submissions: Path, out: Path, names: list[str] | None = None, feedback: bool = False, guard: bool = True
) -> Path:
    """Grade every submission under ``submissions``; results in ``out`` (see module docstring).

    With ``guard`` (the default) each exercise's library reference is unavailable inside the
    student's answer while it is graded (``course/autograde_guard.py``).
    """
    selected = _select(names)
    subs = [s for s in find_submissions(Path(submissions), list(selected)) if s.assignment in selected]
    if not subs:
        raise CourseError(
            f"no submissions of {sorted(selected)} found under {submissions} "
            "(layouts: see python scripts/course.py autograde --help)"
        )
    course = _fresh_folder(out, kind="autograde")
    graded = {s.assignment: selected[s.assignment] for s in subs}
    n_students = len({s.student for s in subs})
    print(f"Autograding {len(subs)} submission(s) of {n_students} student(s) into {course}")
    # A fresh gradebook: the assignments are regenerated from the repository's notebooks,
    # which also restores the hidden tests that the student version lacks.
    grader = Course(course, guard=guard)
    _generate(grader, graded)
    (course / "guard").mkdir(exist_ok=True)
    for name, notebook in graded.items():
        exercises = guarded_references(json.loads(notebook.read_text(encoding="utf-8")))
        (course / "guard" / f"{name}.json").write_text(json.dumps({"exercises": exercises}, indent=1) + "\n")
    for s in subs:
        dest = course / "submitted" / s.student / s.assignment / graded[s.assignment].name
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(s.notebook, dest)
    for name in graded:
        grader.run("autograde", name, student_id="*")
        if feedback:
            grader.run("generate_feedback", name)
    grader.export(course / "grades.csv")
    with _stderr_to(course / "logs" / "grades_by_cell.log"):
        rows = _cell_grades(course / "gradebook.db")
    with open(course / "grades_by_cell.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]) if rows else ["student_id"])
        writer.writeheader()
        writer.writerows(rows)
    _print_table(rows)
    print(
        f"Done. Grades: {course / 'grades.csv'} (per assignment), {course / 'grades_by_cell.csv'} (per cell)"
        + (f"; feedback: {course / 'feedback'}" if feedback else "")
    )
    return course


def _print_table(rows: list[dict]) -> None:
    totals: dict[tuple[str, str], list[float]] = {}
    for r in rows:
        t = totals.setdefault((r["student_id"], r["assignment"]), [0.0, 0.0])
        t[0] += r["score"]
        t[1] += r["max_score"]
    names = sorted({a for _, a in totals})
    students = sorted({s for s, _ in totals})
    width = max([len("student")] + [len(s) for s in students])
    print("\n" + "student".ljust(width) + "".join(f"  {a:>16}" for a in names))
    for s in students:
        cells = [f"{totals[s, a][0]:g}/{totals[s, a][1]:g}" if (s, a) in totals else "-" for a in names]
        print(s.ljust(width) + "".join(f"  {c:>16}" for c in cells))
    print()


# ---------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python scripts/course.py",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Walk-through for instructors: the book's course guide (book/course_guide.md).",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list the assignments (one per chapter with exercises)")
    sub.add_parser("check", help="validate the exercise notebooks without running nbgrader")
    p = sub.add_parser("release", help="generate the student version of the assignments")
    p.add_argument("assignments", nargs="*", help="default: every assignment")
    p.add_argument(
        "--out",
        type=Path,
        default=ROOT / "build" / "course",
        help="course folder to (re)create (default: build/course)",
    )
    p.add_argument("--no-zip", action="store_true", help="do not write zips/<assignment>.zip")
    p = sub.add_parser(
        "student",
        help="the student's folder for JupyterLab: chapter notebooks and student exercises (make lab)",
    )
    p.add_argument(
        "--out", type=Path, default=None, help="folder to fill; existing notebooks are kept (default: build/student)"
    )
    p.add_argument(
        "--edition", choices=["en", "zh"], default="en", help="zh: the notebooks' prose in Chinese (build/student-zh)"
    )
    p = sub.add_parser(
        "autograde",
        help="autograde a folder of submissions and export the grades",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Submission layouts accepted under --submissions DIR:\n"
        "  DIR/submitted/<student>/<assignment>/<notebook>.ipynb\n"
        "  DIR/<student>/<assignment>/<notebook>.ipynb\n"
        "  DIR/<assignment>/<student>.ipynb",
    )
    p.add_argument("assignments", nargs="*", help="default: every assignment found in the submissions")
    p.add_argument("--submissions", type=Path, required=True, help="folder of submitted notebooks")
    p.add_argument(
        "--out",
        type=Path,
        default=ROOT / "build" / "grading",
        help="course folder to (re)create with the results (default: build/grading)",
    )
    p.add_argument(
        "--feedback", action="store_true", help="also write HTML feedback per submission (shows the hidden tests)"
    )
    p.add_argument(
        "--no-guard",
        action="store_true",
        help="leave the library's reference functions callable inside the answers (not recommended)",
    )
    args = parser.parse_args(argv)
    start = time.perf_counter()
    try:
        if args.command == "list":
            for name, path in assignments().items():
                print(f"{name:20s} {path.relative_to(ROOT)}")
        elif args.command == "check":
            bad = 0
            for name, path in assignments().items():
                problems = check_notebook(path)
                bad += len(problems)
                print(f"{name}: " + ("ok" if not problems else "\n  " + "\n  ".join(problems)))
            return 1 if bad else 0
        elif args.command == "release":
            release(args.out, args.assignments, make_zips=not args.no_zip)
        elif args.command == "student":
            student_folder(args.out or (STUDENT if args.edition == "en" else STUDENT_ZH), args.edition)
        else:
            autograde(args.submissions, args.out, args.assignments, feedback=args.feedback, guard=not args.no_guard)
    except CourseError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.command in ("release", "autograde", "student"):
        print(f"({time.perf_counter() - start:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
