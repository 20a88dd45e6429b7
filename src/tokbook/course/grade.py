"""Grade a whole class: ``tokbook grade SUBMISSIONS --out DIR``, in four steps.

1. **Collect** (:func:`~tokbook.course.collect.collect`): find the submissions in a folder or a
   ``.zip`` (nbgrader's tree, a Canvas, Moodle or Blackboard export, or flat files) and list
   every file it cannot attribute. A run that finds no submission at all stops with an error
   that names the layouts it looked for.
2. **Check**: reuse every result of an earlier run whose key still matches; read the others (a
   file that is not UTF-8, not JSON or not a notebook becomes a problem and scores 0), check
   them for tampering (:mod:`~tokbook.course.tamper`) and for missing tasks.
3. **Grade**: split the remaining submissions of each assignment into ``workers`` batches and
   autograde each batch in one nbgrader run in a course of its own, the batches in parallel
   (:mod:`~tokbook.course.autograde`). Each result is saved as
   ``DIR/results/<assignment>/<student>.json`` with a key made of the SHA-256 of the submission,
   of the exercise source, of the grading settings and of the feedback kind.
4. **Report**: ``DIR/grades.csv``, ``DIR/summary.html`` and
   ``DIR/feedback/<assignment>/<student>.html`` (:mod:`~tokbook.course.report`,
   :mod:`~tokbook.course.feedback`).

``DIR`` is safe to share: it holds no solution and no hidden test, except in feedback pages
made with ``feedback="hidden-tests"``. The prepared exercises (which hold both) are kept in a
cache outside it (:func:`default_cache`), and the batch courses and unpacked zips in a
temporary folder that is removed at the end.

Every file found in the input ends in exactly one place, and the run says how many went where:
graded in this run, reused from an earlier run, listed as a problem, or ignored (with the reason).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import jupytext
import nbformat

from tokbook.course.autograde import Exercise, autograde, prepare_exercise, result_key
from tokbook.course.collect import Collection, Problem, Submission, collect, looked_for
from tokbook.course.feedback import FEEDBACK_KINDS, feedback_page
from tokbook.course.layouts import LAYOUTS
from tokbook.course.notebook import grade_id, is_solution
from tokbook.course.report import fmt, write_csv, write_summary
from tokbook.course.results import Result
from tokbook.course.sandbox import choose_sandbox
from tokbook.course.settings import CELL_TIMEOUT, cell_timeout
from tokbook.course.tamper import tamper_flags

__all__ = ["DEFAULT_MEMORY_MB", "RunSummary", "default_cache", "grade_class"]

DEFAULT_MEMORY_MB = 4096


@dataclass
class RunSummary:
    files: int  # files found in the input
    graded: int  # submissions run through nbgrader in this run
    reused: int  # results taken from an earlier run
    unreadable: int  # submissions that could not be read as notebooks (a problem row each)
    unattributed: int  # files listed as problems by collect (no student, duplicate, too large...)
    ignored: int  # files that are not submissions (hidden files, nbgrader's timestamp.txt...)
    rows: int
    problems: int
    flagged: int
    seconds: float
    layout: str  # the layouts the files were recognised in, e.g. "canvas (12 files)"


@dataclass(frozen=True)
class Settings:
    timeout: float
    memory_mb: int
    feedback: str
    sandbox: str  # "bwrap" or "none" (see tokbook.course.sandbox)
    isolation_note: str  # why submissions were not isolated, or "" when they were


def default_cache() -> Path:
    """Where prepared exercises are kept between runs: ``$TOKBOOK_CACHE``, else ``~/.cache/tokbook``."""
    if os.environ.get("TOKBOOK_CACHE"):
        return Path(os.environ["TOKBOOK_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "tokbook"


def _safe(name: str) -> str:
    """A file name for a student or assignment id (ids come from file and folder names)."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", name)
    return "_" + safe if safe.startswith(".") or not safe else safe


