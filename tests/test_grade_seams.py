"""Seams of grading that the other grading tests do not cross.

- The repository's own ``nbgrader_config.py`` grades exactly as ``tokbook grade`` does (plain
  ``nbgrader autograde`` cuts long outputs too).
- The installed ``tokbook`` console script grades two exercises (utf8 and bpe) in one run.
- After an exercise source in ``solutions/`` changes, the next run regrades that exercise only.
- A batch that runs past its wall-clock backstop is killed, and each of its notebooks is graded
  again alone (and, if that is killed too, listed with the reason).
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from traitlets.config.loader import PyFileConfigLoader

from tokbook.cli import main
from tokbook.course import autograde as autograde_module
from tokbook.course.autograde import autograde, prepare_exercise
from tokbook.course.nbgrader_app import run_nbgrader
from tokbook.course.notebook import fill_solutions, model_solutions, tasks_and_points
from tokbook.course.output_limit import LimitOutputChars
from tokbook.course.release import source_notebook
from tokbook.course.settings import CELL_TIMEOUT, MAX_OUTPUT_CHARS, grading_config, write_course_config

ROOT = Path(__file__).resolve().parents[1]
TOKBOOK = Path(sys.executable).parent / "tokbook"  # the console script pip installed beside python


class Exercise:
    """An exercise as the tests see it: its source, release, model solutions and points."""

    def __init__(self, course: Path, stem: str):
        self.stem = stem
        self.source = source_notebook(course / "solutions" / stem / f"{stem}.md")
        self.release = nbformat.read(course / "exercises" / stem / f"{stem}.ipynb", as_version=4)
        self.solutions = model_solutions(self.source)
        self.tasks, self.points = tasks_and_points(self.source)

    @property
    def max_score(self) -> float:
        return sum(self.points.values())

    def notebook(self, tasks, replace=None) -> bytes:
        return nbformat.writes(fill_solutions(self.release, self.solutions, tasks, replace)).encode("utf-8")


def _config_of(path: Path):
    loader = PyFileConfigLoader(path.name, path=str(path.parent))
    return loader.load_config()


# ---- one configuration ---------------------------------------------------------------------------

def test_the_repository_config_is_the_grading_config():
    """nbgrader_config.py and the courses tokbook grade writes hold the same grading settings."""
    repo = _config_of(ROOT / "nbgrader_config.py")
    assert LimitOutputChars in repo.Autograde.autograde_preprocessors
    assert repo.LimitOutputChars.max_chars == MAX_OUTPUT_CHARS
    assert repo.Execute.timeout == CELL_TIMEOUT
    expected = grading_config("tokbook")
    for section in ("Autograde", "Execute", "OverwriteCells", "ClearSolutions", "LimitOutputChars"):
        assert repo[section] == expected[section], section


def test_a_written_course_config_reads_back_as_the_grading_config(tmp_path):
    path = write_course_config(tmp_path, "some-course", timeout=3)
    assert _config_of(path) == grading_config("some-course", timeout=3)
    with pytest.raises(ValueError, match="whole number of seconds"):
        write_course_config(tmp_path, "some-course", timeout=0.5)


@pytest.mark.slow
def test_plain_nbgrader_in_the_repository_cuts_long_output(tmp_path):
    """`nbgrader autograde` with the repository's nbgrader_config.py cuts output like tokbook grade."""
    shutil.copy(ROOT / "nbgrader_config.py", tmp_path / "nbgrader_config.py")
    ex = Exercise(ROOT, "utf8")
    source = tmp_path / "build" / "nbgrader" / "source" / "utf8" / "utf8.ipynb"
    source.parent.mkdir(parents=True)
    nbformat.write(ex.source, source)
    done = run_nbgrader(["generate_assignment", "utf8"], cwd=tmp_path, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    noisy = ex.solutions["encode_codepoint"] + "\nprint('x' * 1_000_000)\n"
    submitted = tmp_path / "submitted" / "mia" / "utf8" / "utf8.ipynb"
    submitted.parent.mkdir(parents=True)
    submitted.write_bytes(ex.notebook(ex.solutions, {"encode_codepoint": noisy}))
    done = run_nbgrader(["autograde", "utf8", "--create"], cwd=tmp_path, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    graded = nbformat.read(tmp_path / "autograded" / "mia" / "utf8" / "utf8.ipynb", as_version=4)
    cut = [c for c in graded.cells if c.metadata.get("tokbook_output_cut")]
    assert len(cut) == 1
    assert cut[0].metadata["tokbook_output_cut"] == 1_000_001 - MAX_OUTPUT_CHARS
    assert sum(len(o.get("text", "")) for o in cut[0].outputs) < MAX_OUTPUT_CHARS + 100


# ---- the installed command: two exercises, then a changed exercise source -------------------------

def _tokbook(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    assert TOKBOOK.is_file(), f"{TOKBOOK} is missing: install the package (make .venv/.installed)"
    return subprocess.run([str(TOKBOOK), *args], cwd=cwd, capture_output=True, text=True, timeout=1800)


def _totals(out: Path) -> dict[tuple[str, str], tuple[str, str]]:
    with open(out / "grades.csv", encoding="utf-8") as f:
        return {(r["student"], r["assignment"]): (r["total"], r["max"]) for r in csv.DictReader(f)
                if r["student"] != "Points Possible"}


def _fmt(points: float) -> str:
    return f"{points:g}"


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """Grade utf8 and bpe submissions with the console script; change solutions/utf8; grade again."""
    tmp = tmp_path_factory.mktemp("seams")
    course = tmp / "course"
    for folder in ("solutions", "exercises"):
        shutil.copytree(ROOT / folder, course / folder)
    utf8, bpe = Exercise(course, "utf8"), Exercise(course, "bpe")
    folder = tmp / "downloads"
    folder.mkdir()
    (folder / "alice_utf8.ipynb").write_bytes(utf8.notebook(utf8.solutions))
    (folder / "alice_bpe.ipynb").write_bytes(bpe.notebook(bpe.solutions))
    (folder / "bob_bpe.ipynb").write_bytes(bpe.notebook(list(bpe.solutions)[:1]))
    out = tmp / "graded"
    args = ("grade", str(folder), "--out", str(out), "--course", str(course), "--workers", "2")
    first = _tokbook(*args, cwd=tmp)
    first_totals = _totals(out) if first.returncode == 0 else {}
    results = sorted((out / "results").rglob("*.json"))
    before = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in results}

    # The instructor makes the first test cell of utf8 worth one point more.
    md = course / "solutions" / "utf8" / "utf8.md"
    text, changed = re.subn(r"^:points: (\d+)$", lambda m: f":points: {int(m.group(1)) + 1}", md.read_text(),
                            count=1, flags=re.M)
    assert changed == 1
    md.write_text(text)
    second = _tokbook(*args, cwd=tmp)
    after = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in results}
    return {"utf8": utf8, "bpe": bpe, "first": first, "first_totals": first_totals, "second": second,
            "second_totals": _totals(out) if second.returncode == 0 else {}, "before": before, "after": after}


@pytest.mark.slow
def test_the_console_script_grades_two_exercises_in_one_run(two_runs):
    first, utf8, bpe = two_runs["first"], two_runs["utf8"], two_runs["bpe"]
    assert first.returncode == 0, first.stdout + first.stderr
    assert "graded 3, reused 0; 0 problem(s), 0 flagged" in first.stdout
    bob_points = sum(bpe.points[c] for c in bpe.tasks[list(bpe.solutions)[0]])
    assert 0 < bob_points < bpe.max_score
    assert two_runs["first_totals"] == {
        ("alice", "utf8"): (_fmt(utf8.max_score), _fmt(utf8.max_score)),
        ("alice", "bpe"): (_fmt(bpe.max_score), _fmt(bpe.max_score)),
        ("bob", "bpe"): (_fmt(bob_points), _fmt(bpe.max_score)),
    }


@pytest.mark.slow
def test_a_changed_exercise_source_regrades_that_exercise_only(two_runs):
    second, utf8 = two_runs["second"], two_runs["utf8"]
    assert second.returncode == 0, second.stdout + second.stderr
    assert "graded 1, reused 2" in second.stdout
    assert re.search(r"graded alice_utf8\.ipynb: ", second.stdout)
    # the utf8 row has the new maximum; the bpe rows and their saved results are untouched
    new_max = _fmt(utf8.max_score + 1)
    assert two_runs["second_totals"] == {**two_runs["first_totals"], ("alice", "utf8"): (new_max, new_max)}
    changed = sorted(p.parent.name for p in two_runs["before"] if two_runs["before"][p] != two_runs["after"][p])
    assert changed == ["utf8"]
    assert all(json.loads(data)["assignment"] == "bpe" for p, (_, data) in two_runs["after"].items()
               if p.parent.name == "bpe")


def test_the_console_script_explains_bad_input_in_one_line(tmp_path):
    done = _tokbook("grade", "nothing-here", "--out", "out", cwd=tmp_path)
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == [
        "tokbook grade: there is no nothing-here; give the folder (or .zip) of submissions"
    ]


@pytest.mark.parametrize("args, message", [
    (["--timeout", "2.5"],
     "the cell timeout must be a whole number of seconds, at least 1 (nbgrader counts whole seconds), got 2.5"),
    (["--workers", "-1"], "the number of workers must be at least 1, got -1"),
])
def test_settings_are_checked_before_grading_starts(tmp_path, args, message):
    with pytest.raises(SystemExit) as exit_:
        main(["grade", str(tmp_path), "--out", str(tmp_path / "out"), "--course", str(ROOT), *args])
    assert str(exit_.value) == f"tokbook grade: {message}"
    assert not (tmp_path / "out" / "courses").exists()  # nothing was prepared


# ---- the wall-clock backstop ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def utf8_exercise(tmp_path_factory):
    return prepare_exercise(ROOT, "utf8", tmp_path_factory.mktemp("courses"))


def _small_limits(monkeypatch, seconds_for: dict[int, float]) -> list[int]:
    """Give batches of n notebooks ``seconds_for[n]`` (the real limit otherwise); return the sizes run."""
    real = autograde_module.wall_limit
    runs: list[int] = []

    def limit(exercise, notebooks, timeout):
        runs.append(notebooks)
        return seconds_for.get(notebooks) or real(exercise, notebooks, timeout)

    monkeypatch.setattr(autograde_module, "wall_limit", limit)
    return runs


def _left_behind() -> list[int]:
    return autograde_module._descendants(os.getpid())


@pytest.mark.slow
def test_a_batch_killed_at_its_wall_limit_is_graded_again_one_by_one(utf8_exercise, monkeypatch, tmp_path):
    ex = Exercise(ROOT, "utf8")
    notebooks = [ex.notebook(ex.solutions), ex.notebook([])]
    runs = _small_limits(monkeypatch, {2: 2})  # nbgrader alone needs longer than 2 s to start
    graded = autograde(utf8_exercise, notebooks, tmp_path, timeout=CELL_TIMEOUT, memory_mb=2048)
    assert runs == [2, 1, 1]
    assert [g.problem for g in graded] == ["", ""]
    assert [sum(g.cell_scores.values()) for g in graded] == [ex.max_score, 0]
    assert _left_behind() == []


@pytest.mark.slow
def test_a_notebook_killed_alone_too_is_listed_with_the_reason(utf8_exercise, monkeypatch, tmp_path):
    ex = Exercise(ROOT, "utf8")
    notebooks = [ex.notebook(ex.solutions), ex.notebook(ex.solutions)]
    runs = _small_limits(monkeypatch, {2: 2, 1: 2})
    graded = autograde(utf8_exercise, notebooks, tmp_path, timeout=CELL_TIMEOUT, memory_mb=2048)
    assert runs == [2, 1, 1]
    assert [g.problem for g in graded] == ["stopped after 2 s (the limit for one notebook)"] * 2
    assert all(g.notebook is None and set(g.cell_scores.values()) == {0.0} for g in graded)
    assert _left_behind() == []
