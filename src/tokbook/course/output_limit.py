"""An nbgrader preprocessor that cuts long outputs by size (nbgrader's ``LimitOutput`` counts lines).

A submission that prints 100 MB on one line passes nbgrader's line limit untouched, and the
autograded notebook, its feedback and every later step would carry those 100 MB. This one keeps
the first ``max_chars`` characters of each cell's text outputs and says how much it cut.
"""

from __future__ import annotations

from nbconvert.preprocessors import Preprocessor
from traitlets import Bool, Integer

__all__ = ["MAX_OUTPUT_CHARS", "LimitOutputChars"]

#: Longest text kept of one cell's outputs in a graded notebook (the rest is cut).
MAX_OUTPUT_CHARS = 20_000


class LimitOutputChars(Preprocessor):
    """Keep at most ``max_chars`` characters of text output per cell; record what was cut."""

    enabled = Bool(True, help="nbconvert runs only enabled preprocessors").tag(config=True)
    max_chars = Integer(MAX_OUTPUT_CHARS, help="characters of text output kept per cell (-1: no limit)").tag(config=True)

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code" or self.max_chars < 0:
            return cell, resources
        budget, cut = self.max_chars, 0
        for output in cell.get("outputs", []):
            if output.output_type == "stream":
                text = output.text
                if len(text) > budget:
                    cut += len(text) - budget
                    output.text = text[:budget] + f"\n... {len(text) - budget} characters of output cut ...\n"
                budget = max(0, budget - len(text))
            elif output.output_type in ("execute_result", "display_data"):
                for mime, value in list(output.get("data", {}).items()):
                    if isinstance(value, str) and len(value) > self.max_chars:
                        cut += len(value) - self.max_chars
                        output.data[mime] = value[: self.max_chars] + "\n... output cut ..."
        if cut:
            cell.metadata["tokbook_output_cut"] = cut
        return cell, resources
