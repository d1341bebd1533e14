"""Coursework: the exercise notebooks, their student release and autograding (scripts/course.py).

The fast tests check the notebooks' form and the script's parts. The slow ones run the two
instructor commands as an instructor would: ``release`` once, then ``autograde`` once on a
folder with three students per assignment (the reference solutions, the untouched student
version, and a submission whose code raises in two exercises), a cheater whose answers call
the library's references (two assignments) and a sloppy student with the typical mistake of
each bigger exercise (four assignments). Several minutes on two cores, most of it nbgrader
executing the notebooks.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("course", ROOT / "scripts" / "course.py")
course = importlib.util.module_from_spec(_spec)
sys.modules["course"] = course
_spec.loader.exec_module(course)

ASSIGNMENTS = course.assignments()
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


def _nb(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _src(cell: dict) -> str:
    return course._source(cell)


def _meta(cell: dict) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def _exercises(nb: dict) -> list[dict]:
    """Per autograded exercise: its solution cell's grade_id and the grade cells that follow it."""
    out: list[dict] = []
    for cell in nb["cells"]:
        meta = _meta(cell)
        if meta.get("solution"):
            out.append({"solution": meta["grade_id"], "tests": {}})
        elif meta.get("grade") and out:
            out[-1]["tests"][meta["grade_id"]] = meta["points"]
    return out


# ---------------------------------------------------------------------------
# The exercise notebooks
# ---------------------------------------------------------------------------
def test_every_chapter_with_notebooks_ends_with_exercises():
    # A book chapter may span several folders (ch03_cf, ch03_mtl, ...): each chapter number
    # with notebooks needs at least one exercise notebook among its folders.
    folders = sorted(p for p in (ROOT / "notebooks").glob("ch*") if p.is_dir() and any(p.glob("*.ipynb")))
    assert folders, "no chapter folders with notebooks"
    chapters = {f.name[:4] for f in folders}
    with_exercises = {name[:4] for name in ASSIGNMENTS}
    assert chapters == with_exercises, f"chapters without {course.EXERCISES}: {sorted(chapters - with_exercises)}"
    assert set(ASSIGNMENTS) <= {f.name for f in folders}


@pytest.mark.parametrize("name", sorted(ASSIGNMENTS))
def test_exercise_notebook_is_well_formed(name):
    assert course.check_notebook(ASSIGNMENTS[name]) == []


@pytest.mark.parametrize("name", sorted(ASSIGNMENTS))
def test_exercises_run_from_warm_up_to_open_ended(name):
    nb = _nb(ASSIGNMENTS[name])
    titles = [
        m.group("title") for c in nb["cells"] if c["cell_type"] == "markdown" for m in course.EXERCISE.finditer(_src(c))
    ]
    assert len(titles) >= 3
    assert "(warm-up)" in titles[0] and "(open-ended)" in titles[-1], titles
    exercises = _exercises(nb)
    assert len(exercises) >= 3, "at least three autograded exercises"
    for ex in exercises:
        # every autograded exercise has visible tests and hidden tests, each worth points
        assert len(ex["tests"]) >= 2 and all(p > 0 for p in ex["tests"].values()), ex
        hidden = [
            c for c in nb["cells"] if _meta(c).get("grade_id") in ex["tests"] and "### BEGIN HIDDEN TESTS" in _src(c)
        ]
        assert hidden, f"{ex['solution']} has no hidden tests"


BIGGER = {  # per multi-task chapter, the exercise that asks for a layer, a training step or a loop
    "ch03_mtl": "ch03_mtl_cgc",
    "ch04_math": "ch04_math_pcgrad_step",
    "ch05_project": "ch05_project_seeds",
    "ch06_applications": "ch06_applications_esmm_fit",
}


@pytest.mark.parametrize("name", sorted(BIGGER))
def test_every_multi_task_chapter_has_a_bigger_exercise(name):
    ex = next(ex for ex in _exercises(_nb(ASSIGNMENTS[name])) if ex["solution"] == BIGGER[name])
    assert ex["tests"] == {f"{BIGGER[name]}_visible": 2, f"{BIGGER[name]}_hidden": 4}


