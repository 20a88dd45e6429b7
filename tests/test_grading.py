"""The real nbgrader pipeline, end to end, on every exercise in solutions/.

For each exercise one temporary course is built from ``solutions/<stem>/<stem>.md``; a class of
synthetic submissions (correct, blank, partial, noisy, looping, tampering) is autograded with
``nbgrader autograde``, and the scores are read back from nbgrader's gradebook.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import nbformat
import pytest
from nbgrader.api import Gradebook

from tokbook.course.nbgrader_app import run_nbgrader
from tokbook.course.notebook import fill_solutions, nbgrader_metadata
from tokbook.course.notebook import is_test as _is_test
from tokbook.course.release import source_notebook
from tokbook.course.settings import CELL_TIMEOUT, write_course_config

ROOT = Path(__file__).resolve().parents[1]
STEMS = sorted(p.name for p in (ROOT / "solutions").iterdir() if (p / f"{p.name}.md").is_file())

@dataclass
class Exercise:
    """What the tests need to know about one exercise, read from its source."""

    stem: str
    source: nbformat.NotebookNode
    solutions: dict[str, str] = field(default_factory=dict)  # solution grade_id -> code
    functions: dict[str, str] = field(default_factory=dict)  # solution grade_id -> function it defines
    points: dict[str, float] = field(default_factory=dict)  # solution grade_id -> points of its tests
    test_cells: dict[str, list[str]] = field(default_factory=dict)  # solution grade_id -> test grade_ids

    @classmethod
    def read(cls, stem: str) -> "Exercise":
        ex = cls(stem, source_notebook(ROOT / "solutions" / stem / f"{stem}.md"))
        task = None
        for cell in ex.source.cells:
            meta = nbgrader_metadata(cell)
            if meta.get("solution"):
                task = meta["grade_id"]
                ex.solutions[task] = cell.source
                ex.functions[task] = re.search(r"^def (\w+)", cell.source, re.M).group(1)
            if meta.get("grade"):
                ex.points[task] = ex.points.get(task, 0) + meta["points"]
                ex.test_cells.setdefault(task, []).append(meta["grade_id"])
        return ex

    @property
    def max_score(self) -> float:
        return sum(self.points.values())

    @property
    def partial_tasks(self) -> list[str]:
        return list(self.solutions)[:2]

    @property
    def partial_score(self) -> float:
        return sum(self.points[t] for t in self.partial_tasks)

    @property
    def looping_task(self) -> str:
        return list(self.solutions)[-1]

    def release(self) -> nbformat.NotebookNode:
        return nbformat.read(ROOT / "exercises" / self.stem / f"{self.stem}.ipynb", as_version=4)

    def solve(self, nb, tasks, replace: dict[str, str] | None = None):
        """Fill the solution cells of ``tasks`` with the instructor's code (or ``replace``)."""
        return fill_solutions(nb, self.solutions, tasks, replace)


def _noisy(ex: Exercise, task: str) -> str:
    """The solution of ``task``, wrapped so that every call warns, logs and writes to stderr."""
    name = ex.functions[task]
    return ex.solutions[task] + f"""

_quiet_{name} = {name}

def {name}(*args, **kwargs):
    import logging, sys, warnings
    warnings.simplefilter("always")
    warnings.warn("a library warning", DeprecationWarning)
    logging.warning("a log line")
    print("debugging output", file=sys.stderr)
    return _quiet_{name}(*args, **kwargs)
"""


def _looping(ex: Exercise, task: str) -> str:
    return f"def {ex.functions[task]}(*args, **kwargs):\n    while True:\n        pass\n"


def _edited_tests(ex, nb):
    nb = ex.solve(nb, ex.partial_tasks)
    for cell in nb.cells:
        if _is_test(cell):
            cell.source = "pass"
    return nb


def _deleted_tests(ex, nb):
    nb = ex.solve(nb, ex.partial_tasks)
    nb.cells = [c for c in nb.cells if not _is_test(c)]
    return nb


def _stripped_metadata(ex, nb, edit_tests=False):
    nb = ex.solve(nb, ex.partial_tasks)
    for cell in nb.cells:
        if edit_tests and _is_test(cell):
            cell.source = "pass"
        cell.metadata = {}
    nb.metadata = {"kernelspec": nb.metadata["kernelspec"]}
    return nb


# student id -> (how the submission is made from the release, the score it must get)
STUDENTS: dict[str, tuple[Callable, Callable[[Exercise], float]]] = {
    "solution": (lambda ex, nb: ex.solve(nb, ex.solutions), lambda ex: ex.max_score),
    "blank": (lambda ex, nb: nb, lambda ex: 0),
    "partial": (lambda ex, nb: ex.solve(nb, ex.partial_tasks), lambda ex: ex.partial_score),
    "noisy": (
        lambda ex, nb: ex.solve(nb, ex.solutions, {t: _noisy(ex, t) for t in ex.solutions}),
        lambda ex: ex.max_score,
    ),
    "looping": (
        lambda ex, nb: ex.solve(nb, ex.solutions, {ex.looping_task: _looping(ex, ex.looping_task)}),
        lambda ex: ex.max_score - ex.points[ex.looping_task],
    ),
    "edited-tests": (_edited_tests, lambda ex: ex.partial_score),
    "deleted-tests": (_deleted_tests, lambda ex: ex.partial_score),
    "stripped-metadata": (_stripped_metadata, lambda ex: ex.partial_score),
    "stripped-and-edited": (lambda ex, nb: _stripped_metadata(ex, nb, edit_tests=True), lambda ex: ex.partial_score),
}


