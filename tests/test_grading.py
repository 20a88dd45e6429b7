"""The real nbgrader pipeline, end to end, on the UTF-8 exercise.

One temporary course is built from ``solutions/utf8/utf8.md``; a class of synthetic submissions
(correct, blank, partial, looping, tampering) is autograded once with ``nbgrader autograde``, and
the scores are read back from nbgrader's gradebook.
"""

from __future__ import annotations

import copy
import re
import time
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook

from tokbook.course.nbgrader_app import run_nbgrader
from tokbook.course.release import source_notebook
from tokbook.course.settings import CELL_TIMEOUT

ROOT = Path(__file__).resolve().parents[1]
STEM = "utf8"

COURSE_CONFIG = """\
from tokbook.course.settings import grading_config
c = get_config()
c.merge(grading_config())
c.CourseDirectory.course_id = "test-course"
"""

# Points of each task (solution grade_id -> points of its test cells), read from the source.
SOURCE = source_notebook(ROOT / "solutions" / STEM / f"{STEM}.md")


def _task_points() -> dict[str, float]:
    points: dict[str, float] = {}
    task = None
    for cell in SOURCE.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution"):
            task = meta["grade_id"]
        if meta.get("grade"):
            points[task] = points.get(task, 0) + meta["points"]
    return points


TASK_POINTS = _task_points()
MAX_SCORE = sum(TASK_POINTS.values())
SOLUTIONS = {
    c.metadata["nbgrader"]["grade_id"]: c.source
    for c in SOURCE.cells
    if c.metadata.get("nbgrader", {}).get("solution")
}


def _release() -> nbformat.NotebookNode:
    return nbformat.read(ROOT / "exercises" / STEM / f"{STEM}.ipynb", as_version=4)


def _solve(nb: nbformat.NotebookNode, tasks, replace: dict[str, str] | None = None) -> nbformat.NotebookNode:
    """Fill the solution cells of ``tasks`` with the instructor's solution (or ``replace``)."""
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if replace and grade_id in replace:
            cell.source = replace[grade_id]
        elif grade_id in tasks and cell.metadata["nbgrader"].get("solution"):
            cell.source = SOLUTIONS[grade_id]
    return nb


def _is_test(cell) -> bool:
    return cell.metadata.get("nbgrader", {}).get("grade", False)


PARTIAL_TASKS = ("encode_codepoint", "text_stats")
PARTIAL_SCORE = sum(TASK_POINTS[t] for t in PARTIAL_TASKS)

LOOPING = '''def decode_replace(data):
    while True:
        pass
'''

WARNS = SOLUTIONS["encode_codepoint"].replace(
    '    """Return the UTF-8 encoding of the code point ``cp``."""\n',
    '    """Return the UTF-8 encoding of the code point ``cp``."""\n'
    "    import logging, sys, warnings\n"
    '    warnings.simplefilter("always")\n'
    '    warnings.warn("a library warning", DeprecationWarning)\n'
    '    logging.warning("a log line")\n'
    '    print("debugging output", file=sys.stderr)\n',
)

NO_RANGE_CHECKS = '''def encode_codepoint(cp):
    if cp < 0x80:
        return bytes([cp])
    if cp < 0x800:
        return bytes([0xC0 | cp >> 6, 0x80 | cp & 0x3F])
    if cp < 0x10000:
        return bytes([0xE0 | cp >> 12, 0x80 | cp >> 6 & 0x3F, 0x80 | cp & 0x3F])
    return bytes([0xF0 | cp >> 18, 0x80 | cp >> 12 & 0x3F, 0x80 | cp >> 6 & 0x3F, 0x80 | cp & 0x3F])
'''


def _edited_tests(nb):
    nb = _solve(nb, PARTIAL_TASKS)
    for cell in nb.cells:
        if _is_test(cell):
            cell.source = "pass"
    return nb


def _deleted_tests(nb):
    nb = _solve(nb, PARTIAL_TASKS)
    nb.cells = [c for c in nb.cells if not _is_test(c)]
    return nb


def _stripped_metadata(nb):
    nb = _solve(nb, PARTIAL_TASKS)
    for cell in nb.cells:
        cell.metadata = {}
    nb.metadata = {"kernelspec": nb.metadata["kernelspec"]}
    return nb


def _stripped_and_edited(nb):
    nb = _stripped_metadata(nb)
    for cell in nb.cells:
        if cell.cell_type == "code" and cell.source.startswith('"""') and "tests" in cell.source.splitlines()[0]:
            cell.source = "pass"
    return nb


