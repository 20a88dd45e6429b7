"""What an instructor reads after grading: ``grades.csv`` and ``summary.html``.

``grades.csv`` starts with a header and a ``Points Possible`` row, the form of the gradebook
CSV that Canvas exports and imports back: under each task (and under ``total``, when the run
graded one assignment) the row gives its maximum, so a spreadsheet or an LMS import knows what
each column is out of. Then comes one row per student and assignment, sorted by assignment then
student: ``student, assignment``, the points of each task (the tasks of every assignment graded,
in the order of the exercise; empty where a task belongs to another assignment), ``total, max``,
``late`` (``yes`` when the LMS export marked the submission late), ``problem`` (why a row was not
graded normally) and ``flags`` (what looks tampered with; flags never change a score). Numbers
are written the same way every time (``3``, ``2.5``), so grading the same folder twice gives the
same bytes.

``summary.html`` is one self-contained page (pictures are embedded PNGs, no script, no network):
the score distribution of each assignment, the success rate of each task (the share of graded
submissions with full points on it), and the tables of problems and flags.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import statistics
from pathlib import Path

from matplotlib.figure import Figure

from tokbook.course.collect import Problem
from tokbook.course.results import Result

__all__ = ["POINTS_POSSIBLE", "fmt", "write_csv", "write_summary"]

#: The ``student`` cell of the row of maximum points in ``grades.csv``.
POINTS_POSSIBLE = "Points Possible"


def fmt(x: float) -> str:
    """``3.0`` -> ``3``, ``2.5`` -> ``2.5``: the one number format of the reports."""
    text = f"{x:.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _columns(assignments: dict[str, dict[str, float]]) -> list[tuple[str, str, str]]:
    """(assignment, task, column name) for every task; a task name used twice gets its assignment."""
    names = [task for tasks in assignments.values() for task in tasks]
    cols = []
    for assignment, tasks in assignments.items():
        for task in tasks:
            cols.append((assignment, task, task if names.count(task) == 1 else f"{assignment}.{task}"))
    return cols


def write_csv(path: Path, rows: list[Result], assignments: dict[str, dict[str, float]]) -> None:
    """Write ``grades.csv``; ``assignments`` maps each assignment to its tasks' maximum points."""
    cols = _columns(assignments)
    with open(path, "w", encoding="utf-8", newline="") as f:
        out = csv.writer(f, lineterminator="\n")
        out.writerow(["student", "assignment", *(c[2] for c in cols), "total", "max", "late", "problem", "flags"])
        most = sum(assignments[a][t] for a, t, _ in cols) if len(assignments) == 1 else None
        out.writerow([POINTS_POSSIBLE, "", *(fmt(assignments[a][t]) for a, t, _ in cols),
                      *(["", ""] if most is None else [fmt(most)] * 2), "", "", ""])
        for row in sorted(rows, key=lambda r: (r.assignment, r.student)):
            points = [
                fmt(row.tasks.get(task, 0.0)) if assignment == row.assignment else ""
                for assignment, task, _ in cols
            ]
            out.writerow([row.student, row.assignment, *points, fmt(row.total), fmt(row.max),
                          "yes" if row.late else "", "; ".join(row.problems), "; ".join(row.flags)])


def _png(fig: Figure) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight", metadata={"Software": None})
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _pictures(rows: list[Result], assignments: dict[str, dict[str, float]]) -> tuple[str, str]:
    n = max(1, len(assignments))
    fig = Figure(figsize=(5 * n, 3.2))  # no pyplot: no global state, no display backend
    axes = fig.subplots(1, n, squeeze=False)
    for ax, (assignment, tasks) in zip(axes[0], assignments.items()):
        totals = [r.total for r in rows if r.assignment == assignment and r.graded]
        maximum = sum(tasks.values())
        ax.hist(totals, bins=[x - 0.5 for x in range(int(maximum) + 2)], color="#4c72b0", edgecolor="white")
        ax.set_title(f"{assignment}: scores of {len(totals)} graded submissions")
        ax.set_xlabel(f"total points (of {fmt(maximum)})")
        ax.set_ylabel("submissions")
        ax.yaxis.get_major_locator().set_params(integer=True)
    scores = _png(fig)

    labels, rates = [], []
    for assignment, tasks in assignments.items():
        graded = [r for r in rows if r.assignment == assignment and r.graded]
        for task, maximum in tasks.items():
            full = sum(1 for r in graded if r.tasks.get(task, 0.0) >= maximum)
            labels.append(f"{assignment}: {task}")
            rates.append(100 * full / len(graded) if graded else 0.0)
    fig = Figure(figsize=(7, 0.45 * len(labels) + 1.2))
    ax = fig.subplots()
    ax.barh(labels[::-1], rates[::-1], color="#55a868")
    ax.set_xlim(0, 100)
    ax.set_xlabel("graded submissions with full points on the task (%)")
    ax.set_title("success rate of each task")
    for y, rate in enumerate(rates[::-1]):
        ax.text(min(rate + 1, 90), y, f"{rate:.0f}%", va="center")
    tasks_png = _png(fig)
    return scores, tasks_png


