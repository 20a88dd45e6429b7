"""Turn ``solutions/<stem>/<stem>.md`` into nbgrader's source notebook and the student release.

The instructor source of an exercise is a MyST notebook (jupytext) whose code cells carry one of
four short roles as a tag; this module expands them into full nbgrader metadata:

``setup``
    A locked cell that every student runs first (imports, silencing warnings).
``solution``
    An autograded answer (needs ``:grade_id:``). nbgrader replaces the region between
    ``### BEGIN SOLUTION`` and ``### END SOLUTION`` with a stub that raises NotImplementedError.
``tests``
    A locked, graded test cell (needs ``:grade_id:`` and ``:points:``). A region between
    ``### BEGIN HIDDEN TESTS`` and ``### END HIDDEN TESTS`` is removed from the release and put
    back when grading.
``reference``
    Runs here, at build time, with the reference package ``tokbook`` and is not written to any
    notebook. Each ``{{NAME}}`` in a ``tests`` cell is replaced by the literal value of ``NAME``
    that it computed, so hidden tests compare against constants, not against ``tokbook``: a
    submission that monkeypatches ``tokbook`` gains nothing. Because ``{{`` starts a placeholder,
    a ``tests`` cell cannot use ``{{`` for a literal brace in an f-string (use concatenation).

Cell ids are the grade ids (or ``cell-<n>``), so regenerating gives byte-identical notebooks.

Run ``python -m tokbook.course.release`` (``make exercises``) from the repository root.
"""

from __future__ import annotations

import argparse
import ast
import pprint
import re
import sys
from pathlib import Path

import jupytext
import nbformat

from tokbook.course.nbgrader_app import run_nbgrader

__all__ = ["ROLES", "ExerciseSourceError", "release", "source_notebook"]

ROLES = ("setup", "solution", "tests", "reference")
NBGRADER_SCHEMA_VERSION = 3
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_GRADE_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class ExerciseSourceError(ValueError):
    """An exercise source file is not in the form this module expects."""


def _role(cell: nbformat.NotebookNode, where: str) -> str | None:
    roles = [tag for tag in cell.metadata.get("tags", []) if tag in ROLES]
    if len(roles) > 1:
        raise ExerciseSourceError(f"{where}: a cell has one role, this one has {roles}")
    if roles and cell.cell_type != "code":
        raise ExerciseSourceError(f"{where}: role {roles[0]!r} is for code cells only")
    return roles[0] if roles else None


def _reference_values(cells: list, path: Path) -> dict[str, object]:
    """Run the ``reference`` cells with tokbook and return the names they define."""
    namespace: dict[str, object] = {}
    for index, cell in cells:
        code = compile(cell.source, f"{path} (reference cell {index})", "exec")
        exec(code, namespace)  # noqa: S102 -- our own exercise source, run at build time
    return {k: v for k, v in namespace.items() if not k.startswith("__")}


def _literal(name: str, value: object, where: str) -> str:
    text = pprint.pformat(value, width=100, sort_dicts=False)
    try:
        same = ast.literal_eval(text) == value
    except (ValueError, SyntaxError):
        same = False
    if not same:
        raise ExerciseSourceError(
            f"{where}: {{{{{name}}}}} must be a plain literal (numbers, strings, bytes, tuples, "
            f"lists, dicts, None, booleans), but the reference cells made {type(value).__name__}"
        )
    return text


def _substitute(source: str, values: dict[str, object], where: str) -> str:
    def replace(match: re.Match) -> str:
        name = match.group(1)
        if name not in values:
            raise ExerciseSourceError(
                f"{where}: {{{{{name}}}}} is not defined by any reference cell"
            )
        return _literal(name, values[name], where)

    return _PLACEHOLDER.sub(replace, source)


