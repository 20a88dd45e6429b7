"""Grade a whole class: ``tokbook grade SUBMISSIONS --out DIR``.

1. :func:`~tokbook.course.collect.collect` finds the submissions (nbgrader tree, flat LMS
   export, or a ``.zip`` of either) and lists every file it cannot attribute.
2. Each submission is read: a file that is not UTF-8, not JSON or not a notebook becomes a
   problem (its row scores 0, with the reason). The others are checked for tampering
   (:mod:`~tokbook.course.tamper`) and for missing tasks.
3. The remaining submissions of each assignment are split into ``workers`` batches, and each
   batch is autograded in one nbgrader run in a course of its own, the batches in parallel
   (:mod:`~tokbook.course.autograde`; a notebook its batch could not grade is graded alone).
4. Each result is saved as ``DIR/results/<assignment>/<student>.json`` with a key made of the
   SHA-256 of the submission, of the exercise source and of the grading settings. A later run
   reuses every result whose key still matches, so grading the same folder again runs nothing,
   and a late submission is the only one graded.
5. ``DIR/grades.csv``, ``DIR/summary.html`` and ``DIR/feedback/<assignment>/<student>.html``
   are written from the results (:mod:`~tokbook.course.report`, :mod:`~tokbook.course.feedback`).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import nbformat

from tokbook.course.autograde import Exercise, autograde, prepare_exercise, result_key
from tokbook.course.collect import Submission, collect
from tokbook.course.feedback import feedback_page
from tokbook.course.report import fmt, write_csv, write_summary
from tokbook.course.sandbox import choose_sandbox
from tokbook.course.settings import CELL_TIMEOUT
from tokbook.course.tamper import tamper_flags

__all__ = ["DEFAULT_MEMORY_MB", "RunSummary", "grade_class"]

DEFAULT_MEMORY_MB = 4096


@dataclass
class RunSummary:
    graded: int  # submissions run through nbgrader in this run
    reused: int  # results taken from an earlier run
    rows: int
    problems: int
    flagged: int
    seconds: float


def _safe(name: str) -> str:
    """A file name for a student or assignment id (ids come from file and folder names)."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", name)
    return "_" + safe if safe.startswith(".") or not safe else safe


def exercise_stems(root: Path) -> list[str]:
    solutions = Path(root) / "solutions"
    if not solutions.is_dir():
        raise ValueError(f"{Path(root).resolve()} has no solutions/ folder: run from the course repository "
                         "or pass --course")
    stems = sorted(p.name for p in solutions.iterdir() if (p / f"{p.name}.md").is_file())
    if not stems:
        raise ValueError(f"{solutions} has no exercise (solutions/<stem>/<stem>.md)")
    return stems


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
    grade_ids = {c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells}
    cell_ids = {c.get("id") for c in nb.cells}
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    missing = []
    for cell in release.cells:
        meta = cell.metadata.get("nbgrader", {})
        if not meta.get("solution"):
            continue
        task = meta["grade_id"]
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
            problems: list[str], flags: list[str], seconds: float = 0.0) -> dict:
    tasks = {task: sum(cells.get(c, 0.0) for c in test_cells) for task, test_cells in ex.tasks.items()}
    return {
        "key": key, "student": sub.student, "assignment": sub.assignment, "label": sub.label,
        "graded": graded, "cells": cells, "tasks": tasks, "total": sum(tasks.values()),
        "max": ex.max_score, "problems": problems, "flags": flags, "seconds": round(seconds, 1),
    }


def _write_feedback(out: Path, ex: Exercise, result: dict, notebook) -> str:
    rel = Path("feedback") / _safe(result["assignment"]) / f"{_safe(result['student'])}.html"
    (out / rel).parent.mkdir(parents=True, exist_ok=True)
    page = feedback_page(
        student=result["student"], assignment=result["assignment"], task_points=result["tasks"],
        task_max=ex.task_points, cell_points=result["cells"], cell_max=ex.points, notebook=notebook,
        problems=result["problems"],
    )
    (out / rel).write_text(page, encoding="utf-8")
    return rel.as_posix()


