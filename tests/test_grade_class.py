"""`tokbook grade`, end to end, on a synthetic class of the UTF-8 exercise.

The class is a flat export as a learning management system gives it: correct, partial, blank,
looping, crashing, tampering, malformed, not UTF-8, duplicated, misnamed, noisy (100 MB of
output) and incomplete submissions. It is graded through the installed ``tokbook`` command with
a short cell timeout, first as a ``.zip``; then the same files as a folder are graded into the
same output (nothing is re-run: the zip and the folder reach the same results, and the CSV is
byte-identical); then a late submission is added (only that one is graded). Every run accounts
for every file it was given, and the output folder is walked for solution and hidden-test text.
"""

from __future__ import annotations

import csv
import html
import io
import re
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import nbformat
import pytest

from tokbook.cli import main
from tokbook.course.notebook import fill_solutions, model_solutions
from tokbook.course.notebook import grade_id as _grade_id
from tokbook.course.release import source_notebook
from tokbook.course.settings import MAX_OUTPUT_CHARS

ROOT = Path(__file__).resolve().parents[1]
STEM = "utf8"
TIMEOUT = 2  # seconds per cell: bounds the looping submission

SOURCE = source_notebook(ROOT / "solutions" / STEM / f"{STEM}.md")
RELEASE = nbformat.read(ROOT / "exercises" / STEM / f"{STEM}.ipynb", as_version=4)
SOLUTIONS = model_solutions(SOURCE)
TASKS = list(SOLUTIONS)  # encode_codepoint, decode_strict, decode_replace, encoded_sizes, repair_mojibake
POINTS = {"encode_codepoint": 3, "decode_strict": 3, "decode_replace": 3, "encoded_sizes": 3, "repair_mojibake": 2}
MAX = sum(POINTS.values())
PARTIAL = TASKS[:2]
HUGE_LINES = 100  # lines of 1 MB printed by the noisy submission


def solve(tasks, replace: dict[str, str] | None = None, nb=None):
    """The release with the instructor's code in the solution cells of ``tasks`` (or ``replace``)."""
    return fill_solutions(nb or RELEASE, SOLUTIONS, tasks, replace)


def _edited_and_deleted():
    nb = solve(PARTIAL)
    for cell in nb.cells:
        if _grade_id(cell) in ("test_encode_codepoint", "test_encode_codepoint_hidden"):
            cell.source = "pass"
    nb.cells = [c for c in nb.cells if _grade_id(c) not in ("test_repair_mojibake", "test_repair_mojibake_hidden")]
    return nb


def _stripped():
    nb = solve(PARTIAL)
    for cell in nb.cells:
        cell.metadata = {}
    nb.metadata = {"kernelspec": nb.metadata["kernelspec"]}
    return nb


def _monkeypatching():
    nb = solve(TASKS)
    patch = nbformat.v4.new_code_cell(
        "import builtins\nimport tokbook.utf8\n\n"
        "tokbook.utf8.encode = lambda text: b''\n"
        "builtins.isinstance = isinstance\n"
        "get_ipython().input_transformers_cleanup.append(lambda lines: lines)\n"
    )
    patch.id = "scratch"
    nb.cells.insert(2, patch)
    return nb


def _incomplete():
    nb = solve(PARTIAL)
    nb.cells = [c for c in nb.cells if _grade_id(c) not in ("encoded_sizes", "repair_mojibake")]
    return nb


def _text(nb) -> bytes:
    return nbformat.writes(nb).encode("utf-8")


LOOP = "def repair_mojibake(text):\n    while True:\n        pass\n"
CRASH = "import os\nos._exit(3)\n"
NOISY = SOLUTIONS["encode_codepoint"] + f"\nfor _ in range({HUGE_LINES}):\n    print('x' * 1_000_000)\n"