def exercise_stems(root: Path) -> list[str]:
    solutions = Path(root) / "solutions"
    if not solutions.is_dir():
        raise ValueError(f"{Path(root).resolve()} has no solutions/ folder: run from the course repository "
                         "or give the course folder")
    stems = sorted(p.name for p in solutions.iterdir() if (p / f"{p.name}.md").is_file())
    if not stems:
        raise ValueError(f"{solutions} has no exercise (solutions/<stem>/<stem>.md)")
    return stems


def _signature(course: Path, stem: str) -> set[str]:
    """The grade ids of an exercise, read from its source without running it."""
    nb = jupytext.read(Path(course) / "solutions" / stem / f"{stem}.md")
    return {c.metadata["grade_id"] for c in nb.cells if isinstance(c.metadata.get("grade_id"), str)}


def _read_notebook(data: bytes) -> tuple[nbformat.NotebookNode | None, str]:
    """Parse submitted bytes; return (notebook, "") or (None, why it cannot be graded)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, (f"not UTF-8 (byte {data[exc.start]:#04x} at offset {exc.start}); "
                      "ask the student to save the notebook again from Jupyter")
    text = text.removeprefix("\ufeff")
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        return None, f"not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); the file is damaged"
    if not isinstance(raw, dict) or "cells" not in raw and "worksheets" not in raw:
        return None, "valid JSON but not a Jupyter notebook (no cells)"
    try:
        nb = nbformat.reads(text, as_version=4)
    except Exception as exc:  # noqa: BLE001 -- nbformat raises many kinds on bad notebooks
        return None, f"not a readable Jupyter notebook ({type(exc).__name__}: {str(exc)[:200]})"
    return nb, ""


def _missing_tasks(nb: nbformat.NotebookNode, release: nbformat.NotebookNode) -> list[str]:
    """Solution cells of the release that the submission has lost (by grade id, cell id or function)."""
    grade_ids = {grade_id(c) for c in nb.cells}
    cell_ids = {c.get("id") for c in nb.cells}
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    missing = []
    for cell in release.cells:
        if not is_solution(cell):
            continue
        task = grade_id(cell)
        if task in grade_ids or task in cell_ids:
            continue
        defined = re.search(r"^def\s+(\w+)", cell.source, re.M)
        if defined and re.search(rf"^\s*def\s+{defined.group(1)}\b", code, re.M):
            continue
        missing.append(task)
    return missing


def _output_cut(nb: nbformat.NotebookNode | None) -> int:
    if nb is None:
        return 0
    return sum(int(c.metadata.get("tokbook_output_cut", 0)) for c in nb.cells)


def _result(sub: Submission, ex: Exercise, key: str, *, cells: dict[str, float], graded: bool,
            problems: list[str], flags: list[str], seconds: float = 0.0) -> Result:
    tasks = {task: sum(cells.get(c, 0.0) for c in test_cells) for task, test_cells in ex.tasks.items()}
    return Result(key, sub.student, sub.assignment, sub.label, graded, cells, tasks, sum(tasks.values()),
                  ex.max_score, problems, flags, round(seconds, 1), late=sub.late)


def _paths(out: Path, assignment: str, student: str) -> tuple[Path, Path]:
    """The cached result and the feedback page of one student and assignment."""
    return (out / "results" / _safe(assignment) / f"{_safe(student)}.json",
            out / "feedback" / _safe(assignment) / f"{_safe(student)}.html")


def _write_feedback(out: Path, ex: Exercise, result: Result, notebook, kind: str) -> str:
    page_path = _paths(out, result.assignment, result.student)[1]
    page_path.parent.mkdir(parents=True, exist_ok=True)
    page = feedback_page(
        student=result.student, assignment=result.assignment, task_points=result.tasks,
        task_max=ex.task_points, cell_points=result.cells, cell_max=ex.points, notebook=notebook,
        problems=result.problems, kind=kind,
    )
    page_path.write_text(page, encoding="utf-8")
    return page_path.relative_to(out).as_posix()


# ---- 1. collect -------------------------------------------------------------------------------

def _collect(submissions: Path, course: Path, stems: list[str], *, pattern: str | None, lms: str,
             work: Path, out: Path) -> Collection:
    signatures = {stem: _signature(course, stem) for stem in stems}
    found = collect(Path(submissions), stems, pattern=pattern, lms=lms, signatures=signatures,
                    unpack_to=work / "unpacked", exclude=out)
    if not found.submissions:
        looked = looked_for("flat" if pattern is not None and lms == "auto" else lms)
        reasons = sorted({p.reason.split(";")[0] for p in found.problems})
        raise ValueError(
            f"found no submission to grade in {submissions}: {found.files} file(s), {len(found.problems)} "
            f"that could not be attributed, {len(found.ignored)} ignored"
            + (f" (for example: {'; '.join(reasons[:3])})" if reasons else "")
            + f". Looked for: {looked}. If your files are named another way, name the layout or give a "
              "file-name pattern.")
    return found


def _prepare(course: Path, found: Collection, stems: list[str], cache: Path,
             log: Callable[[str], None]) -> dict[str, Exercise]:
    """The exercises the collected files belong to, prepared (or taken from the cache)."""
    exercises = {}
    for stem in sorted({s.assignment for s in found.submissions}
                       | {p.assignment for p in found.problems if p.assignment in stems}):
        exercises[stem] = prepare_exercise(course, stem, cache / "exercises")
        released = Path(course) / "exercises" / stem / f"{stem}.ipynb"
        if released.is_file() and released.read_bytes() != (
                exercises[stem].course / "release" / stem / f"{stem}.ipynb").read_bytes():
            log(f"warning: {released} differs from solutions/{stem}/{stem}.md; run `make exercises`")
    return exercises


# ---- 2. check ---------------------------------------------------------------------------------

@dataclass
class Job:
    """A readable submission waiting for nbgrader, with what the checks before grading found."""

    sub: Submission
    key: str  # cache key of its result
    data: bytes
    flags: list[str]
    notes: list[str]  # problems to report with its grade (missing tasks)


def _key(ex: Exercise, data: bytes, settings: Settings) -> str:
    base = result_key(ex, data, timeout=settings.timeout, memory_mb=settings.memory_mb, sandbox=settings.sandbox)
    return hashlib.sha256(f"{base}\0feedback={settings.feedback}".encode()).hexdigest()


def _reusable(sub: Submission, key: str, out: Path) -> Result | None:
    cache, feedback = _paths(out, sub.assignment, sub.student)
    if not (cache.is_file() and feedback.is_file()):
        return None
    try:
        old = Result.from_json(cache.read_text(encoding="utf-8"))
    except (OSError, ValueError):  # unreadable, or saved by another version of tokbook: grade again
        return None
    if old.key != key:
        return None
    old.label, old.late = sub.label, sub.late
    return old


def _check(found: Collection, exercises: dict[str, Exercise], out: Path,
           settings: Settings) -> tuple[dict, list[Job], int, int]:
    """Reuse what an earlier run graded; read and check the rest. Returns (results, jobs, reused, unreadable)."""
    results: dict[tuple[str, str], Result] = {}
    todo: list[Job] = []
    reused = unreadable = 0
    for sub in found.submissions:
        ex = exercises[sub.assignment]
        data = sub.path.read_bytes()
        key = _key(ex, data, settings)
        old = _reusable(sub, key, out)
        if old is not None:
            results[(sub.assignment, sub.student)] = old
            reused += 1
            continue
        nb, why = _read_notebook(data)
        if nb is None:
            result = _result(sub, ex, key, cells={c: 0.0 for c in ex.points}, graded=False,
                             problems=[why], flags=[])
            result.feedback = _write_feedback(out, ex, result, None, settings.feedback)
            result.save(_paths(out, sub.assignment, sub.student)[0])
            results[(sub.assignment, sub.student)] = result
            unreadable += 1
            continue
        release = ex.release
        notes = []
        missing = _missing_tasks(nb, release)
        if missing:
            notes.append(f"missing tasks: {', '.join(missing)} (their tests ran and scored 0)")
        todo.append(Job(sub, key, data, tamper_flags(nb, release), notes))
    return results, todo, reused, unreadable


# ---- 3. grade ---------------------------------------------------------------------------------

def _batches(todo: list[Job], workers: int) -> list[list[Job]]:
    """Split each assignment's jobs into at most ``workers`` batches of nearly equal size."""
    batches = []
    for assignment in sorted({job.sub.assignment for job in todo}):
        jobs = [job for job in todo if job.sub.assignment == assignment]
        n = min(workers, len(jobs))
        batches += [jobs[i::n] for i in range(n)]
    return batches