def test_check_reports_broken_notebooks(tmp_path):
    nb = _nb(ASSIGNMENTS["ch03_cf"])
    cells = nb["cells"]
    # drop every gated marker (solutions now sit in the open) and all but two exercises
    first_ex = [i for i, c in enumerate(cells) if course.EXERCISE.search(_src(c))]
    broken = [
        c
        for i, c in enumerate(cells)
        if not course.SOLUTION_START.match(_src(c)) and not course.SOLUTION_END.match(_src(c)) and i not in first_ex[2:]
    ]
    path = tmp_path / "ch03_cf" / course.EXERCISES
    path.parent.mkdir()
    path.write_text(json.dumps({**nb, "cells": broken}))
    problems = "\n".join(course.check_notebook(path))
    assert "not inside a {solution-start} block" in problems
    assert "only 2 exercises" in problems


def test_student_source_keeps_what_nbgrader_needs_and_drops_the_book_solutions():
    def md(s):
        return {"cell_type": "markdown", "metadata": {}, "source": s}

    def code(s, **m):
        return {"cell_type": "code", "metadata": m, "outputs": [], "execution_count": None, "source": s}

    sol_meta = {"nbgrader": {"solution": True, "grade": False, "locked": False, "grade_id": "x_a", "schema_version": 3}}
    nb = {
        "cells": [
            md(":::{exercise} Title one (warm-up)\n:label: ex-a\n\nSee {term}`sparsity <Sparsity>`.\n:::"),
            md(":::{solution-start} ex-a\n:class: dropdown\n:::"),
            code("def f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION", **sol_meta),
            md("Why it works: a secret."),
            md(":::{solution-end}\n:::"),
            md(":::{exercise} Two\n:label: ex-b\n\nText.\n:::"),
            md(":::{solution-start} ex-b\n:class: dropdown\n:::"),
            code("print('worked answer')"),
            md(":::{solution-end}\n:::"),
            md(":::{exercise} Three\n:label: ex-c\n\nText.\n:::"),
            md(":::{solution} ex-c\n:class: dropdown\n\nThe written answer.\n:::"),
        ],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 4,
    }
    out = course.student_source(nb)
    text = "\n".join(_src(c) for c in out["cells"])
    assert "### Exercise 1: Title one (warm-up)" in text and "### Exercise 3: Three" in text
    assert "See sparsity." in text and "{term}" not in text and ":label:" not in text
    assert "BEGIN SOLUTION" in text  # nbgrader replaces this region itself
    for gone in ("a secret", "worked answer", "The written answer", "{solution", "solution-end"):
        assert gone not in text
    assert text.count("YOUR ANSWER HERE") == 2  # ex-b and ex-c get an answer cell
    assert sum(bool(_meta(c).get("solution")) for c in out["cells"]) == 1


def test_find_submissions_accepts_three_layouts(tmp_path):
    def put(rel):
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("{}")

    put("submitted/ann/ch03_cf/90_exercises.ipynb")
    put("submitted/ann/ch04_math/90_exercises (1).ipynb")  # renamed by a browser download
    put("submitted/ann/notes/x.ipynb")  # not an assignment: skipped
    put("submitted/.ipynb_checkpoints/x.ipynb")
    found = course.find_submissions(tmp_path, ["ch03_cf", "ch04_math"])
    assert {(s.student, s.assignment) for s in found} == {("ann", "ch03_cf"), ("ann", "ch04_math")}

    flat = tmp_path / "flat"
    put("flat/bob/ch03_cf/90_exercises.ipynb")
    put("flat/ch04_math/Cai Li.ipynb")  # one file per student
    found = course.find_submissions(flat, ["ch03_cf", "ch04_math"])
    assert {(s.student, s.assignment) for s in found} == {("bob", "ch03_cf"), ("Cai_Li", "ch04_math")}

    put("dupe/ch03_cf/bob.ipynb")
    put("dupe/bob/ch03_cf/90_exercises.ipynb")
    with pytest.raises(course.CourseError, match="two submissions"):
        course.find_submissions(tmp_path / "dupe", ["ch03_cf"])


def test_output_folders_are_replaced_only_when_nothing_is_lost(tmp_path):
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "precious.txt").write_text("keep me")
    with pytest.raises(course.CourseError, match="not made by scripts/course.py"):
        course._fresh_folder(foreign)
    assert (foreign / "precious.txt").exists()

    release = course._fresh_folder(tmp_path / "course")  # ours: may be replaced...
    (release / "release").mkdir()
    course._fresh_folder(release)
    assert not (release / "release").exists()
    (release / "submitted" / "ann").mkdir(parents=True)  # ...until work was collected into it
    with pytest.raises(course.CourseError, match="collected work"):
        course._fresh_folder(release)
    assert (release / "submitted" / "ann").exists()

    grading = course._fresh_folder(tmp_path / "grading", kind="autograde")
    (grading / "submitted" / "ann").mkdir(parents=True)  # our own copies: replaced
    course._fresh_folder(grading, kind="autograde")
    assert not (grading / "submitted").exists()


