"""Feedback pages that render with no network: one self-contained HTML file per submission.

nbgrader's ``generate_feedback`` writes pages that load MathJax and require.js from a CDN, so they
show nothing useful offline. These pages are plain HTML with inline CSS and no script at all. They
start with the score of each task; what follows depends on the kind of feedback:

``summary`` (the default)
    each test with its points and, when it failed, why: the exception and its message (an
    assertion's message, a timeout), never the test's code; then the student's own cells with
    their outputs. The hidden tests stay hidden, so the exercise can be used again.
``hidden-tests``
    the whole notebook as it was graded (markdown as text, code, outputs cut to a readable
    length), hidden tests included, each test cell marked with the points it earned, as
    nbgrader's own feedback does.
"""

from __future__ import annotations

import html
import re

from nbformat import NotebookNode

from tokbook.course.notebook import grade_id as grade_id_of
from tokbook.course.notebook import is_solution, nbgrader_metadata
from tokbook.course.report import fmt

__all__ = ["FEEDBACK_KINDS", "feedback_page"]

FEEDBACK_KINDS = ("summary", "hidden-tests")

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_MAX_CHARS = 5_000

_CSS = """
body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
table { border-collapse: collapse; margin: 1rem 0; }
td, th { border: 1px solid #ccc; padding: .3rem .6rem; text-align: left; }
td.num { text-align: right; }
pre { background: #f6f6f6; padding: .6rem; overflow-x: auto; white-space: pre-wrap; }
.cell { margin: 1rem 0; }
.md pre { background: none; font-family: inherit; }
.out pre { background: #fff; border-left: 3px solid #ddd; }
.err pre { background: #fff0f0; border-left: 3px solid #c33; }
.test { border: 2px solid #999; padding: .3rem; }
.full { border-color: #2a2; } .zero { border-color: #c33; } .part { border-color: #d90; }
.score { font-weight: bold; }
.problem { background: #fff3cd; padding: .6rem; }
"""



def _cut(text: str) -> str:
    text = _ANSI.sub("", text)
    if len(text) > _MAX_CHARS:
        text = text[:_MAX_CHARS] + f"\n... ({len(text) - _MAX_CHARS} more characters)"
    return html.escape(text)


def _outputs(cell: NotebookNode) -> list[str]:
    parts = []
    for out in cell.get("outputs", []):
        kind = out.get("output_type")
        if kind == "stream":
            parts.append(f'<div class="out"><pre>{_cut(out.get("text", ""))}</pre></div>')
        elif kind == "error":
            tb = "\n".join(out.get("traceback", [])) or f"{out.get('ename')}: {out.get('evalue')}"
            parts.append(f'<div class="err"><pre>{_cut(tb)}</pre></div>')
        elif kind in ("execute_result", "display_data"):
            text = out.get("data", {}).get("text/plain")
            if text is not None:
                text = "".join(text) if isinstance(text, list) else text
                parts.append(f'<div class="out"><pre>{_cut(text)}</pre></div>')
    return parts


def _why(cell: NotebookNode) -> str:
    """Why a test cell failed, without its code: each exception's name and message."""
    errors = []
    for out in cell.get("outputs", []):
        if out.get("output_type") == "error":
            message = _ANSI.sub("", str(out.get("evalue", ""))).strip()
            errors.append(f"{out.get('ename', 'Error')}: {message}" if message else str(out.get("ename", "Error")))
    return "; ".join(errors) or "no error was shown"


def _source(cell: NotebookNode) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def _summary(notebook: NotebookNode, cell_points: dict[str, float], cell_max: dict[str, float]) -> list[str]:
    """The tests (name, points, why a failing one failed), then the student's own cells."""
    rows, mine = [], []
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        grade_id = grade_id_of(cell)
        if grade_id in cell_max:
            got, of = cell_points.get(grade_id, 0.0), cell_max[grade_id]
            why = "passed" if got >= of else _cut(_why(cell))
            rows.append(f"<tr><td>{html.escape(grade_id)}</td><td class=num>{fmt(got)}</td>"
                        f"<td class=num>{fmt(of)}</td><td><pre>{why}</pre></td></tr>")
        elif is_solution(cell) or not nbgrader_metadata(cell):
            mine.append(f'<div class="cell"><pre>{_cut(_source(cell))}</pre>' + "".join(_outputs(cell)) + "</div>")
    return [
        "<h2>Tests</h2>",
        f"<table><tr><th>test</th><th>points</th><th>of</th><th>result</th></tr>{''.join(rows)}</table>",
        "<h2>Your code, as graded</h2>", *mine,
    ]


def _whole(notebook: NotebookNode, cell_points: dict[str, float], cell_max: dict[str, float]) -> list[str]:
    """Every cell as graded, hidden tests included, each test cell marked with its points."""
    body = []
    for cell in notebook.cells:
        src = _source(cell)
        if cell.cell_type == "markdown":
            body.append(f'<div class="cell md"><pre>{_cut(src)}</pre></div>')
            continue
        if cell.cell_type != "code":
            continue
        grade_id = grade_id_of(cell)
        if grade_id in cell_max:
            got, of = cell_points.get(grade_id, 0.0), cell_max[grade_id]
            css = "full" if got >= of else "zero" if got <= 0 else "part"
            body.append(
                f'<div class="cell test {css}"><div class="score">{html.escape(grade_id)}: '
                f"{fmt(got)} / {fmt(of)} points</div><pre>{_cut(src)}</pre>"
                + "".join(_outputs(cell)) + "</div>"
            )
        else:
            body.append(f'<div class="cell"><pre>{_cut(src)}</pre>' + "".join(_outputs(cell)) + "</div>")
    return ["<h2>Your notebook, as graded</h2>", *body]


def feedback_page(*, student: str, assignment: str, task_points: dict[str, float],
                  task_max: dict[str, float], cell_points: dict[str, float], cell_max: dict[str, float],
                  notebook: NotebookNode | None, problems: list[str], kind: str = "summary") -> str:
    """Return the HTML feedback page of one submission (``kind``: one of :data:`FEEDBACK_KINDS`)."""
    if kind not in FEEDBACK_KINDS:
        raise ValueError(f"unknown feedback kind {kind!r}; choose one of {', '.join(FEEDBACK_KINDS)}")
    total, maximum = sum(task_points.values()), sum(task_max.values())
    rows = "".join(
        f"<tr><td>{html.escape(task)}</td><td class=num>{fmt(task_points.get(task, 0))}</td>"
        f"<td class=num>{fmt(task_max[task])}</td></tr>"
        for task in task_max
    )
    body = [
        f"<h1>{html.escape(assignment)}: feedback for {html.escape(student)}</h1>",
        f'<p class="score">Score: {fmt(total)} / {fmt(maximum)}</p>',
    ]
    body += [f'<p class="problem">{html.escape(p)}</p>' for p in problems]
    body.append(f"<table><tr><th>task</th><th>points</th><th>of</th></tr>{rows}</table>")
    if notebook is None:
        body.append("<p>The notebook could not be run, so there is nothing more to show.</p>")
    elif kind == "summary":
        body += _summary(notebook, cell_points, cell_max)
    else:
        body += _whole(notebook, cell_points, cell_max)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{html.escape(assignment)} – {html.escape(student)}</title><style>{_CSS}</style></head>"
        f"<body>{''.join(body)}</body></html>\n"
    )