@dataclass
class GradedCourse:
    exercise: Exercise
    root: Path
    autograde: object
    seconds: float

    def score(self, student: str) -> float:
        with Gradebook(f"sqlite:///{self.root / 'gradebook.db'}") as gb:
            return gb.find_submission_notebook(self.exercise.stem, self.exercise.stem, student).score

    def grades(self, student: str) -> dict[str, float]:
        stem = self.exercise.stem
        with Gradebook(f"sqlite:///{self.root / 'gradebook.db'}") as gb:
            return {g.name: g.score for g in gb.find_submission_notebook(stem, stem, student).grades}


@pytest.fixture(scope="module", params=STEMS)
def course(request, tmp_path_factory) -> GradedCourse:
    """A course with one exercise released and every synthetic submission autograded."""
    ex = Exercise.read(request.param)
    root = tmp_path_factory.mktemp(f"course-{ex.stem}")
    write_course_config(root, "test-course")
    source = root / "source" / ex.stem / f"{ex.stem}.ipynb"
    source.parent.mkdir(parents=True)
    nbformat.write(ex.source, source)
    generated = run_nbgrader(["generate_assignment", ex.stem], cwd=root)
    assert generated.returncode == 0, generated.stdout + generated.stderr

    release = ex.release()
    for student, (make, _) in STUDENTS.items():
        path = root / "submitted" / student / ex.stem / f"{ex.stem}.ipynb"
        path.parent.mkdir(parents=True)
        nbformat.write(make(ex, release), path)
    started = time.monotonic()
    graded = run_nbgrader(["autograde", ex.stem, "--create"], cwd=root, timeout=1200)
    return GradedCourse(ex, root, graded, time.monotonic() - started)


def test_the_fresh_release_equals_the_committed_exercise(course):
    """exercises/ is regenerated from solutions/: a stale committed notebook fails here."""
    stem = course.exercise.stem
    fresh = (course.root / "release" / stem / f"{stem}.ipynb").read_bytes()
    committed = (ROOT / "exercises" / stem / f"{stem}.ipynb").read_bytes()
    assert fresh == committed, "exercises/ is stale: run `make exercises` and commit the result"


def test_the_release_hides_solutions_and_hidden_tests(course):
    ex = course.exercise
    text = (ROOT / "exercises" / ex.stem / f"{ex.stem}.ipynb").read_text(encoding="utf-8")
    assert "BEGIN SOLUTION" not in text and "BEGIN HIDDEN TESTS" not in text
    leftover = re.compile(r"\{\{\s*[A-Za-z_]\w*\s*\}\}")
    assert not any(leftover.search(cell.source) for cell in ex.source.cells), "a placeholder was not substituted"
    stubs = [c for c in ex.release().cells if c.cell_type == "code" and "raise NotImplementedError()" in c.source]
    assert [c.metadata["nbgrader"]["grade_id"] for c in stubs] == list(ex.solutions)


def test_every_task_has_visible_and_hidden_tests(course):
    ex = course.exercise
    assert len(ex.solutions) >= 4
    for task, cells in ex.test_cells.items():
        sources = {c.metadata["nbgrader"]["grade_id"]: c.source for c in ex.source.cells if _is_test(c)}
        assert any("BEGIN HIDDEN TESTS" not in sources[c] for c in cells), f"{task}: no visible test"
        assert any("BEGIN HIDDEN TESTS" in sources[c] for c in cells), f"{task}: no hidden test"


def test_autograde_exits_zero_for_the_whole_class(course):
    assert course.autograde.returncode == 0, course.autograde.stdout + course.autograde.stderr


@pytest.mark.parametrize("student", list(STUDENTS))
def test_each_submission_gets_the_score_it_earned(course, student):
    expected = STUDENTS[student][1](course.exercise)
    assert course.score(student) == pytest.approx(expected), f"{student} should score {expected}"


def test_full_zero_and_partial_scores_are_distinct(course):
    ex = course.exercise
    assert 0 < ex.partial_score < ex.max_score


def test_a_looping_submission_is_bounded_by_the_cell_timeout(course):
    """The looping task's test cells time out and score 0; everything else scores."""
    ex = course.exercise
    grades = course.grades("looping")
    looping_cells = ex.test_cells[ex.looping_task]
    assert all(grades[c] == 0 for c in looping_cells)
    assert sum(grades.values()) == ex.max_score - ex.points[ex.looping_task]
    assert course.seconds < len(looping_cells) * CELL_TIMEOUT + 20 * len(STUDENTS)


def test_the_hidden_tests_use_literals_not_tokbook(course):
    """Hidden tests compare with constants made at build time, so patching tokbook gains nothing."""
    for cell in course.exercise.source.cells:
        if "BEGIN HIDDEN TESTS" in cell.source:
            hidden = cell.source.split("### BEGIN HIDDEN TESTS")[1]
            assert not re.search(r"\btokbook\b|\bref\.", hidden), cell.source[:80]


def test_utf8_hidden_tests_catch_a_missing_range_check(tmp_path):
    """A UTF-8 encoder without surrogate/range checks passes the visible test but not the hidden one."""
    ex = Exercise.read("utf8")
    cells = {c.metadata["nbgrader"]["grade_id"]: c.source for c in ex.source.cells if _is_test(c)}
    namespace: dict = {}
    exec(ex.solutions["encode_codepoint"].replace("0xD800 <= cp <= 0xDFFF", "False"), namespace)
    exec(cells["test_encode_codepoint"], namespace)  # the visible test passes
    with pytest.raises(AssertionError, match="should raise ValueError"):
        exec(cells["test_encode_codepoint_hidden"], namespace)