# ---------------------------------------------------------------------------
# The instructor commands, end to end (nbgrader)
# ---------------------------------------------------------------------------
def _run(*args: str) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "scripts/course.py", *args], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


@pytest.fixture(scope="module")
def release_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("course")
    _run("release", "--out", str(out))
    return out


def _solution_lines(nb: dict, begin: str, end: str) -> list[str]:
    """Distinctive lines inside the begin/end regions of a notebook (not also found outside them)."""
    lines, outside = [], []
    for cell in nb["cells"]:
        text = _src(cell)
        for region in re.findall(rf"{begin}(.*?){end}", text, flags=re.DOTALL):
            lines += [line.strip() for line in region.splitlines() if len(line.strip()) > 25]
        outside.append(re.sub(rf"{begin}(.*?){end}", "", text, flags=re.DOTALL))
    rest = "\n".join(outside)
    return [line for line in lines if line not in rest]


def _book_only_solutions(nb: dict) -> list[dict]:
    """Cells of the book's solutions that are not nbgrader solution cells."""
    out, gated = [], False
    for cell in nb["cells"]:
        text = _src(cell)
        if cell["cell_type"] == "markdown" and course.SOLUTION_START.match(text):
            gated = True
        elif cell["cell_type"] == "markdown" and course.SOLUTION_END.match(text):
            gated = False
        elif (gated and not _meta(cell)) or (cell["cell_type"] == "markdown" and course.SOLUTION.match(text)):
            out.append(cell)
    return out


@pytest.mark.slow
def test_release_removes_every_solution(release_dir):
    for name, path in ASSIGNMENTS.items():
        released = release_dir / "release" / name / course.EXERCISES
        assert released.exists(), f"no student version of {name}"
        assert course.solution_leaks(released.parent) == []
        book = _nb(path)
        text = released.read_text(encoding="utf-8")
        student = _nb(released)
        # no line of any reference solution or hidden test survives
        secret = _solution_lines(book, "### BEGIN SOLUTION", "### END SOLUTION") + _solution_lines(
            book, "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
        )
        assert len(secret) > 10
        for line in secret:
            assert json.dumps(line)[1:-1] not in text, f"{name}: {line!r} leaked"
        # nor the worked answers of the book (gated blocks and {solution} directives)
        for cell in _book_only_solutions(book):
            for line in _src(cell).splitlines():
                if len(line.strip()) > 25:
                    assert json.dumps(line.strip())[1:-1] not in text, f"{name}: {line!r} leaked"
        stubs = [c for c in student["cells"] if _meta(c).get("solution")]
        assert len(stubs) == len(_exercises(book))
        assert all("raise NotImplementedError()" in _src(c) for c in stubs)
        with zipfile.ZipFile(release_dir / "zips" / f"{name}.zip") as z:
            assert f"{name}/{course.EXERCISES}" in z.namelist()


# Answers that call the library's reference of their exercise, in the ways a student might:
# directly, as an import under the exercise's name, through an aliased module, through a
# library layer. The autograder's guard must make each of them score zero.
CHEATS = {
    "ch03_cf": {
        "ch03_cf_ndcg": "def ndcg_at_k(recs, truth, k=10):\n    return mt.metrics.ndcg_at_k(recs, truth, k=k)\n",
        "ch03_cf_precision": "from mtrec_lib.metrics import precision_at_k\n",
        "ch03_cf_pearson": (
            "import mtrec_lib.cf as cf\n\n\ndef pearson_similarity(ratings, u, v):\n"
            "    return float(cf.similarity_matrix(ratings, 'pearson').loc[u, v])\n"
        ),
    },
    "ch03_mtl": {
        "ch03_mtl_forward": (
            "def mmoe_forward(x, kernels, biases, gate_kernel, num_tasks):\n"
            "    layer = MMoE(num_tasks, kernels.shape[0], kernels.shape[2])\n"
            "    layer(np.asarray(x, 'float32'))\n"
            "    layer.experts.kernels[0].assign(np.asarray(kernels, 'float32'))\n"
            "    layer.experts.biases[0].assign(np.asarray(biases, 'float32'))\n"
            "    layer.gate.kernel.assign(np.asarray(gate_kernel, 'float32'))\n"
            "    return [np.asarray(o) for o in layer(np.asarray(x, 'float32'))]\n"
        ),
    },
}
# The typical mistake of each bigger exercise, planted in the reference solution.
SLOPPY = {
    "ch03_mtl": ("ch03_mtl_cgc", "experts[:, k * s:(k + 1) * s, :]", "experts[:, 0:s, :]"),
    "ch04_math": ("ch04_math_pcgrad_step", "mt.models.gradients.pcgrad(np.stack(rows))", "np.stack(rows)"),
    "ch05_project": (
        "ch05_project_seeds",
        '"diff_se": diff.std(ddof=1) / np.sqrt(n)',
        '"diff_se": np.hypot(values.std(ddof=1), base.std(ddof=1)) / np.sqrt(n)',
    ),
    "ch06_applications": (
        "ch06_applications_esmm_fit",
        "X.T @ (push * (1 - b))",
        "X.T @ (click * push * (1 - b))",
    ),
}


