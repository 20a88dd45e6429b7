"""nbgrader preprocessors of our own, each fixing one measured problem of nbgrader 0.9."""

from __future__ import annotations

from nbconvert.exporters.exporter import ResourcesDict
from nbformat.notebooknode import NotebookNode
from nbgrader.preprocessors import OverwriteCells

from tokbook.course.notebook import grade_id, is_solution, is_test


class OverwriteCellsAppendMissing(OverwriteCells):
    """nbgrader's ``OverwriteCells``, but missing grade cells are appended to the notebook.

    nbgrader 0.9.6 puts a missing grade cell back after the cell that came before it in the
    source, and raises ``KeyError`` when that cell is missing too. That is exactly what a
    notebook whose metadata was stripped looks like, so the submission scored nothing and
    ``nbgrader autograde`` exited 1 for the whole class. Appending always works, and every
    restored test then runs after all of the student's code, where its functions are defined.
    """

    def add_missing_grade_cells(self, nb: NotebookNode, resources: ResourcesDict) -> tuple[NotebookNode, ResourcesDict]:
        source_nb = self.gradebook.find_notebook(self.notebook_id, self.assignment_id)
        present = {grade_id(cell) for cell in nb.cells if is_test(cell) or is_solution(cell)}
        solution_ids = {cell.name for cell in source_nb.solution_cells}
        for grade_cell in sorted(source_nb.grade_cells, key=lambda cell: cell.name):
            if grade_cell.name in present:
                continue
            self.log.warning("Missing grade cell %s: appending it to the notebook", grade_cell.name)
            source_cell = self.gradebook.find_source_cell(grade_cell.name, self.notebook_id, self.assignment_id)
            nb.cells.append(
                self.missing_cell_transform(
                    source_cell, grade_cell.max_score, is_solution=grade_cell.name in solution_ids
                )
            )
        return nb, resources