# file name -> bytes of the file, in the folder the instructor downloaded
CLASS: dict[str, bytes] = {
    "alice_utf8.ipynb": _text(solve(TASKS)),
    "bob_utf8.ipynb": _text(solve(PARTIAL)),
    "carol_utf8.ipynb": _text(RELEASE),
    "dave_utf8.ipynb": _text(solve(TASKS, {"repair_mojibake": LOOP})),
    "erin_utf8.ipynb": _text(solve(TASKS, {"encoded_sizes": CRASH})),
    "frank_utf8.ipynb": _text(_edited_and_deleted()),
    "gina_utf8.ipynb": _text(_stripped()),
    "hank_utf8.ipynb": _text(_monkeypatching()),
    "ivan_utf8.ipynb": _text(solve(TASKS))[:5000],  # cut short: not valid JSON
    "judy_utf8.ipynb": nbformat.writes(solve(TASKS)).encode("utf-16"),  # saved by a Windows editor
    "kim_utf8.ipynb": _text(RELEASE),  # first attempt ...
    "kim_utf8_2.ipynb": _text(solve(TASKS)),  # ... and the second, which counts
    "mia_utf8.ipynb": _text(solve(TASKS, {"encode_codepoint": NOISY})),
    "noah_utf8.ipynb": _text(_incomplete()),
    "Untitled.ipynb": _text(solve(TASKS)),  # whose is it?
    "leo_utf9.ipynb": _text(solve(TASKS)),  # no such exercise
    "notes.txt": b"not a notebook",
    ".DS_Store": b"\0\0",  # skipped quietly
}
LATE = ("olga_utf8.ipynb", _text(solve(PARTIAL)))

FULL = dict(POINTS)
PART = {t: (POINTS[t] if t in PARTIAL else 0) for t in TASKS}
ZERO = {t: 0 for t in TASKS}
KILLED = "the kernel died while running the notebook (os._exit, a crash, or out of memory)"
CUT = (HUGE_LINES * 1_000_001 - MAX_OUTPUT_CHARS) / 1e6

# student -> (points per task, problem, flags)
EXPECTED = {
    "alice": (FULL, "", ""),
    "bob": (PART, "", ""),
    "carol": (ZERO, "", ""),
    "dave": ({**FULL, "repair_mojibake": 0}, "", ""),
    "erin": (ZERO, KILLED, ""),
    "frank": (PART, "", "deleted test cell test_repair_mojibake; deleted test cell test_repair_mojibake_hidden; "
                        "edited test cell test_encode_codepoint; edited test cell test_encode_codepoint_hidden"),
    "gina": (PART, "", "stripped metadata"),
    "hank": (FULL, "", "IPython hooks (input_transformers_cleanup); monkeypatches builtins (builtins.isinstance); "
                       "monkeypatches tokbook (tokbook.utf8.encode)"),
    "ivan": (ZERO, re.compile(r"not valid JSON \(line \d+, column \d+: .+\); the file is damaged"), ""),
    "judy": (ZERO, "not UTF-8 (byte 0xff at offset 0); ask the student to save the notebook again from Jupyter", ""),
    "kim": (FULL, "", ""),
    "mia": (FULL, f"printed too much: {CUT:.1f} MB of output cut (graded normally)", ""),
    "noah": (PART, "missing tasks: encoded_sizes, repair_mojibake (their tests ran and scored 0)", ""),
}
# problems listed in the summary that have no row of their own
UNATTRIBUTED = {
    "Untitled.ipynb": "file name does not match the pattern",
    "leo_utf9.ipynb": "unknown assignment 'utf9'",
    "notes.txt": "file (not a notebook .ipynb) does not match the pattern",
    "kim_utf8.ipynb": "duplicate: kim also handed in kim_utf8_2.ipynb, which is graded instead",
}


TOKBOOK = Path(sys.executable).parent / "tokbook"  # the installed console script


