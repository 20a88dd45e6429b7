"""Autograde submissions with nbgrader, in a course of their own, under time and memory limits.

Starting nbgrader costs about 6 s (imports, mostly ``jsonschema``'s format checkers and
sqlalchemy), grading one notebook inside a running nbgrader about 2 s. So a worker grades a whole
batch of submissions in one ``nbgrader autograde`` run: a copy of the exercise's *template*
course (its source notebook, its generated gradebook and the grading configuration) into which
the batch is put as students ``s00000``, ``s00001``... Batches share nothing, so any number of
them can run at once. nbgrader goes on with the next student when one fails; every notebook the
batch could not grade is graded again alone, so one that crashes, loops or fills its memory
costs nobody else their grade.

The limits: nbgrader's per-cell timeout (the cell is interrupted, grading goes on); an address
space limit (``RLIMIT_AS``) that nbgrader's process passes on to each kernel it starts; a CPU-time
limit as a backstop; and a wall-clock limit after which nbgrader and every process it started
are killed. nbgrader's own output goes to a file, never into memory.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from tokbook.course.nbgrader_app import nbgrader_env, run_nbgrader
from tokbook.course.notebook import tasks_and_points
from tokbook.course.release import source_notebook
from tokbook.course.settings import write_course_config

__all__ = ["Exercise", "GradedNotebook", "autograde", "prepare_exercise", "wall_limit"]

#: Bumped when grading changes in a way that should invalidate cached results.
GRADER_VERSION = "2"

#: Course id of the courses that grading builds for itself.
COURSE_ID = "tokbook-grade"

#: How much of the end of nbgrader's log is read to diagnose a failed run.
LOG_TAIL_BYTES = 20_000


@dataclass
class Exercise:
    """An exercise ready to grade: its template course and what its tasks are worth."""

    stem: str
    key: str  # SHA-256 of the exercise source
    course: Path  # template course: nbgrader_config.py, source/, release/, gradebook.db
    tasks: dict[str, list[str]] = field(default_factory=dict)  # task -> its test cells (grade ids)
    points: dict[str, float] = field(default_factory=dict)  # test cell -> points
    code_cells: int = 0

    @property
    def task_points(self) -> dict[str, float]:
        return {task: sum(self.points[c] for c in cells) for task, cells in self.tasks.items()}

    @property
    def max_score(self) -> float:
        return sum(self.points.values())

    @property
    def release(self) -> nbformat.NotebookNode:
        return nbformat.read(self.course / "release" / self.stem / f"{self.stem}.ipynb", as_version=4)


def prepare_exercise(root: Path, stem: str, cache: Path) -> Exercise:
    """Return the exercise ``solutions/<stem>/<stem>.md`` of ``root``, its template course in ``cache``.

    The template is kept in ``cache/<stem>-<hash>`` and reused while the exercise source is the
    same, so preparing is instant after the first run.
    """
    md = Path(root) / "solutions" / stem / f"{stem}.md"
    key = hashlib.sha256(md.read_bytes()).hexdigest()
    course = Path(cache) / f"{stem}-{key[:16]}"
    ready = course / "ready"
    if not ready.is_file():
        shutil.rmtree(course, ignore_errors=True)
        (course / "source" / stem).mkdir(parents=True)
        nbformat.write(source_notebook(md), course / "source" / stem / f"{stem}.ipynb")
        write_course_config(course, COURSE_ID)
        done = run_nbgrader(["generate_assignment", stem, "--force"], cwd=course, timeout=600)
        if done.returncode != 0 or not (course / "gradebook.db").is_file():
            raise RuntimeError(
                f"could not prepare exercise {stem}: nbgrader generate_assignment exited "
                f"{done.returncode}:\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
            )
        ready.write_text(key)
    source = nbformat.read(course / "source" / stem / f"{stem}.ipynb", as_version=4)
    tasks, points = tasks_and_points(source)
    code_cells = sum(c.cell_type == "code" for c in source.cells)
    return Exercise(stem, key, course, tasks, points, code_cells)


@dataclass
class GradedNotebook:
    """What nbgrader made of one submission."""

    cell_scores: dict[str, float]  # test cell grade id -> points earned
    notebook: nbformat.NotebookNode | None  # the autograded notebook (outputs cut), if any
    problem: str = ""  # why grading failed or is incomplete; empty when all went well
    seconds: float = 0.0  # this notebook's share of the nbgrader run that graded it


def _descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (Linux /proc; empty elsewhere)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
            ppid = int(text.rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(stat.parent.name))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def _kill_tree(proc: subprocess.Popen) -> None:
    for pid in [*_descendants(proc.pid), proc.pid]:
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    proc.wait()


#: Run as ``python -c _LIMITED MEMORY_BYTES CPU_SECONDS COMMAND...``: set the limits, then become
#: COMMAND. Limits survive exec and are inherited by the kernel that nbgrader starts. (A
#: ``preexec_fn`` would do the same, but it is unsafe in a process that runs threads, as ours does.)
_LIMITED = (
    "import os, resource, sys\n"
    "memory, cpu = int(sys.argv[1]), int(sys.argv[2])\n"
    "if memory: resource.setrlimit(resource.RLIMIT_AS, (memory, memory))\n"
    "resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))\n"
    "os.execv(sys.argv[3], sys.argv[3:])\n"
)


def _limited(command: list[str], memory_mb: int, cpu_seconds: int) -> list[str]:
    return [sys.executable, "-c", _LIMITED, str(memory_mb * 1024 * 1024), str(cpu_seconds), *command]


def _why_it_failed(log: str, returncode: int) -> str:
    if "DeadKernelError" in log or "Kernel died" in log or "kernel died" in log.lower():
        return "the kernel died while running the notebook (os._exit, a crash, or out of memory)"
    if "MemoryError" in log:
        return "nbgrader ran out of memory grading it"
    if "CellTimeoutError" in log or "Timeout" in log and "waiting" in log:
        return "a cell timed out and the kernel did not recover"
    lines = [line for line in log.splitlines() if line.strip()]
    last = lines[-1][:300] if lines else ""
    return f"nbgrader autograde failed (exit {returncode}): {last}"


def _read_scores(course: Path, stem: str, students: list[str]) -> dict[str, dict[str, float]]:
    """Test cell scores of each student whose submission nbgrader finished grading.

    nbgrader enters a submission in the gradebook before it runs it, and sets each test cell's
    ``auto_score`` only after the whole notebook ran; a student whose run was killed half way
    has test cells without one, and is not graded.
    """
    from nbgrader.api import Gradebook, MissingEntry

    scores = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for student in students:
            try:
                nb = gb.find_submission_notebook(stem, stem, student)
            except MissingEntry:
                continue
            if any(g.auto_score is None and g.cell_type == "code" for g in nb.grades):
                continue
            scores[student] = {g.name: float(g.score or 0) for g in nb.grades}
    return scores


def _read_graded(path: Path) -> nbformat.NotebookNode | None:
    try:
        return nbformat.read(path, as_version=4)
    except Exception:  # noqa: BLE001 -- a broken graded notebook only costs the feedback
        return None


def _make_course(exercise: Exercise, notebooks: list[bytes], course: Path, timeout: float,
                 sandbox: str = "none") -> list[str]:
    """Fill ``course`` from the exercise's template, one student per notebook; return the student ids."""
    stem = exercise.stem
    course.mkdir(parents=True, exist_ok=True)
    shutil.copytree(exercise.course / "source", course / "source")
    shutil.copy2(exercise.course / "gradebook.db", course / "gradebook.db")
    write_course_config(course, COURSE_ID, timeout=timeout, sandbox=sandbox)
    students = [f"s{i:05d}" for i in range(len(notebooks))]
    for student, data in zip(students, notebooks):
        target = course / "submitted" / student / stem / f"{stem}.ipynb"
        target.parent.mkdir(parents=True)
        target.write_bytes(data)
    return students