def _table(header: list[str], rows: list[list[str]]) -> str:
    if not rows:
        return "<p>None.</p>"
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def write_summary(path: Path, rows: list[Result], assignments: dict[str, dict[str, float]],
                  problems: list[Problem], *, ignored: list[tuple[str, str]] = (), run_note: str = "") -> None:
    """Write ``summary.html`` next to ``grades.csv`` (feedback links are relative to it)."""
    scores_png, tasks_png = _pictures(rows, assignments)
    e = html.escape
    overview = []
    for assignment, tasks in assignments.items():
        mine = [r for r in rows if r.assignment == assignment]
        totals = [r.total for r in mine if r.graded]
        overview.append([
            e(assignment), str(len(mine)), str(len(totals)),
            fmt(statistics.mean(totals)) if totals else "", fmt(statistics.median(totals)) if totals else "",
            fmt(sum(tasks.values())),
        ])
    grade_rows = [
        [e(r.student), e(r.assignment), fmt(r.total), fmt(r.max), "yes" if r.late else "",
         f'<a href="{e(r.feedback)}">feedback</a>' if r.feedback else ""]
        for r in sorted(rows, key=lambda r: (r.assignment, r.student))
    ]
    problem_rows = [
        [e(p.label), e(p.student), e(p.assignment), "yes" if p.graded else "no", e(p.reason)]
        for p in problems
    ]
    ignored_rows = [[e(label), e(why)] for label, why in ignored]
    flag_rows = [
        [e(r.student), e(r.assignment), "<br>".join(e(f) for f in r.flags)]
        for r in sorted(rows, key=lambda r: (r.assignment, r.student)) if r.flags
    ]
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Grading summary</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 70rem; margin: 2rem auto; padding: 0 1rem; color: #222; }}
table {{ border-collapse: collapse; margin: 1rem 0; }} td, th {{ border: 1px solid #ccc; padding: .3rem .6rem; text-align: left; vertical-align: top; }}
img {{ max-width: 100%; }}
</style></head><body>
<h1>Grading summary</h1>
<p>{e(run_note)}</p>
{_table(["assignment", "students", "graded", "mean", "median", "max"], overview)}
<h2 id="scores">Score distribution</h2>
<img alt="score distribution per assignment" src="{scores_png}">
<h2 id="tasks">Success rate of each task</h2>
<img alt="success rate of each task" src="{tasks_png}">
<h2 id="problems">Problems ({len(problem_rows)})</h2>
<p>Files that could not be graded normally. Each is listed with the reason; every other submission was graded.</p>
{_table(["file", "student", "assignment", "graded", "reason"], problem_rows)}
<h2 id="ignored">Ignored files ({len(ignored_rows)})</h2>
<p>Files in the submissions that are not submissions, each with the reason.</p>
{_table(["file", "why"], ignored_rows)}
<h2 id="flags">Flags ({len(flag_rows)})</h2>
<p>Submissions that look tampered with. Flags do not change any score: test cells are restored
before grading and hidden tests compare with fixed values. Look at these notebooks yourself.</p>
{_table(["student", "assignment", "flags"], flag_rows)}
<h2 id="grades">Grades</h2>
{_table(["student", "assignment", "total", "max", "late", "feedback"], grade_rows)}
</body></html>
"""
    Path(path).write_text(page, encoding="utf-8")