def _grade(source: Path, out: Path, cache: Path) -> tuple[str, float]:
    started = time.monotonic()
    done = subprocess.run([str(TOKBOOK), "grade", str(source), "--out", str(out), "--course", str(ROOT),
                           "--cache", str(cache), "--timeout", str(TIMEOUT), "--workers", "2"],
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stdout + done.stderr
    return done.stdout, time.monotonic() - started


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Grade the class three times: zipped, as a folder, then with a late submission."""
    folder = tmp_path_factory.mktemp("downloads")
    archive = tmp_path_factory.mktemp("zipped") / "class.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in CLASS.items():
            (folder / name).write_bytes(data)
            zf.writestr(name, data)
    out = tmp_path_factory.mktemp("graded")
    cache = tmp_path_factory.mktemp("cache")
    first_log, first_seconds = _grade(archive, out, cache)
    first_csv = (out / "grades.csv").read_bytes()
    mtimes = {p: p.stat().st_mtime_ns for p in (out / "results").rglob("*.json")}
    second_log, _ = _grade(folder, out, cache)
    second_csv = (out / "grades.csv").read_bytes()
    second_mtimes = {p: p.stat().st_mtime_ns for p in (out / "results").rglob("*.json")}
    (folder / LATE[0]).write_bytes(LATE[1])
    late_log, _ = _grade(folder, out, cache)
    return {
        "out": out, "first_log": first_log, "first_seconds": first_seconds, "first_csv": first_csv,
        "mtimes": mtimes, "second_log": second_log, "second_csv": second_csv, "second_mtimes": second_mtimes,
        "late_log": late_log, "late_csv": (out / "grades.csv").read_bytes(),
    }


def _rows(data: bytes) -> dict[str, dict[str, str]]:
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8"))))
    assert rows[0]["student"] == "Points Possible"
    return {r["student"]: r for r in rows[1:]}


def test_the_csv_has_every_number_problem_and_flag(graded):
    text = graded["first_csv"].decode("utf-8")
    assert text.splitlines()[0] == ("student,assignment," + ",".join(TASKS) + ",total,max,late,problem,flags")
    assert text.splitlines()[1] == "Points Possible,," + ",".join(str(POINTS[t]) for t in TASKS) + f",{MAX},{MAX},,,"
    rows = _rows(graded["first_csv"])
    assert sorted(rows) == sorted(EXPECTED)
    for student, (points, problem, flags) in EXPECTED.items():
        row = rows[student]
        assert row["assignment"] == STEM
        assert {t: row[t] for t in TASKS} == {t: str(p) for t, p in points.items()}, student
        assert row["total"] == str(sum(points.values())), student
        assert row["max"] == str(MAX)
        if isinstance(problem, re.Pattern):
            assert problem.fullmatch(row["problem"]), (student, row["problem"])
        else:
            assert row["problem"] == problem, student
        assert row["flags"] == flags, student
        assert row["late"] == ""


def test_the_summary_lists_problems_flags_and_two_pictures(graded):
    page = (graded["out"] / "summary.html").read_text(encoding="utf-8")
    pictures = re.findall(r'<img alt="([^"]+)" src="data:image/png;base64,([A-Za-z0-9+/=]{1000,})"', page)
    assert [alt for alt, _ in pictures] == ["score distribution per assignment", "success rate of each task"]
    for name, reason in UNATTRIBUTED.items():
        assert re.search(rf"<td>{re.escape(name)}</td>.*?<td>no</td><td>{re.escape(html.escape(reason))}", page), name
    for student in ("erin", "ivan", "judy", "mia", "noah"):
        assert f"<td>{student}_utf8.ipynb</td>" in page, student
    assert "Problems (9)" in page  # 4 without a row + erin, ivan, judy, mia, noah
    assert "Flags (3)" in page
    for student in ("frank", "gina", "hank"):
        assert f"<tr><td>{student}</td><td>utf8</td><td>" in page.split('id="flags"')[1].split('id="grades"')[0]
    assert not re.search(r"<(script|link)\b", page)


def test_every_row_has_offline_feedback(graded):
    out = graded["out"]
    for student, (points, problem, _) in EXPECTED.items():
        page = (out / "feedback" / STEM / f"{student}.html").read_text(encoding="utf-8")
        assert f"Score: {sum(points.values())} / {MAX}" in page, student
        assert not re.search(r"<script|<link|src=\"http|href=\"http|url\(http", page, re.I), student
        if not problem:
            assert "<td>test_encode_codepoint_hidden</td>" in page, student  # each test is listed
    dave = (out / "feedback" / STEM / "dave.html").read_text()
    why = re.search(r"<td>test_repair_mojibake</td><td class=num>0</td><td class=num>1</td><td><pre>(.*?)</pre>", dave)
    assert why and why.group(1) != "passed", why
    assert "x" * 100 in (out / "feedback" / STEM / "mia.html").read_text()
    assert (out / "feedback" / STEM / "mia.html").stat().st_size < 200_000


def test_every_file_is_accounted_for(graded):
    """Files in = graded + reused + problems + ignored, on every run (the .DS_Store is the ignored one).

    The first run lists 6 problems: 4 files it could not attribute and 2 it could not read (their
    results, 0 points with the reason, are cached, so later runs count them as reused).
    """
    files = len(CLASS)
    assert f"{files} file(s) found: 11 graded in this run, 0 reused from earlier runs, 6 listed as problems, " \
           "1 ignored" in graded["first_log"]
    assert f"{files} file(s) found: 0 graded in this run, 13 reused from earlier runs, 4 listed as problems, " \
           "1 ignored" in graded["second_log"]
    assert f"{files + 1} file(s) found: 1 graded in this run, 13 reused from earlier runs, 4 listed as problems, " \
           "1 ignored" in graded["late_log"]
    assert 11 + 6 + 1 == 13 + 4 + 1 == files


def test_the_zip_and_the_folder_give_the_same_grades(graded):
    assert "graded 11, reused 0; 9 problem(s), 3 flagged" in graded["first_log"]
    assert "graded 0, reused 13; 9 problem(s), 3 flagged" in graded["second_log"]
    assert graded["second_csv"] == graded["first_csv"]
    assert graded["second_mtimes"] == graded["mtimes"]
    assert len(graded["mtimes"]) == 13


def test_a_late_submission_is_the_only_one_graded(graded):
    assert "graded 1, reused 13" in graded["late_log"]
    assert re.search(rf"graded olga_utf8\.ipynb: 6/{MAX}", graded["late_log"])
    rows = _rows(graded["late_csv"])
    assert rows["olga"]["total"] == "6"
    before = graded["first_csv"].decode().splitlines()
    after = graded["late_csv"].decode().splitlines()
    assert [line for line in after if not line.startswith("olga,")] == before


def _code(data: bytes) -> str:
    """The code of a submitted notebook (or its raw text, when it is not a readable notebook)."""
    try:
        return "\n".join(c.source for c in nbformat.reads(data.decode("utf-8"), as_version=4).cells)
    except Exception:  # noqa: BLE001 -- the damaged files of the class
        return data.decode("utf-8", "replace")


def _lines(text: str, begin: str, end: str) -> set[str]:
    """The distinctive lines (30 characters or more) between the markers ``begin`` and ``end``."""
    found = set()
    for part in text.split(begin)[1:]:
        found |= {line.strip() for line in part.split(end)[0].splitlines() if len(line.strip()) >= 30}
    return found


def test_the_output_folder_is_safe_to_share(graded):
    """No solution or hidden-test text anywhere in --out, except a student's own code in their own page.

    The texts are every line of 30 characters or more between the markers of the exercise source.
    A line counts as the student's own when it is in the notebook they handed in (several students
    here handed in the model solution, which shares a line or two with the hidden tests).
    """
    source = "\n".join(c.source for c in SOURCE.cells)
    hidden = _lines(source, "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")
    solution = _lines(source, "### BEGIN SOLUTION", "### END SOLUTION")
    assert len(hidden) > 50 and len(solution) > 20
    own = {f"{name.split('_')[0]}.html": _code(data) for name, data in [*CLASS.items(), LATE]}
    files = [p for p in graded["out"].rglob("*") if p.is_file()]
    assert sorted({p.relative_to(graded["out"]).parts[0] for p in files}) == [
        "feedback", "grades.csv", "results", "summary.html"]
    for path in files:
        text = html.unescape(path.read_text(encoding="utf-8"))
        mine = own.get(path.name, "") if path.parent.name == STEM and path.suffix == ".html" else ""
        leaked = {line for line in hidden | solution if line in text and line not in mine}
        assert not leaked, (path, sorted(leaked)[:3])
    alice = html.unescape((graded["out"] / "feedback" / STEM / "alice.html").read_text(encoding="utf-8"))
    assert len([line for line in solution if line in alice]) > 20  # her own code is shown to her


def test_looping_submission_is_bounded(graded):
    """11 notebooks on 2 workers, one looping (2 cells x 2 s) and one printing 100 MB."""
    assert graded["first_seconds"] < 240


@pytest.mark.parametrize(
    "argv, message",
    [
        (["grade", "/no/such/folder", "--out", "x"], "there is no /no/such/folder"),
        (["grade", str(ROOT / "README.md"), "--out", "x", "--course", str(ROOT)], "neither a folder"),
        (["grade", str(ROOT / "exercises"), "--out", "x", "--course", "/tmp"], "has no solutions/ folder"),
        (["grade", str(ROOT / "exercises"), "--out", "x", "--course", str(ROOT), "--pattern", "(?P<student>.*)"],
         "needs the named groups"),
        (["grade", str(ROOT / "exercises"), "--out", "x", "--course", str(ROOT), "--pattern", "(("],
         "not a valid regular expression"),
        (["grade", str(ROOT / "exercises"), "--out", "x", "--course", str(ROOT), "--cache", "x/cache"],
         "the cache holds the solutions: put it outside the output folder"),
    ],
)
def test_mistakes_are_explained(argv, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TOKBOOK_CACHE", str(tmp_path / "cache"))
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert message in str(exit_.value)