def _run_nbgrader(course: Path, stem: str, *, memory_mb: int, wall_seconds: float) -> tuple[int, bool, str]:
    """Run ``nbgrader autograde`` in ``course``; return (exit code, killed at the wall limit, log tail)."""
    log_path = course / "nbgrader.log"
    with open(log_path, "wb") as log:
        command = [sys.executable, "-m", "nbgrader", "autograde", stem, "--create"]
        proc = subprocess.Popen(
            _limited(command, memory_mb, int(wall_seconds) + 30),
            cwd=course, env=dict(nbgrader_env(), PYTHONUNBUFFERED="1"), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
        try:
            proc.wait(timeout=wall_seconds)
            killed = False
        except subprocess.TimeoutExpired:
            _kill_tree(proc)
            killed = True
        for pid in _descendants(proc.pid):  # a kernel left behind (normally none)
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
    with open(log_path, "rb") as log:
        log.seek(max(0, log_path.stat().st_size - LOG_TAIL_BYTES))
        log_tail = log.read().decode("utf-8", errors="replace")
    if "Exception while loading config file" in log_tail:
        # nbgrader goes on with its defaults (no timeout, no restored test cells): never grade so.
        raise RuntimeError(f"nbgrader could not read the grading configuration:\n{log_tail[-3000:]}")
    return proc.returncode, killed, log_tail


def wall_limit(exercise: Exercise, notebooks: int, timeout: float) -> float:
    """Seconds one nbgrader run of ``notebooks`` submissions may take before it is killed.

    A backstop behind the cell timeout: room for nbgrader to start, and for every code cell of
    every notebook (and the restored test cells) to run into ``timeout``.
    """
    return 60 + notebooks * (30 + timeout * (exercise.code_cells + 2))


def _count(n: int) -> str:
    return "one notebook" if n == 1 else f"{n} notebooks"


def _grade_together(exercise: Exercise, notebooks: list[bytes], course: Path, *, timeout: float,
                    memory_mb: int, sandbox: str = "none") -> list[GradedNotebook]:
    """Grade ``notebooks`` in one course with one ``nbgrader autograde`` run (``course`` removed after).

    nbgrader grades the students one after the other, each in a kernel of its own; when one fails
    (its kernel dies, say) it removes that student's graded notebook and goes on with the next.
    So a student is graded when their graded notebook exists and the gradebook has their scores.
    """
    stem = exercise.stem
    started = time.monotonic()
    wall_seconds = wall_limit(exercise, len(notebooks), timeout)
    try:
        students = _make_course(exercise, notebooks, course, timeout, sandbox)
        returncode, killed, log_tail = _run_nbgrader(course, stem, memory_mb=memory_mb, wall_seconds=wall_seconds)
        scores = _read_scores(course, stem, students)
        share = (time.monotonic() - started) / len(notebooks)
        results = []
        for student in students:
            graded_path = course / "autograded" / student / stem / f"{stem}.ipynb"
            if student in scores and graded_path.is_file():
                results.append(GradedNotebook(scores[student], _read_graded(graded_path), "", share))
                continue
            problem = (f"stopped after {wall_seconds:.0f} s (the limit for {_count(len(notebooks))})"
                       if killed else _why_it_failed(log_tail, returncode))
            results.append(GradedNotebook({cell: 0.0 for cell in exercise.points}, None, problem, share))
        return results
    finally:
        shutil.rmtree(course, ignore_errors=True)


def autograde(exercise: Exercise, notebooks: list[bytes], work: Path, *, timeout: float,
              memory_mb: int, sandbox: str = "none") -> list[GradedNotebook]:
    """Grade submitted notebooks (their bytes) in one nbgrader run in a fresh course under ``work``.

    Each notebook that run could not grade (a dead kernel, or the whole run stopped at its wall
    limit) is then graded again alone, so a bad notebook costs no other its grade and its problem
    is diagnosed from a log of its own.
    """
    graded = _grade_together(exercise, notebooks, Path(work) / "together", timeout=timeout, memory_mb=memory_mb,
                             sandbox=sandbox)
    if len(notebooks) > 1:
        for i, result in enumerate(graded):
            if result.problem:
                graded[i] = _grade_together(exercise, [notebooks[i]], Path(work) / f"alone-{i}",
                                            timeout=timeout, memory_mb=memory_mb, sandbox=sandbox)[0]
    return graded


def result_key(exercise: Exercise, notebook_bytes: bytes, *, timeout: float, memory_mb: int,
               sandbox: str = "none") -> str:
    """The cache key of a result: the submission, the exercise and the grading settings."""
    h = hashlib.sha256()
    for part in (GRADER_VERSION, exercise.key, hashlib.sha256(notebook_bytes).hexdigest(),
                 json.dumps([timeout, memory_mb, sandbox])):
        h.update(part.encode() + b"\0")
    return h.hexdigest()
