"""Coursework: the autograding guard, the handout policy, the student's folder, visible tests.

The guard (``course/autograde_guard.py``) is tested in a real IPython kernel, as nbgrader
runs it; the end-to-end grades of a submission that calls the references are in
``tests/test_course.py`` (the ``cheater`` student).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
if "course" not in sys.modules:
    _spec = importlib.util.spec_from_file_location("course", ROOT / "scripts" / "course.py")
    sys.modules["course"] = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(sys.modules["course"])
course = sys.modules["course"]
guard = course._guard_module()
ASSIGNMENTS = course.assignments()


def _nb(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _cell(nb: dict, grade_id: str) -> dict:
    return next(c for c in nb["cells"] if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == grade_id)


# ---------------------------------------------------------------------------
# Which references each exercise is graded against
# ---------------------------------------------------------------------------
def test_every_reference_resolves_to_a_library_object():
    paths = {r for p in ASSIGNMENTS.values() for refs in course.guarded_references(_nb(p)).values() for r in refs}
    assert "mtrec_lib.metrics.ndcg_at_k" in paths and "mtrec_lib.models.CGC" in paths
    for path in sorted(paths):
        _owner, _name, obj = guard._resolve(path)
        assert callable(obj), path


def test_exercises_with_a_library_twin_are_guarded():
    # Every hidden test that names a function of the library as its reference must list it.
    for name, path in ASSIGNMENTS.items():
        nb = _nb(path)
        exercises = course.guarded_references(nb)
        for cell in nb["cells"]:
            meta = cell.get("metadata", {}).get("nbgrader", {})
            if meta.get("solution"):
                names = course.answer_names(cell)
            if meta.get("grade") and "### BEGIN HIDDEN TESTS" in course._source(cell):
                for called in re.findall(
                    r"mt\.(metrics\.\w+|experiment\.\w+|rerank\.\w+|pipeline\.\w+)\(", course._source(cell)
                ):
                    if called in ("metrics.logloss", "metrics.auc", "pipeline.fuse_scores"):
                        continue  # building blocks the statements allow (ESMM's loss, GAUC, fusion)
                    refs = {r for n in names for r in exercises.get(n, [])}
                    assert f"mtrec_lib.{called}" in refs, (name, meta["grade_id"], called)


def test_check_refuses_a_solution_cell_without_references(tmp_path):
    nb = _nb(ASSIGNMENTS["ch03_cf"])
    sol = _cell(nb, "ch03_cf_ndcg")
    del sol["metadata"]["mtrec"]
    path = tmp_path / "ch03_cf" / course.EXERCISES
    path.parent.mkdir()
    path.write_text(json.dumps(nb))
    assert any("no mtrec.references" in p for p in course.check_notebook(path))


# ---------------------------------------------------------------------------
# The guard in a kernel
# ---------------------------------------------------------------------------
@pytest.mark.slow
def test_guard_blocks_calls_aliases_helpers_and_rebinding(tmp_path, monkeypatch):
    import nbclient
    import nbformat

    config = tmp_path / "guard.json"
    config.write_text(
        json.dumps(
            {
                "exercises": {
                    "ndcg_at_k": ["mtrec_lib.metrics.ndcg_at_k"],
                    "fit_minmax": ["sklearn.preprocessing.MinMaxScaler"],
                }
            }
        )
    )
    monkeypatch.setenv(guard.ENV, str(config))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    probe = (
        "def probe(label):\n"
        "    try:\n"
        "        print(label, ndcg_at_k(recs, truth, 2))\n"
        "    except Exception as err:\n"
        "        print(label, type(err).__name__)\n"
    )
    cells = [
        "import pandas as pd\nimport mtrec_lib as mt\nimport mtrec_lib.metrics as m\n"
        "from mtrec_lib.metrics import ndcg_at_k as imported\n"
        "recs = pd.DataFrame({'user_id': [1, 1], 'item_id': [1, 2], 'rank': [1, 2]})\n"
        "truth = pd.DataFrame({'user_id': [1], 'item_id': [2]})\n" + probe,
        "print('test cell', round(mt.metrics.ndcg_at_k(recs, truth, k=2), 4))",
        "def ndcg_at_k(recs, truth, k=10):\n    return mt.metrics.ndcg_at_k(recs, truth, k=k)",
        "probe('direct')",
        "def helper(r, t, k):\n    return imported(r, t, k=k)\n"
        "def ndcg_at_k(recs, truth, k=10):\n    return helper(recs, truth, k)",
        "probe('helper')",
        "ndcg_at_k = m.ndcg_at_k",
        "probe('alias')",
        "from mtrec_lib.metrics import ndcg_at_k",
        "probe('import')",
        "ndcg_at_k = lambda recs, truth, k=10: m.ndcg_at_k(recs, truth, k=k)",
        "probe('lambda')",
        "mt.metrics.ndcg_at_k = lambda *a, **kw: 0.5",
        "print('restored', round(mt.metrics.ndcg_at_k(recs, truth, k=2), 4))",
        "def ndcg_at_k(recs, truth, k=10):\n    return 0.25",
        "probe('own')",
        "from sklearn.preprocessing import MinMaxScaler\nimport numpy as np\n"
        "def fit_minmax(X):\n    s = MinMaxScaler().fit(X)\n    return s.data_min_, s.data_max_\n"
        "try:\n    fit_minmax(np.eye(2))\nexcept Exception as err:\n    print('class', type(err).__name__)\n"
        "print('class in a test', MinMaxScaler().fit(np.eye(2)).data_max_.tolist())",
    ]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    client = nbclient.NotebookClient(
        nb, kernel_name="python3", timeout=120, extra_arguments=[guard.kernel_argument(str(course.GUARD))]
    )
    client.execute()
    printed = "".join(o.get("text", "") for c in nb.cells for o in c.outputs)
    assert "test cell 0.6309" in printed  # the tests' own calls reach the library
    for label in ("direct", "helper", "alias", "import", "lambda"):
        assert f"{label} ReferenceCallError" in printed, (label, printed)
    assert "restored 0.6309" in printed  # rebinding the library's attribute is undone
    assert "own 0.25" in printed  # an answer of one's own runs
    assert "class ReferenceCallError" in printed and "class in a test [1.0, 1.0]" in printed


def test_guard_is_off_without_its_configuration(monkeypatch):
    monkeypatch.delenv(guard.ENV, raising=False)
    assert guard.install() is None


# ---------------------------------------------------------------------------
# What students get: the handout policy
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(ASSIGNMENTS))
def test_exercise_page_says_its_download_is_the_instructor_copy(name):
    nb = _nb(ASSIGNMENTS[name])
    notes = [c for c in nb["cells"] if course.INSTRUCTOR_ONLY in c.get("metadata", {}).get("tags", [])]
    assert len(notes) == 1
    text = course._source(notes[0])
    assert "download" in text and "make release" in text and "course guide" in text
    # ... and the student version does not carry it
    student = course.student_source(nb)
    assert not [c for c in student["cells"] if course.INSTRUCTOR_ONLY in c.get("metadata", {}).get("tags", [])]
    assert "instructor copy" not in json.dumps(student)


def test_course_guide_says_how_to_hand_out_the_exercises():
    guide = (ROOT / "book" / "course_guide.md").read_text(encoding="utf-8")
    section = guide.split("## Before you assign", 1)[1].split("\n## ", 1)[0]
    assert "download" in section and "solutions" in section and "build/course/release" in section
    assert "make lab" in section
    assert "ReferenceCallError" in guide


def test_student_version_has_no_book_only_markup():
    for name, path in ASSIGNMENTS.items():
        text = json.dumps(course.student_source(_nb(path)), ensure_ascii=False)
        for markup in ("{cite", "{term}", "{doc}", "{exercise}", ":label:"):
            assert markup not in text, (name, markup)
    out, _ = course.plain_markdown("as {cite:t}`koren2010neighbors` shows {cite:p}`ma2018mmoe`")
    assert out == "as Koren (2010) shows (Ma et al., 2018)"


# ---------------------------------------------------------------------------
# The student's folder (make lab) and its start page
# ---------------------------------------------------------------------------
def test_reading_order_follows_the_book_and_the_start_page_lists_it():
    order = course.reading_order()
    assert order.index("ch03_cf") < order.index("ch03_mtl") < order.index("ch03_experiments")
    folders = {p.name for p in (ROOT / "notebooks").glob("ch*") if p.is_dir()}
    assert set(order) == folders
    readme = (ROOT / "notebooks" / "README.md").read_text(encoding="utf-8")
    listed = re.findall(r"^\d+\. `(ch\d\d_\w+)`", readme, re.MULTILINE)
    assert listed == order
    assert "make lab" in readme and "build/student" in readme
    cells = course.start_here_notebook()["cells"]
    assert len(cells) > 3 and "Reading order" in "".join(c["source"] for c in cells)


@pytest.mark.slow
def test_student_folder_has_student_exercises_and_keeps_the_students_work(tmp_path):
    out = course.student_folder(tmp_path / "student")
    for folder in course.reading_order():
        chapter = sorted(p.name for p in (ROOT / "notebooks" / folder).glob("0*.ipynb"))
        assert chapter and all((out / folder / n).exists() for n in chapter)
        if folder in ASSIGNMENTS:
            assert course.solution_leaks(out / folder) == [], folder
            assert "raise NotImplementedError()" in (out / folder / course.EXERCISES).read_text()
    assert (out / "00_start_here.ipynb").exists()
    # The release, whose source/ holds the solutions, is kept outside the folder students open.
    released = out.parent / f".{out.name}-release"
    assert (released / "source").is_dir() and not list(out.glob(".*"))
    made = (released / course.MARKER).stat().st_mtime
    mine = out / "ch03_cf" / course.EXERCISES
    mine.write_text('{"my": "answers"}')
    course.student_folder(out)  # make lab again: nothing regenerated, nothing overwritten
    assert mine.read_text() == '{"my": "answers"}'
    assert (released / course.MARKER).stat().st_mtime == made


# ---------------------------------------------------------------------------
# Visible tests catch the mistakes an exercise invites
# ---------------------------------------------------------------------------
def _run_visible(name: str, solution: str, visible: str, namespace: dict) -> None:
    nb = _nb(ASSIGNMENTS[name])
    exec(solution, namespace)
    exec(course._source(_cell(nb, visible)), namespace)


def _solution(name: str, grade_id: str) -> str:
    return course._source(_cell(_nb(ASSIGNMENTS[name]), grade_id))


@pytest.mark.parametrize(
    "bug",
    [
        ("k * E : (k + 1) * E]", "k::num_tasks]"),  # every num_tasks-th column
        ("k * E : (k + 1) * E]", ":E]"),  # task 0's gate for every task
    ],
)
def test_mmoe_visible_test_catches_gate_slicing_bugs(bug):
    right = _solution("ch03_mtl", "ch03_mtl_forward")
    _run_visible("ch03_mtl", right, "ch03_mtl_forward_visible", {"np": np})
    wrong = right.replace(*bug)
    assert wrong != right
    with pytest.raises(AssertionError, match="gate columns"):
        _run_visible("ch03_mtl", wrong, "ch03_mtl_forward_visible", {"np": np})


def test_esmm_visible_test_catches_clicked_only_conversion_training():
    import mtrec_lib as mt

    right = _solution("ch06_applications", "ch06_applications_esmm_fit")
    _run_visible("ch06_applications", right, "ch06_applications_esmm_fit_visible", {"np": np, "mt": mt})
    wrong = right.replace("X.T @ (push * (1 - b))", "X.T @ (click * push * (1 - b))")
    assert wrong != right
    with pytest.raises(AssertionError, match="every impression"):
        _run_visible("ch06_applications", wrong, "ch06_applications_esmm_fit_visible", {"np": np, "mt": mt})


def test_seed_loop_visible_test_catches_unpaired_standard_errors():
    import pandas as pd

    right = _solution("ch05_project", "ch05_project_seeds")
    _run_visible("ch05_project", right, "ch05_project_seeds_visible", {"np": np, "pd": pd})
    wrong = right.replace(
        '"diff_se": diff.std(ddof=1) / np.sqrt(n)',
        '"diff_se": np.hypot(values.std(ddof=1), base.std(ddof=1)) / np.sqrt(n)',
    )
    assert wrong != right
    with pytest.raises(AssertionError):
        _run_visible("ch05_project", wrong, "ch05_project_seeds_visible", {"np": np, "pd": pd})


def test_transfer_visible_test_refuses_a_single_run_verdict():
    import pandas as pd

    right = _solution("ch09_faq", "ch09_faq_transfer")
    _run_visible("ch09_faq", right, "ch09_faq_transfer_visible", {"np": np, "pd": pd})
    # The first edition's answer: any drop is negative transfer.
    wrong = right.replace('table["change"] + 2 * table["se"] < 0', 'table["change"] < 0')
    assert wrong != right
    with pytest.raises(AssertionError):
        _run_visible("ch09_faq", wrong, "ch09_faq_transfer_visible", {"np": np, "pd": pd})


def test_training_step_visible_test_catches_a_step_without_projection():
    import mtrec_lib as mt

    right = _solution("ch04_math", "ch04_math_pcgrad_step")
    _run_visible("ch04_math", right, "ch04_math_pcgrad_step_visible", {"np": np, "mt": mt})
    wrong = right.replace("mt.models.gradients.pcgrad(np.stack(rows))", "np.stack(rows)")
    assert wrong != right
    with pytest.raises(AssertionError, match="must be projected"):
        _run_visible("ch04_math", wrong, "ch04_math_pcgrad_step_visible", {"np": np, "mt": mt})


def test_cgc_visible_test_catches_a_gate_over_another_tasks_experts():
    import keras  # noqa: F401  (the solution cell imports it too)

    right = _solution("ch03_mtl", "ch03_mtl_cgc")
    _run_visible("ch03_mtl", right, "ch03_mtl_cgc_visible", {"np": np})
    wrong = right.replace("experts[:, k * s:(k + 1) * s, :]", "experts[:, 0:s, :]")
    assert wrong != right
    with pytest.raises(AssertionError, match="task 1 mixes"):
        _run_visible("ch03_mtl", wrong, "ch03_mtl_cgc_visible", {"np": np})