def _nbgrader_metadata(role: str, cell: nbformat.NotebookNode, where: str) -> dict:
    meta = cell.metadata
    grade_id = meta.pop("grade_id", None)
    points = meta.pop("points", None)
    if role == "setup":
        grade_id = grade_id or "setup"
    if not isinstance(grade_id, str) or not _GRADE_ID.match(grade_id):
        raise ExerciseSourceError(
            f"{where}: a {role!r} cell needs :grade_id: made of letters, digits, '_' or '-' "
            f"(at most 64), got {grade_id!r}"
        )
    if role == "tests":
        if isinstance(points, bool) or not isinstance(points, (int, float)) or points <= 0:
            raise ExerciseSourceError(f"{where}: a 'tests' cell needs :points: > 0, got {points!r}")
    elif points is not None:
        raise ExerciseSourceError(f"{where}: only 'tests' cells carry :points:")
    nbgrader = {
        "grade": role == "tests",
        "grade_id": grade_id,
        "locked": role in ("setup", "tests"),
        "schema_version": NBGRADER_SCHEMA_VERSION,
        "solution": role == "solution",
    }
    if role == "tests":
        nbgrader["points"] = points
    return nbgrader


def source_notebook(path: Path) -> nbformat.NotebookNode:
    """Read one exercise source (``solutions/<stem>/<stem>.md``) and return nbgrader's source notebook."""
    path = Path(path)
    nb = jupytext.read(path)
    roles = [(_role(cell, f"{path} cell {i}"), i, cell) for i, cell in enumerate(nb.cells)]
    values = _reference_values([(i, c) for role, i, c in roles if role == "reference"], path)

    cells, seen = [], set()
    for role, index, cell in roles:
        where = f"{path} cell {index}"
        if role == "reference":
            continue
        if role is None:
            cell.id = f"cell-{index}"
        else:
            nbgrader = _nbgrader_metadata(role, cell, where)
            if nbgrader["grade_id"] in seen:
                raise ExerciseSourceError(f"{where}: grade_id {nbgrader['grade_id']!r} is used twice")
            seen.add(nbgrader["grade_id"])
            cell.metadata["nbgrader"] = nbgrader
            cell.metadata["tags"] = [t for t in cell.metadata.get("tags", []) if t not in ROLES]
            if not cell.metadata["tags"]:
                del cell.metadata["tags"]
            cell.id = nbgrader["grade_id"]
            if role == "tests":
                cell.source = _substitute(cell.source, values, where)
        leftover = _PLACEHOLDER.search(cell.source) if role != "tests" else None
        if leftover:
            raise ExerciseSourceError(f"{where}: {leftover.group(0)} is only replaced in 'tests' cells")
        cells.append(cell)

    out = nbformat.v4.new_notebook()
    out.cells = cells
    out.metadata = {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    }
    nbformat.validate(out)
    return out


def release(root: Path, stems: list[str] | None = None) -> list[Path]:
    """Regenerate ``exercises/<stem>/<stem>.ipynb`` for each stem (all of ``solutions/`` by default).

    Writes nbgrader's source notebooks to ``build/nbgrader/source`` and runs
    ``nbgrader generate_assignment`` with the repository's ``nbgrader_config.py``.
    """
    root = Path(root).resolve()
    available = sorted(p.name for p in (root / "solutions").iterdir() if (p / f"{p.name}.md").is_file())
    stems = stems or available
    unknown = sorted(set(stems) - set(available))
    if unknown:
        raise ExerciseSourceError(
            f"no exercise source for {unknown}; the exercises are {available} (solutions/<stem>/<stem>.md)"
        )
    released = []
    for stem in stems:
        target = root / "build" / "nbgrader" / "source" / stem / f"{stem}.ipynb"
        target.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(source_notebook(root / "solutions" / stem / f"{stem}.md"), target)
        result = run_nbgrader(["generate_assignment", stem, "--force"], cwd=root)
        out = root / "exercises" / stem / f"{stem}.ipynb"
        if result.returncode != 0 or not out.is_file():
            raise RuntimeError(
                f"nbgrader generate_assignment {stem} failed (exit {result.returncode}):\n"
                f"{result.stdout}{result.stderr}"
            )
        released.append(out)
    return released


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tokbook.course.release",
        description="Regenerate exercises/ from solutions/ (run from the repository root).",
    )
    parser.add_argument("stems", nargs="*", help="exercises to release (default: all)")
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="repository root")
    args = parser.parse_args(argv)
    if not (args.root / "nbgrader_config.py").is_file():
        parser.error(f"{args.root.resolve()} has no nbgrader_config.py; run from the repository root")
    for path in release(args.root, args.stems):
        print(f"released {path.relative_to(args.root.resolve())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
