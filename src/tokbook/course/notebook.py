"""Reading nbgrader's marks on notebook cells, and filling a release with the model solutions.

nbgrader keeps what it knows about a cell in ``cell.metadata["nbgrader"]``: ``grade_id``,
``solution`` (an answer the student writes), ``grade`` (a test cell worth ``points``),
``locked``. A submitted notebook may have lost or mangled that metadata, so every reader here
accepts any cell and answers "nothing" rather than raise.

>>> import nbformat
>>> cell = nbformat.v4.new_code_cell("def f(): pass")
>>> cell.metadata["nbgrader"] = {"grade_id": "f", "solution": True, "grade": False}
>>> grade_id(cell), is_solution(cell), is_test(cell)
('f', True, False)
>>> grade_id(nbformat.v4.new_markdown_cell("text")) is None
True
>>> release = nbformat.v4.new_notebook(cells=[cell])
>>> fill_solutions(release, {"f": "def f(): return 1"}, ["f"]).cells[0].source
'def f(): return 1'
>>> fill_solutions(release, {"f": "def f(): return 1"}, ["g"])
Traceback (most recent call last):
...
ValueError: no solution cell ['g'] in this exercise; its tasks are ['f']
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping

import nbformat

__all__ = [
    "fill_solutions", "grade_id", "is_solution", "is_test", "model_solutions", "nbgrader_metadata", "tasks_and_points",
]


def nbgrader_metadata(cell) -> dict:
    """The nbgrader metadata of ``cell`` (a notebook cell or a plain dict); ``{}`` when it has none."""
    meta = cell.get("metadata", {}) or {}
    nbgrader = meta.get("nbgrader", {}) if isinstance(meta, dict) else {}
    return nbgrader if isinstance(nbgrader, dict) else {}


def grade_id(cell) -> str | None:
    """The cell's nbgrader ``grade_id``, or None when it has none."""
    value = nbgrader_metadata(cell).get("grade_id")
    return value if isinstance(value, str) else None


def is_solution(cell) -> bool:
    """Whether the cell is an answer the student writes."""
    return bool(nbgrader_metadata(cell).get("solution"))


def is_test(cell) -> bool:
    """Whether the cell is a graded test cell."""
    return bool(nbgrader_metadata(cell).get("grade"))


def model_solutions(source: nbformat.NotebookNode) -> dict[str, str]:
    """The code of each solution cell of an nbgrader source notebook, by grade id, in notebook order."""
    return {grade_id(cell): cell.source for cell in source.cells if is_solution(cell)}


def tasks_and_points(source: nbformat.NotebookNode) -> tuple[dict[str, list[str]], dict[str, float]]:
    """The test cells of each task, and the points of each test cell, of an nbgrader source notebook.

    A test cell belongs to the solution cell above it (a test cell above every solution cell is a
    task of its own).
    """
    tasks: dict[str, list[str]] = {}
    points: dict[str, float] = {}
    task = None
    for cell in source.cells:
        if is_solution(cell):
            task = grade_id(cell)
        if is_test(cell):
            tasks.setdefault(task or grade_id(cell), []).append(grade_id(cell))
            points[grade_id(cell)] = float(nbgrader_metadata(cell).get("points", 0))
    return tasks, points


def fill_solutions(release: nbformat.NotebookNode, solutions: Mapping[str, str], tasks: Iterable[str],
                   replace: Mapping[str, str] | None = None) -> nbformat.NotebookNode:
    """A copy of ``release`` as a student who solved ``tasks`` with ``solutions`` would hand it in.

    Each solution cell whose grade id is in ``tasks`` gets the code in ``solutions``; a cell whose
    grade id is in ``replace`` gets that code instead (a wrong or hostile answer); every other
    cell is left as released. ``release`` itself is not changed.
    """
    tasks, replace = set(tasks), dict(replace or {})
    unknown = (tasks - set(solutions)) | (set(replace) - {grade_id(c) for c in release.cells})
    if unknown:
        raise ValueError(f"no solution cell {sorted(unknown)} in this exercise; its tasks are {sorted(solutions)}")
    filled = copy.deepcopy(release)
    for cell in filled.cells:
        gid = grade_id(cell)
        if gid in replace:
            cell.source = replace[gid]
        elif gid in tasks and is_solution(cell):
            cell.source = solutions[gid]
    return filled