def _replace_answer(nb: dict, grade_id: str, new: str | None = None, old: str = "", planted: str = "") -> dict:
    nb = json.loads(json.dumps(nb))
    cell = next(c for c in nb["cells"] if _meta(c).get("grade_id") == grade_id)
    text = _src(cell)
    if new is None:
        assert old in text, (grade_id, old)
        new = text.replace(old, planted)
    cell["source"] = new
    return nb


def _cheater(source: dict, name: str) -> dict:
    for grade_id, answer in CHEATS[name].items():
        source = _replace_answer(source, grade_id, answer)
    return source


@pytest.fixture(scope="module")
def graded(release_dir, tmp_path_factory) -> dict:
    """Autograde three students per assignment, a cheater and a sloppy student on some.

    Returns the per-cell grades and paths.
    """
    subs = tmp_path_factory.mktemp("submissions")
    broken: dict[str, set[str]] = {}
    for name in ASSIGNMENTS:
        reference = _nb(release_dir / "source" / name / course.EXERCISES)  # student version + solutions
        untouched = _nb(release_dir / "release" / name / course.EXERCISES)
        raiser = json.loads(json.dumps(reference))
        solutions = [c for c in raiser["cells"] if _meta(c).get("solution")]
        # exercise 1: the function raises when called; exercise 2: the cell raises when run
        solutions[0]["source"] = re.sub(
            r"### BEGIN SOLUTION.*?### END SOLUTION",
            "### BEGIN SOLUTION\n    raise ValueError('a bug')\n    ### END SOLUTION",
            _src(solutions[0]),
            flags=re.DOTALL,
        )
        solutions[1]["source"] = "1 / 0\n" + _src(solutions[1])
        broken[name] = {_meta(s)["grade_id"] for s in solutions[:2]}
        # two layouts at once: <student>/<assignment>/<notebook> and <assignment>/<student>.ipynb
        for nb, rel in [
            (reference, f"reference/{name}/{course.EXERCISES}"),
            (untouched, f"untouched/{name}/{course.EXERCISES}"),
            (raiser, f"{name}/raiser.ipynb"),
        ]:
            p = subs / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(json.dumps(nb))
        extra = []
        if name in CHEATS:
            extra.append((_cheater(reference, name), f"cheater/{name}/{course.EXERCISES}"))
        if name in SLOPPY:
            grade_id, old, planted = SLOPPY[name]
            extra.append(
                (_replace_answer(reference, grade_id, None, old, planted), f"sloppy/{name}/{course.EXERCISES}")
            )
        for nb, rel in extra:
            p = subs / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(json.dumps(nb))
    out = tmp_path_factory.mktemp("grading")
    proc = _run("autograde", "--submissions", str(subs), "--out", str(out))
    with open(out / "grades_by_cell.csv") as f:
        cells = list(csv.DictReader(f))
    with open(out / "grades.csv") as f:
        totals = list(csv.DictReader(f))
    return {"cells": cells, "totals": totals, "out": out, "broken": broken, "stdout": proc.stdout}


def _cells_of(graded, student, name):
    rows = [r for r in graded["cells"] if r["student_id"] == student and r["assignment"] == name]
    return {r["cell"]: (float(r["score"]), float(r["max_score"])) for r in rows}


def _points(name) -> dict[str, float]:
    return {
        _meta(c)["grade_id"]: float(_meta(c)["points"])
        for c in _nb(ASSIGNMENTS[name])["cells"]
        if _meta(c).get("grade")
    }