def _grade_batch(batch: list[Job], ex: Exercise, out: Path, work: Path, settings: Settings,
                 log: Callable[[str], None]) -> list[Result]:
    """Autograde one batch of an assignment in one nbgrader run; save and return each result."""
    course = Path(tempfile.mkdtemp(prefix="course-", dir=work))
    graded = autograde(ex, [job.data for job in batch], course, timeout=settings.timeout,
                       memory_mb=settings.memory_mb, sandbox=settings.sandbox)
    results = []
    for job, done in zip(batch, graded):
        problems = list(job.notes)
        if done.problem:
            problems.insert(0, done.problem)
        cut = _output_cut(done.notebook)
        if cut:
            problems.append(f"printed too much: {cut / 1e6:.1f} MB of output cut (graded normally)")
        result = _result(job.sub, ex, job.key, cells=done.cell_scores, graded=not done.problem,
                         problems=problems, flags=job.flags, seconds=done.seconds)
        result.feedback = _write_feedback(out, ex, result, done.notebook, settings.feedback)
        result.save(_paths(out, job.sub.assignment, job.sub.student)[0])
        log(f"graded {job.sub.label}: {fmt(result.total)}/{fmt(result.max)}"
            + (f" ({'; '.join(problems)})" if problems else ""))
        results.append(result)
    return results


