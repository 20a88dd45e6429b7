"""`tokbook grade` (all cores, one nbgrader run per core) against sequential `nbgrader autograde`.

Run ``.venv/bin/python benchmarks/grading.py [--n 100]`` from the repository root. It makes ``n``
synthetic submissions of the UTF-8 exercise (a third correct, a third partly correct, a third
blank), grades them

- with ``tokbook grade`` on all cores, from scratch (this includes preparing the exercise once,
  about 10 s, which the nbgrader timing leaves out), then again (every result comes from the cache);
- with ``tokbook grade --sandbox none`` from scratch: the cost of running each kernel in its
  bubblewrap sandbox is the ratio of the two fresh runs (skipped where bwrap cannot run);
- with ``nbgrader autograde utf8 --create`` in one course, the way nbgrader grades: one
  submission after the other;

checks that both give every student the same total, and prints the seconds and the speed-up.
The numbers are from one run on this machine; they are not asserted anywhere.
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbgrader.api import Gradebook

from tokbook.course.nbgrader_app import nbgrader_env
from tokbook.course.notebook import fill_solutions, model_solutions
from tokbook.course.release import source_notebook
from tokbook.course.sandbox import bwrap_problem
from tokbook.course.settings import write_course_config

ROOT = Path(__file__).resolve().parents[1]
STEM = "utf8"


def make_class(n: int) -> dict[str, bytes]:
    """student id -> notebook bytes: correct, partial and blank submissions in turn."""
    source = source_notebook(ROOT / "solutions" / STEM / f"{STEM}.md")
    solutions = model_solutions(source)
    release = nbformat.read(ROOT / "exercises" / STEM / f"{STEM}.ipynb", as_version=4)
    tasks_by_kind = [list(solutions), list(solutions)[:2], []]
    return {f"s{i:03d}": nbformat.writes(fill_solutions(release, solutions, tasks_by_kind[i % 3])).encode("utf-8")
            for i in range(n)}


def run(cmd: list[str], cwd: Path) -> float:
    started = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, env=nbgrader_env(), capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    return seconds


def _totals(lines) -> dict[str, float]:
    """Each student's total from grades.csv (the "Points Possible" row is not a student)."""
    return {r["student"]: float(r["total"]) for r in csv.DictReader(lines) if r["student"] != "Points Possible"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100, help="submissions (default 100)")
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    klass = make_class(args.n)

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        flat = tmp / "downloads"
        flat.mkdir()
        for student, data in klass.items():
            (flat / f"{student}_{STEM}.ipynb").write_bytes(data)
        out = tmp / "graded"
        grade = [sys.executable, "-m", "tokbook.cli", "grade", str(flat), "--out", str(out), "--course", str(ROOT),
                 "--cache", str(tmp / "cache")]
        print(f"tokbook grade: {args.n} submissions on {cores} cores ...", flush=True)
        ours = run(grade, ROOT)
        again = run(grade, ROOT)
        with open(out / "grades.csv", encoding="utf-8") as f:
            ours_totals = _totals(f)
        sandboxed = not bwrap_problem()
        if sandboxed:
            print("tokbook grade --sandbox none ...", flush=True)
            out_none = tmp / "graded-none"
            unsandboxed = run([*grade[:5], "--out", str(out_none), "--course", str(ROOT),
                               "--cache", str(tmp / "cache-none"), "--sandbox", "none"], ROOT)
            with open(out_none / "grades.csv", encoding="utf-8") as f:
                ours_totals_none = _totals(f)

        course = tmp / "course"
        (course / "source" / STEM).mkdir(parents=True)
        write_course_config(course, "bench")
        nbformat.write(source_notebook(ROOT / "solutions" / STEM / f"{STEM}.md"),
                       course / "source" / STEM / f"{STEM}.ipynb")
        run([sys.executable, "-m", "nbgrader", "generate_assignment", STEM], course)
        for student, data in klass.items():
            path = course / "submitted" / student / STEM / f"{STEM}.ipynb"
            path.parent.mkdir(parents=True)
            path.write_bytes(data)
        print("nbgrader autograde, sequential ...", flush=True)
        theirs = run([sys.executable, "-m", "nbgrader", "autograde", STEM, "--create"], course)
        with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
            theirs_totals = {s: gb.find_submission_notebook(STEM, STEM, s).score for s in klass}

    same = ours_totals == theirs_totals and (not sandboxed or ours_totals_none == ours_totals)
    print()
    print(f"| grading {args.n} UTF-8 submissions | seconds | per submission | speed-up |")
    print("| --- | ---: | ---: | ---: |")
    print(f"| nbgrader autograde (sequential) | {theirs:.1f} | {theirs / args.n:.2f} | 1.00 |")
    print(f"| tokbook grade, {cores} workers, fresh | {ours:.1f} | {ours / args.n:.2f} | {theirs / ours:.2f} |")
    if sandboxed:
        print(f"| tokbook grade --sandbox none, {cores} workers, fresh | {unsandboxed:.1f} | "
              f"{unsandboxed / args.n:.2f} | {theirs / unsandboxed:.2f} |")
    print(f"| tokbook grade, again (cached) | {again:.1f} | {again / args.n:.2f} | {theirs / again:.0f} |")
    print(f"\nsame total for every student: {same}")
    if sandboxed:
        print(f"cost of the sandbox: {ours / unsandboxed:.2f}x the time without it (target: at most 1.15x)")
    else:
        print(f"every kernel ran without a sandbox: {bwrap_problem()}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
