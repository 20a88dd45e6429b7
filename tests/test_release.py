"""The exercise source format: roles expand to nbgrader metadata, and mistakes are reported clearly."""

from __future__ import annotations

import pytest

from tokbook.course.release import ExerciseSourceError, release, source_notebook

HEADER = """\
---
jupytext:
  text_representation:
    extension: .md
    format_name: myst
kernelspec:
  display_name: Python 3
  language: python
  name: python3
---
"""


def cell(options: str, source: str) -> str:
    return f"```{{code-cell}} ipython3\n{options}\n\n{source}\n```\n"


def write(tmp_path, *cells: str):
    path = tmp_path / "ex.md"
    path.write_text(HEADER + "\n# Title\n\n" + "\n".join(cells), encoding="utf-8")
    return path


def test_roles_become_nbgrader_metadata_and_placeholders_become_literals(tmp_path):
    path = write(
        tmp_path,
        cell(":tags: [setup]", "import math"),
        cell(":tags: [reference]", "CASES = [(n, n * n) for n in range(3)]"),
        cell(":tags: [solution]\n:grade_id: square", "def square(n):\n    ### BEGIN SOLUTION\n    return n * n\n    ### END SOLUTION"),
        cell(":tags: [tests]\n:grade_id: test_square\n:points: 2", "for n, want in {{ CASES }}:\n    assert square(n) == want"),
    )
    nb = source_notebook(path)
    assert [c.id for c in nb.cells] == ["cell-0", "setup", "square", "test_square"]
    meta = [c.metadata.get("nbgrader") for c in nb.cells]
    assert meta[1] == {"grade": False, "grade_id": "setup", "locked": True, "schema_version": 3, "solution": False}
    assert meta[2]["solution"] and not meta[2]["grade"] and not meta[2]["locked"]
    assert meta[3]["grade"] and meta[3]["locked"] and meta[3]["points"] == 2
    assert "[(0, 0), (1, 1), (2, 4)]" in nb.cells[3].source
    assert all("tags" not in c.metadata for c in nb.cells)


@pytest.mark.parametrize(
    "cells, message",
    [
        ([cell(":tags: [solution]", "x = 1")], "needs :grade_id:"),
        ([cell(":tags: [tests]\n:grade_id: t", "pass")], "needs :points: > 0"),
        ([cell(":tags: [tests]\n:grade_id: t\n:points: 1", "x = {{MISSING}}")], "not defined by any reference cell"),
        ([cell(":tags: [reference]", "X = object()"), cell(":tags: [tests]\n:grade_id: t\n:points: 1", "x = {{X}}")],
         "must be a plain literal"),
        ([cell(":tags: [solution]\n:grade_id: a", "x = 1"), cell(":tags: [solution]\n:grade_id: a", "y = 1")],
         "used twice"),
        ([cell(":tags: [solution, tests]\n:grade_id: a", "x = 1")], "a cell has one role"),
        ([cell(":tags: [solution]\n:grade_id: has space", "x = 1")], "letters, digits"),
        ([cell(":tags: [solution]\n:grade_id: a", "x = {{X}}")], "only replaced in 'tests' cells"),
    ],
)
def test_mistakes_in_a_source_are_reported_with_the_cell(tmp_path, cells, message):
    path = write(tmp_path, *cells)
    with pytest.raises(ExerciseSourceError, match=message) as err:
        source_notebook(path)
    assert "ex.md cell" in str(err.value)


def test_release_of_an_unknown_stem_lists_the_known_ones(tmp_path):
    (tmp_path / "solutions" / "utf8").mkdir(parents=True)
    (tmp_path / "solutions" / "utf8" / "utf8.md").write_text(HEADER)
    with pytest.raises(ExerciseSourceError, match=r"\['utf8'\]"):
        release(tmp_path, ["bpe"])
