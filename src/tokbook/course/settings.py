"""The nbgrader configuration of every course built from this repository, in one place.

:func:`grading_config` is what ``nbgrader_config.py`` at the repository root merges, what
:func:`write_course_config` writes into the courses that ``tokbook grade`` builds for itself, and
what the tests and the grading benchmark use: so plain ``nbgrader autograde`` in the repository
grades exactly as ``tokbook grade`` does. Each setting closes one trap of nbgrader 0.9.
"""

from __future__ import annotations

from pathlib import Path

from nbconvert.preprocessors import ClearMetadataPreprocessor
from nbgrader.preprocessors import (AssignLatePenalties, CheckCellMetadata, ClearOutput, DeduplicateIds, Execute,
                                    IgnorePattern, LimitOutput, OverwriteKernelspec, SaveAutoGrades)
from traitlets.config import Config

from tokbook.course.output_limit import MAX_OUTPUT_CHARS, LimitOutputChars
from tokbook.course.preprocessors import OverwriteCellsAppendMissing

__all__ = ["CELL_TIMEOUT", "CODE_STUB", "MAX_OUTPUT_CHARS", "cell_timeout", "grading_config", "write_course_config"]

#: Seconds one cell may run while grading. Exercise cells finish in well under a second; an
#: infinite loop is interrupted after this long, and grading continues with the next cell.
CELL_TIMEOUT = 10

#: Text that replaces each solution in the released notebook.
CODE_STUB = "# YOUR CODE HERE\nraise NotImplementedError()"


def cell_timeout(seconds: float) -> int:
    """Check a cell timeout and return it as nbgrader takes it: whole seconds, at least 1.

    >>> cell_timeout(2.0)
    2
    >>> cell_timeout(2.5)
    Traceback (most recent call last):
    ...
    ValueError: the cell timeout must be a whole number of seconds, at least 1 (nbgrader counts whole seconds), got 2.5
    """
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not 1 <= seconds < 1e9 or seconds % 1:
        raise ValueError("the cell timeout must be a whole number of seconds, at least 1 "
                         f"(nbgrader counts whole seconds), got {seconds!r}")
    return int(seconds)


def grading_config(course_id: str, *, timeout: float = CELL_TIMEOUT, sandbox: str = "none") -> Config:
    """Return the nbgrader configuration of the course ``course_id``, cells stopped after ``timeout`` s.

    With ``sandbox="bwrap"`` every kernel runs in its own bubblewrap sandbox
    (:mod:`tokbook.course.sandbox`); ``"none"`` runs kernels as nbgrader does.

    >>> c = grading_config("demo", timeout=2)
    >>> c.CourseDirectory.course_id, c.Execute.timeout, c.LimitOutputChars.max_chars
    ('demo', 2, 20000)
    """
    c = Config()
    c.CourseDirectory.course_id = course_id
    c.ClearSolutions.code_stub = {"python": CODE_STUB}
    c.Execute.timeout = cell_timeout(timeout)
    # Interrupt a cell that runs past the timeout and go on, so a looping task costs only itself.
    c.Execute.interrupt_on_timeout = True
    # A student who deletes a test cell must not escape it: autograde puts it back.
    c.OverwriteCells.add_missing_cells = True
    # ... even when the notebook's metadata was stripped as well (see OverwriteCellsAppendMissing).
    c.Autograde.sanitize_preprocessors = [
        ClearOutput, DeduplicateIds, OverwriteKernelspec, OverwriteCellsAppendMissing, CheckCellMetadata,
    ]
    # nbgrader's own preprocessors, then ours, which cuts long outputs (LimitOutput counts lines
    # only, so one line of 100 MB would reach the graded notebook and its feedback page).
    c.LimitOutputChars.max_chars = MAX_OUTPUT_CHARS
    c.Autograde.autograde_preprocessors = [
        _execute(sandbox), IgnorePattern, ClearMetadataPreprocessor, LimitOutput, SaveAutoGrades, AssignLatePenalties,
        CheckCellMetadata, LimitOutputChars,
    ]
    return c


def _execute(sandbox: str) -> type:
    """nbgrader's preprocessor that runs the notebook: its own, or the sandboxed one."""
    from tokbook.course.sandbox import SANDBOXES, SandboxedExecute

    if sandbox not in SANDBOXES:
        raise ValueError(f"unknown sandbox {sandbox!r}: use one of {', '.join(SANDBOXES)}")
    return SandboxedExecute if sandbox == "bwrap" else Execute


def write_course_config(course: Path, course_id: str, *, timeout: float = CELL_TIMEOUT, sandbox: str = "none") -> Path:
    """Write ``course/nbgrader_config.py`` for a course of its own that uses :func:`grading_config`."""
    _execute(sandbox)  # refuse an unknown sandbox here, not when nbgrader reads the file
    path = Path(course) / "nbgrader_config.py"
    path.write_text(
        "# Written by tokbook: an nbgrader course configured by tokbook.course.settings.\n"
        "from tokbook.course.settings import grading_config\n\n"
        "c = get_config()  # noqa: F821 -- provided by nbgrader when it reads this file\n"
        f"c.merge(grading_config({course_id!r}, timeout={cell_timeout(timeout)!r}, sandbox={sandbox!r}))\n",
        encoding="utf-8",
    )
    return path