@dataclass
class Job:
    """A readable submission waiting for nbgrader, with what the checks before grading found."""

    sub: Submission
    key: str  # cache key of its result
    data: bytes
    flags: list[str]
    notes: list[str]  # problems to report with its grade (missing tasks)


def _batches(todo: list[Job], workers: int) -> list[list[Job]]:
    """Split each assignment's jobs into at most ``workers`` batches of nearly equal size."""
    batches = []
    for assignment in sorted({job.sub.assignment for job in todo}):
        jobs = [job for job in todo if job.sub.assignment == assignment]
        n = min(workers, len(jobs))
        batches += [jobs[i::n] for i in range(n)]
    return batches


def _grade_batch(batch: list[Job], ex: Exercise, out: Path, work: Path, *, timeout: float, memory_mb: int,
                 sandbox: str, log: Callable[[str], None]) -> list[dict]:
    """Autograde one batch of an assignment in one nbgrader run; save and return each result."""
    course = Path(tempfile.mkdtemp(prefix="course-", dir=work))
    graded = autograde(ex, [job.data for job in batch], course, timeout=timeout, memory_mb=memory_mb,
                       sandbox=sandbox)
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
        result["feedback"] = _write_feedback(out, ex, result, done.notebook)
        _save(out / "results" / _safe(job.sub.assignment) / f"{_safe(job.sub.student)}.json", result)
        log(f"graded {job.sub.label}: {fmt(result['total'])}/{fmt(result['max'])}"
            + (f" ({'; '.join(problems)})" if problems else ""))
        results.append(result)
    return results


