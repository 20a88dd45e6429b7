"""The real nbgrader pipeline, end to end, on every exercise in solutions/.

For each exercise one temporary course is built from ``solutions/<stem>/<stem>.md``; a class of
synthetic submissions (correct, blank, partial, noisy, looping, tampering) is autograded with
``nbgrader autograde``, and the scores are read back from nbgrader's gradebook.
"""

from __future__ import annotations

import re
import sys
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import jupytext
import nbformat
import pytest
from nbgrader.api import Gradebook

from tokbook.course.nbgrader_app import run_nbgrader
from tokbook.course.notebook import fill_solutions, nbgrader_metadata
from tokbook.course.notebook import is_test as _is_test
from tokbook.course.release import source_notebook
from tokbook.course.settings import write_course_config

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
    visible_points: dict[str, float] = field(default_factory=dict)  # solution grade_id -> points of its visible tests
    # (solution grade_id, mistake, code): the typical wrong answers listed by the reference cells
    wrong_answers: list[tuple[str, str, str]] = field(default_factory=list)

    @classmethod
    def read(cls, stem: str) -> "Exercise":
        path = ROOT / "solutions" / stem / f"{stem}.md"
        ex = cls(stem, source_notebook(path), wrong_answers=_reference_namespace(path)["WRONG_ANSWERS"])
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
                if "BEGIN HIDDEN TESTS" not in cell.source:
                    ex.visible_points[task] = ex.visible_points.get(task, 0) + meta["points"]
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

    @property
    def first_wrong_answers(self) -> dict[str, str]:
        """The first typical wrong answer of each task."""
        first: dict[str, str] = {}
        for task, _, code in self.wrong_answers:
            first.setdefault(task, code)
        return first

    def run_tests_of(self, task: str, code: str) -> dict[str, Exception | None]:
        """Run the setup cell, every task's solution but ``code`` for ``task``, then the test cells
        of ``task``, in this process; return each test cell's error (None when it passed)."""
        namespace: dict = {}
        tests = {c.metadata["nbgrader"]["grade_id"]: c.source for c in self.source.cells if _is_test(c)}
        stderr = sys.stderr  # the setup cell sends stderr to stdout
        try:
            with warnings.catch_warnings():
                for cell in self.source.cells:
                    meta = nbgrader_metadata(cell)
                    if meta.get("grade_id") == "setup":
                        exec(cell.source, namespace)
                    elif meta.get("solution"):
                        exec(code if meta["grade_id"] == task else cell.source, namespace)
                errors: dict[str, Exception | None] = {}
                for grade_id in self.test_cells[task]:
                    try:
                        exec(tests[grade_id], namespace)
                        errors[grade_id] = None
                    except Exception as exc:  # any failure of a test cell costs its points
                        errors[grade_id] = exc
        finally:
            sys.stderr = stderr
        return errors

    def release(self) -> nbformat.NotebookNode:
        return nbformat.read(ROOT / "exercises" / self.stem / f"{self.stem}.ipynb", as_version=4)

    def solve(self, nb, tasks, replace: dict[str, str] | None = None):
        """Fill the solution cells of ``tasks`` with the instructor's code (or ``replace``)."""
        return fill_solutions(nb, self.solutions, tasks, replace)


def _reference_namespace(path: Path) -> dict:
    """What the build-time ``reference`` cells of an exercise source define."""
    namespace: dict = {}
    for index, cell in enumerate(jupytext.read(path).cells):
        if "reference" in cell.metadata.get("tags", []):
            exec(compile(cell.source, f"{path.name} cell {index}", "exec"), namespace)
    return namespace


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
    # a typical wrong answer for every task: the visible tests pass, every hidden test fails
    "typical-wrong": (
        lambda ex, nb: ex.solve(nb, ex.solutions, ex.first_wrong_answers),
        lambda ex: sum(ex.visible_points.values()),
    ),
}


@dataclass
class GradedCourse:
    exercise: Exercise
    root: Path
    autograde: object

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
    graded = run_nbgrader(["autograde", ex.stem, "--create"], cwd=root, timeout=1200)
    return GradedCourse(ex, root, graded)


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


def test_the_hidden_tests_use_literals_not_tokbook(course):
    """Hidden tests compare with constants made at build time, so patching tokbook gains nothing."""
    for cell in course.exercise.source.cells:
        if "BEGIN HIDDEN TESTS" in cell.source:
            hidden = cell.source.split("### BEGIN HIDDEN TESTS")[1]
            assert not re.search(r"\btokbook\b|\bref\.", hidden), cell.source[:80]


@pytest.mark.parametrize("stem", STEMS)
def test_each_typical_wrong_answer_passes_the_visible_tests_and_fails_the_hidden_ones(stem):
    """The reference cells list typical wrong answers; each is plausible (its task's visible tests
    pass) and still loses points (every hidden test cell of its task fails). Run in this process,
    with the real test cells and their build-time literals."""
    ex = Exercise.read(stem)
    hidden = {c.metadata["nbgrader"]["grade_id"] for c in ex.source.cells if "BEGIN HIDDEN TESTS" in c.source}
    per_task = Counter(task for task, _, _ in ex.wrong_answers)
    assert set(per_task) <= set(ex.solutions), f"wrong answers for unknown tasks: {set(per_task) - set(ex.solutions)}"
    assert all(per_task[task] >= 2 for task in ex.solutions), f"each task needs two wrong answers: {dict(per_task)}"
    for task, code in ex.solutions.items():  # the harness itself: the solution passes everything
        assert ex.run_tests_of(task, code) == {cell: None for cell in ex.test_cells[task]}, task
    problems = []
    for task, mistake, code in ex.wrong_answers:
        for cell, error in ex.run_tests_of(task, code).items():
            if cell in hidden and error is None:
                problems.append(f"{task} ({mistake}): passes the hidden {cell}")
            elif cell not in hidden and error is not None:
                problems.append(f"{task} ({mistake}): fails the visible {cell}, so no student would hand it in: {error!r}")
    assert not problems, "\n".join(problems)