@pytest.mark.slow
def test_reference_solutions_get_full_marks(graded):
    for name in ASSIGNMENTS:
        got = _cells_of(graded, "reference", name)
        assert got == {cell: (p, p) for cell, p in _points(name).items()}, name
        autograded = _nb(graded["out"] / "autograded" / "reference" / name / course.EXERCISES)
        outputs = [o for c in autograded["cells"] for o in c.get("outputs", [])]
        assert not [o for o in outputs if o.get("output_type") == "error"], f"{name}: reference raised"
        assert not [o for o in outputs if WIDGET_MIME in o.get("data", {})], f"{name}: widget output"


@pytest.mark.slow
def test_untouched_student_version_scores_zero_without_crashing(graded):
    for name in ASSIGNMENTS:
        got = _cells_of(graded, "untouched", name)
        assert set(got) == set(_points(name)), f"{name}: not every graded cell was graded"
        assert all(score == 0.0 for score, _ in got.values()), got


@pytest.mark.slow
def test_a_submission_that_raises_loses_only_those_exercises(graded):
    for name in ASSIGNMENTS:
        got = _cells_of(graded, "raiser", name)
        for ex in _exercises(_nb(ASSIGNMENTS[name])):
            for cell, points in ex["tests"].items():
                expected = 0.0 if ex["solution"] in graded["broken"][name] else points
                assert got[cell] == (expected, points), (name, cell)


def _exercise_of(name: str, solution_id: str) -> dict[str, float]:
    return next(ex["tests"] for ex in _exercises(_nb(ASSIGNMENTS[name])) if ex["solution"] == solution_id)


@pytest.mark.slow
def test_answers_that_call_the_reference_score_zero(graded):
    for name, cheats in CHEATS.items():
        got = _cells_of(graded, "cheater", name)
        for ex in _exercises(_nb(ASSIGNMENTS[name])):
            for cell, points in ex["tests"].items():
                expected = 0.0 if ex["solution"] in cheats else points
                assert got[cell] == (expected, points), (name, cell)
        autograded = (graded["out"] / "autograded" / "cheater" / name / course.EXERCISES).read_text()
        assert "ReferenceCallError" in autograded and "is the reference that" in autograded


@pytest.mark.slow
def test_the_cheats_would_pass_without_the_guard(release_dir):
    # Without the guard the same answers pass the visible tests: the zero above is the
    # guard's doing, not a broken cheat.
    import nbclient
    import nbformat

    for name in CHEATS:
        nb = nbformat.reads(json.dumps(_cheater(_nb(release_dir / "source" / name / course.EXERCISES), name)), 4)
        nbclient.NotebookClient(nb, kernel_name="python3", timeout=300).execute()  # raises on a failing cell
        printed = "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))
        assert printed.count("visible tests passed") == len(_exercises(nb)), name


@pytest.mark.slow
def test_bigger_exercises_grade_a_broken_answer_lower(graded):
    for name, (solution_id, _old, _planted) in SLOPPY.items():
        got = _cells_of(graded, "sloppy", name)
        tests = _exercise_of(name, solution_id)
        assert sum(p for p in tests.values()) >= 6, f"{solution_id} is one of the bigger exercises"
        visible = [c for c in tests if c.endswith("_visible")]
        assert visible and all(got[c][0] == 0.0 for c in visible), (name, got)
        assert sum(got[c][0] for c in tests) < sum(tests.values()), name
        for cell, points in _points(name).items():
            if cell not in tests:
                assert got[cell] == (points, points), (name, cell)  # the other exercises are unharmed


@pytest.mark.slow
def test_grades_csv_has_one_row_per_student_and_assignment(graded):
    rows = {(r["student_id"], r["assignment"]): float(r["score"]) for r in graded["totals"]}
    expected = {(s, a) for s in ("reference", "untouched", "raiser") for a in ASSIGNMENTS}
    expected |= {("cheater", a) for a in CHEATS} | {("sloppy", a) for a in SLOPPY}
    assert expected <= set(rows)
    # nbgrader's export lists every assignment for every student: 0 where nothing was submitted
    assert all(rows[key] == 0.0 and key[0] in ("cheater", "sloppy") for key in set(rows) - expected)
    for name in ASSIGNMENTS:
        assert rows["reference", name] == sum(_points(name).values())
        assert rows["untouched", name] == 0.0
    assert "reference" in graded["stdout"]  # the summary table is printed


def test_course_guide_lists_every_exercise_page():
    guide = (ROOT / "book" / "course_guide.md").read_text(encoding="utf-8")
    listed = set(re.findall(r"\{doc\}`/notebooks/([^/`]+)/90_exercises`", guide))
    assert listed == set(ASSIGNMENTS), f"missing: {sorted(set(ASSIGNMENTS) - listed)}"
