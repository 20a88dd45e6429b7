"""nbgrader settings shared by the repository's course (``nbgrader_config.py``) and the tests.

Each setting closes one of the nbgrader traps listed in DESIGN.md.
"""

from __future__ import annotations

from nbgrader.preprocessors import CheckCellMetadata, ClearOutput, DeduplicateIds, OverwriteKernelspec
from traitlets.config import Config

from tokbook.course.preprocessors import OverwriteCellsAppendMissing

#: Seconds one cell may run while grading. Exercise cells finish in well under a second; an
#: infinite loop is interrupted after this long, and grading continues with the next cell.
CELL_TIMEOUT = 10

#: Text that replaces each solution in the released notebook.
CODE_STUB = "# YOUR CODE HERE\nraise NotImplementedError()"


def grading_config() -> Config:
    """Return the nbgrader configuration that every course built from this repository uses."""
    c = Config()
    c.ClearSolutions.code_stub = {"python": CODE_STUB}
    c.Execute.timeout = CELL_TIMEOUT
    # Interrupt a cell that runs past the timeout and go on, so a looping task costs only itself.
    c.Execute.interrupt_on_timeout = True
    # A student who deletes a test cell must not escape it: autograde puts it back.
    c.OverwriteCells.add_missing_cells = True
    # ... even when the notebook's metadata was stripped as well (see OverwriteCellsAppendMissing).
    c.Autograde.sanitize_preprocessors = [
        ClearOutput, DeduplicateIds, OverwriteKernelspec, OverwriteCellsAppendMissing, CheckCellMetadata,
    ]
    return c