def _grade(todo: list[Job], exercises: dict[str, Exercise], out: Path, work: Path, settings: Settings,
           workers: int, log: Callable[[str], None]) -> list[Result]:
    batches = _batches(todo, workers)
    if todo:
        log(f"grading {len(todo)} submission(s) in {len(batches)} nbgrader run(s), "
            f"{min(workers, len(batches))} at a time")

    def run(batch: list[Job]) -> list[Result]:
        return _grade_batch(batch, exercises[batch[0].sub.assignment], out, work, settings, log)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return [result for batch_results in pool.map(run, batches) for result in batch_results]


# ---- 4. report --------------------------------------------------------------------------------

def _rows_and_problems(found: Collection, exercises: dict[str, Exercise], results: dict, out: Path,
                       settings: Settings) -> tuple[list[Result], list[Problem]]:
    """Rows: every graded (or unreadable) submission, plus students whose only file was a problem."""
    problems = [Problem(r.label, reason, r.student, r.assignment, r.graded)
                for r in results.values() for reason in r.problems]
    rows = list(results.values())
    for p in found.problems:
        problems.append(p)
        if p.assignment in exercises and p.student and (p.assignment, p.student) not in results \
                and not p.reason.startswith("duplicate"):
            ex = exercises[p.assignment]
            stub = Submission(p.student, p.assignment, Path(), p.label, late=p.late)
            row = _result(stub, ex, "", cells={c: 0.0 for c in ex.points}, graded=False,
                          problems=[p.reason], flags=[])
            row.feedback = _write_feedback(out, ex, row, None, settings.feedback)
            results[(p.assignment, p.student)] = row
            rows.append(row)
    problems.sort(key=lambda p: (p.assignment, p.student, p.label, p.reason))
    return rows, problems


def _layout_note(found: Collection) -> str:
    return ", ".join(f"{name} ({n} file{'s' if n != 1 else ''})" for name, n in found.layouts.most_common())