def grade_class(submissions: Path, out: Path, *, course: Path = Path("."), pattern: str | None = None,
                workers: int | None = None, timeout: float = CELL_TIMEOUT, memory_mb: int = DEFAULT_MEMORY_MB,
                sandbox: str | None = None, log: Callable[[str], None] = print) -> RunSummary:
    """Grade every submission in ``submissions`` against the exercises of ``course``; write ``out``.

    Each kernel runs in a bubblewrap sandbox (``sandbox="bwrap"``, the default where it works) or
    not (``"none"``; see :mod:`~tokbook.course.sandbox`)."""
    started = time.monotonic()
    if timeout <= 0:
        raise ValueError("the cell timeout must be a positive number of seconds")
    if memory_mb < 256:
        raise ValueError("the memory limit must be at least 256 MB (a Python kernel needs about 100 MB)")
    workers = workers or os.cpu_count() or 1
    if workers < 1:
        raise ValueError("--workers must be at least 1")
    sandbox, isolation_note = choose_sandbox(sandbox)
    if isolation_note:
        log(f"warning: {isolation_note}")
    stems = exercise_stems(course)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if Path(submissions).resolve() == out.resolve():
        raise ValueError("--out must be another folder than the submissions")
    work = Path(tempfile.mkdtemp(prefix="work-", dir=out))
    try:
        found = collect(Path(submissions), stems, pattern=pattern, unpack_to=work / "unpacked", exclude=out)
        exercises: dict[str, Exercise] = {}
        for stem in sorted({s.assignment for s in found.submissions}
                           | {p.assignment for p in found.problems if p.assignment in stems}):
            exercises[stem] = prepare_exercise(course, stem, out / "courses")
            released = Path(course) / "exercises" / stem / f"{stem}.ipynb"
            if released.is_file() and released.read_bytes() != (
                    exercises[stem].course / "release" / stem / f"{stem}.ipynb").read_bytes():
                log(f"warning: {released} differs from solutions/{stem}/{stem}.md; run `make exercises`")

        results: dict[tuple[str, str], dict] = {}
        todo: list[Job] = []
        reused = 0
        for sub in found.submissions:
            ex = exercises[sub.assignment]
            data = sub.path.read_bytes()
            key = result_key(ex, data, timeout=timeout, memory_mb=memory_mb, sandbox=sandbox)
            cache = out / "results" / _safe(sub.assignment) / f"{_safe(sub.student)}.json"
            feedback = out / "feedback" / _safe(sub.assignment) / f"{_safe(sub.student)}.html"
            if cache.is_file() and feedback.is_file():
                try:
                    old = json.loads(cache.read_text(encoding="utf-8"))
                except (OSError, ValueError):
                    old = {}
                if old.get("key") == key:
                    old["label"] = sub.label
                    results[(sub.assignment, sub.student)] = old
                    reused += 1
                    continue
            nb, why = _read_notebook(data)
            if nb is None:
                result = _result(sub, ex, key, cells={c: 0.0 for c in ex.points}, graded=False,
                                 problems=[why], flags=[])
                result["feedback"] = _write_feedback(out, ex, result, None)
                _save(cache, result)
                results[(sub.assignment, sub.student)] = result
                continue
            release = ex.release
            flags = tamper_flags(nb, release)
            notes = []
            missing = _missing_tasks(nb, release)
            if missing:
                notes.append(f"missing tasks: {', '.join(missing)} (their tests ran and scored 0)")
            todo.append(Job(sub, key, data, flags, notes))

        batches = _batches(todo, workers)
        if todo:
            log(f"grading {len(todo)} submission(s) in {len(batches)} nbgrader run(s), "
                f"{min(workers, len(batches))} at a time")

        def run(batch: list[Job]) -> list[dict]:
            return _grade_batch(batch, exercises[batch[0].sub.assignment], out, work,
                                timeout=timeout, memory_mb=memory_mb, sandbox=sandbox, log=log)

        with ThreadPoolExecutor(max_workers=workers) as pool:
            for batch_results in pool.map(run, batches):
                for result in batch_results:
                    results[(result["assignment"], result["student"])] = result

        # Rows: every graded (or unreadable) submission, plus students whose only file was a problem.
        rows = list(results.values())
        problems = []
        for r in rows:
            for reason in r["problems"]:
                problems.append({"label": r["label"], "student": r["student"], "assignment": r["assignment"],
                                 "graded": r["graded"], "reason": reason})
        for p in found.problems:
            problems.append(asdict(p))
            if p.assignment in exercises and p.student and (p.assignment, p.student) not in results \
                    and not p.reason.startswith("duplicate"):
                ex = exercises[p.assignment]
                stub = Submission(p.student, p.assignment, Path(), p.label)
                row = _result(stub, ex, "", cells={c: 0.0 for c in ex.points}, graded=False,
                              problems=[p.reason], flags=[])
                row["feedback"] = _write_feedback(out, ex, row, None)
                results[(p.assignment, p.student)] = row
                rows.append(row)
        problems.sort(key=lambda p: (p["assignment"], p["student"], p["label"], p["reason"]))
        assignments = {stem: ex.task_points for stem, ex in exercises.items()}
        write_csv(out / "grades.csv", rows, assignments)
        summary = RunSummary(len(todo), reused, len(rows), len(problems),
                             sum(1 for r in rows if r["flags"]), time.monotonic() - started)
        write_summary(out / "summary.html", rows, assignments, problems,
                      run_note=f"{summary.rows} rows; {summary.graded} graded in this run, {summary.reused} "
                               f"reused from earlier runs; {summary.problems} problems; {summary.flagged} flagged."
                               + (f" Warning: {isolation_note}." if isolation_note else ""))
        log(f"graded {summary.graded}, reused {summary.reused}; {summary.problems} problem(s), "
            f"{summary.flagged} flagged; wrote {out / 'grades.csv'} and {out / 'summary.html'} "
            f"in {summary.seconds:.0f} s")
        return summary
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _save(path: Path, result: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(result, indent=1, sort_keys=True), encoding="utf-8")
    tmp.replace(path)