ALL = tuple(TASK_POINTS)
STUDENTS = {
    # student id: (how the submission is made, expected score)
    "solution": (lambda nb: _solve(nb, ALL), MAX_SCORE),
    "blank": (lambda nb: nb, 0),
    "partial": (lambda nb: _solve(nb, PARTIAL_TASKS), PARTIAL_SCORE),
    "warnings": (lambda nb: _solve(nb, ALL, {"encode_codepoint": WARNS}), MAX_SCORE),
    "no-range-checks": (
        lambda nb: _solve(nb, ALL, {"encode_codepoint": NO_RANGE_CHECKS}),
        MAX_SCORE - 2,  # passes the visible test (1 point), fails the hidden one (2 points)
    ),
    "looping": (
        lambda nb: _solve(nb, ALL, {"decode_replace": LOOPING}),
        MAX_SCORE - TASK_POINTS["decode_replace"],
    ),
    "edited-tests": (_edited_tests, PARTIAL_SCORE),
    "deleted-tests": (_deleted_tests, PARTIAL_SCORE),
    "stripped-metadata": (_stripped_metadata, PARTIAL_SCORE),
    "stripped-and-edited": (_stripped_and_edited, PARTIAL_SCORE),
}


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """A course directory with the exercise released and every student's submission autograded."""
    root = tmp_path_factory.mktemp("course")
    (root / "nbgrader_config.py").write_text(COURSE_CONFIG)
    source = root / "source" / STEM / f"{STEM}.ipynb"
    source.parent.mkdir(parents=True)
    nbformat.write(SOURCE, source)
    generated = run_nbgrader(["generate_assignment", STEM], cwd=root)
    assert generated.returncode == 0, generated.stdout + generated.stderr

    release = _release()
    for student, (make, _) in STUDENTS.items():
        path = root / "submitted" / student / STEM / f"{STEM}.ipynb"
        path.parent.mkdir(parents=True)
        nbformat.write(make(release), path)

    started = time.monotonic()
    graded = run_nbgrader(["autograde", STEM, "--create"], cwd=root, timeout=600)
    elapsed = time.monotonic() - started
    return root, graded, elapsed


def _score(root: Path, student: str) -> float:
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        return gb.find_submission_notebook(STEM, STEM, student).score


def test_the_fresh_release_equals_the_committed_exercise(course):
    """exercises/ is regenerated from solutions/: a stale committed notebook fails here."""
    root, _, _ = course
    fresh = (root / "release" / STEM / f"{STEM}.ipynb").read_bytes()
    committed = (ROOT / "exercises" / STEM / f"{STEM}.ipynb").read_bytes()
    assert fresh == committed, "exercises/ is stale: run `make exercises` and commit the result"


def test_the_release_hides_solutions_and_hidden_tests():
    text = (ROOT / "exercises" / STEM / f"{STEM}.ipynb").read_text(encoding="utf-8")
    assert "BEGIN SOLUTION" not in text and "BEGIN HIDDEN TESTS" not in text
    assert not any("{{" in cell.source for cell in SOURCE.cells), "a placeholder was not substituted"
    stubs = [c for c in _release().cells if "raise NotImplementedError()" in c.source]
    assert [c.metadata["nbgrader"]["grade_id"] for c in stubs if c.cell_type == "code"] == list(SOLUTIONS)


def test_autograde_exits_zero_for_the_whole_class(course):
    _, graded, _ = course
    assert graded.returncode == 0, graded.stdout + graded.stderr


@pytest.mark.parametrize("student", list(STUDENTS))
def test_each_submission_gets_the_score_it_earned(course, student):
    root, _, _ = course
    expected = STUDENTS[student][1]
    assert _score(root, student) == pytest.approx(expected), f"{student} should score {expected}"


def test_scores_are_full_zero_and_strictly_partial():
    assert MAX_SCORE > 0 and 0 < PARTIAL_SCORE < MAX_SCORE


def test_a_looping_submission_is_bounded_by_the_cell_timeout(course):
    """Both test cells of the looping task time out; everything else runs at normal speed."""
    root, _, elapsed = course
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        grades = {g.name: g.score for g in gb.find_submission_notebook(STEM, STEM, "looping").grades}
    assert grades["test_decode_replace"] == 0 and grades["test_decode_replace_hidden"] == 0
    assert grades["test_decode_strict_hidden"] == TASK_POINTS["decode_strict"] - 1
    looping_cells = 2
    assert elapsed < looping_cells * CELL_TIMEOUT + 20 * len(STUDENTS)


def test_the_hidden_tests_use_literals_not_tokbook():
    """Hidden tests compare with constants made at build time, so patching tokbook gains nothing."""
    for cell in SOURCE.cells:
        if "BEGIN HIDDEN TESTS" in cell.source:
            hidden = cell.source.split("### BEGIN HIDDEN TESTS")[1]
            assert not re.search(r"\btokbook\b|\bref\.", hidden), cell.source[:80]