def _report(found: Collection, exercises: dict[str, Exercise], results: dict, counts: dict[str, int],
            out: Path, settings: Settings, started: float, log: Callable[[str], None]) -> RunSummary:
    rows, problems = _rows_and_problems(found, exercises, results, out, settings)
    assignments = {stem: ex.task_points for stem, ex in exercises.items()}
    write_csv(out / "grades.csv", rows, assignments)
    summary = RunSummary(
        files=found.files, graded=counts["graded"], reused=counts["reused"], unreadable=counts["unreadable"],
        unattributed=len(found.problems), ignored=len(found.ignored), rows=len(rows), problems=len(problems),
        flagged=sum(1 for r in rows if r.flags), seconds=time.monotonic() - started, layout=_layout_note(found))
    accounting = (f"{summary.files} file(s) found: {summary.graded} graded in this run, {summary.reused} reused "
                  f"from earlier runs, {summary.unreadable + summary.unattributed} listed as problems, "
                  f"{summary.ignored} ignored")
    write_summary(out / "summary.html", rows, assignments, problems, ignored=found.ignored,
                  run_note=f"Layout: {summary.layout}. {accounting}. {summary.rows} rows; "
                           f"{summary.problems} problems; {summary.flagged} flagged. "
                           f"Feedback pages: {settings.feedback}."
                           + (f" Warning: {settings.isolation_note}." if settings.isolation_note else ""))
    log(f"layout: {summary.layout}; {accounting}")
    log(f"graded {summary.graded}, reused {summary.reused}; {summary.problems} problem(s), "
        f"{summary.flagged} flagged; wrote {out / 'grades.csv'} and {out / 'summary.html'} "
        f"in {summary.seconds:.0f} s")
    return summary


def grade_class(submissions: Path, out: Path, *, course: Path = Path("."), pattern: str | None = None,
                lms: str = "auto", workers: int | None = None, timeout: float = CELL_TIMEOUT,
                memory_mb: int = DEFAULT_MEMORY_MB, feedback: str = "summary", cache: Path | None = None,
                sandbox: str | None = None, log: Callable[[str], None] = print) -> RunSummary:
    """Grade every submission in ``submissions`` against the exercises of ``course``; write ``out``.

    Each kernel runs in a bubblewrap sandbox (``sandbox="bwrap"``, the default where it works) or
    not (``"none"``; see :mod:`~tokbook.course.sandbox`)."""
    started = time.monotonic()
    timeout = cell_timeout(timeout)
    if memory_mb < 256:
        raise ValueError("the memory limit must be at least 256 MB (a Python kernel needs about 100 MB)")
    workers = workers or os.cpu_count() or 1
    if workers < 1:
        raise ValueError(f"the number of workers must be at least 1, got {workers}")
    if feedback not in FEEDBACK_KINDS:
        raise ValueError(f"unknown feedback kind {feedback!r}; choose one of {', '.join(FEEDBACK_KINDS)}")
    if lms != "auto" and lms not in LAYOUTS:
        raise ValueError(f"unknown layout {lms!r}; choose one of auto, {', '.join(LAYOUTS)}")
    stems = exercise_stems(course)
    out = Path(out)
    if Path(submissions).resolve() == out.resolve():
        raise ValueError("the output folder must be another folder than the submissions")
    cache = Path(cache) if cache is not None else default_cache()
    if cache.resolve().is_relative_to(out.resolve()):
        raise ValueError("the cache holds the solutions: put it outside the output folder")
    try:
        (cache / "exercises").mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValueError(f"cannot use {cache} as the cache ({exc}); give another cache folder "
                         "(or set TOKBOOK_CACHE)") from None
    out.mkdir(parents=True, exist_ok=True)
    if (out / "courses").is_dir():  # where older versions of tokbook kept the prepared exercises
        shutil.rmtree(out / "courses")
        log(f"removed {out / 'courses'}: work files of an older tokbook, which held the solutions")
    sandbox, isolation_note = choose_sandbox(sandbox)
    if isolation_note:
        log(f"warning: {isolation_note}")
    settings = Settings(timeout, memory_mb, feedback, sandbox, isolation_note)
    with tempfile.TemporaryDirectory(prefix="tokbook-grade-") as tmp:
        work = Path(tmp)
        found = _collect(submissions, course, stems, pattern=pattern, lms=lms, work=work, out=out)
        exercises = _prepare(course, found, stems, cache, log)
        results, todo, reused, unreadable = _check(found, exercises, out, settings)
        for result in _grade(todo, exercises, out, work, settings, workers, log):
            results[(result.assignment, result.student)] = result
        counts = {"graded": len(todo), "reused": reused, "unreadable": unreadable}
        return _report(found, exercises, results, counts, out, settings, started, log)
