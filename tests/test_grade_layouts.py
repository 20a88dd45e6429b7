"""Every layout `tokbook grade` reads, as a folder and as a `.zip`, at the top or one level down.

The fixtures follow the formats as the LMSs write them (see ``tokbook.course.layouts`` for the
sources): Canvas ``<name>[_LATE]_<user id>_<file id>_<file>``, Moodle
``<Full Name>_<id>_assignsubmission_file_/<file>``, Blackboard
``<assignment>_<user>_attempt_<date>_<file>`` (+ its ``.txt`` receipt), nbgrader's
``submitted/<student>/<assignment>/<assignment>.ipynb`` and flat ``<student>_<assignment>.ipynb``.

Attribution is checked for the whole matrix with ``collect`` (no kernel). End to end, each
class is graded once through the installed ``tokbook`` command and then given again in its
other forms (zipped, one level down) into the same output folder: every result is reused, which
proves the zip and the folder reach the same student, exercise and bytes, and the CSV is the same.
Each run must account for every file it was given: graded + reused + problems + ignored = files.
"""

from __future__ import annotations

import copy
import csv
import html
import io
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest

from tokbook.course.collect import collect, grade_ids
from tokbook.course.notebook import fill_solutions, is_test, model_solutions, nbgrader_metadata
from tokbook.course.release import source_notebook

ROOT = Path(__file__).resolve().parents[1]
STEMS = ["bpe", "utf8"]
TOKBOOK = Path(sys.executable).parent / "tokbook"  # the installed console script
SOURCE = source_notebook(ROOT / "solutions" / "utf8" / "utf8.md")
RELEASE = nbformat.read(ROOT / "exercises" / "utf8" / "utf8.ipynb", as_version=4)
SOLUTIONS = model_solutions(SOURCE)
MAX = sum(nbgrader_metadata(c).get("points", 0) for c in RELEASE.cells if is_test(c))
SIGNATURES = {stem: grade_ids(nbformat.read(ROOT / "exercises" / stem / f"{stem}.ipynb", as_version=4))
              for stem in STEMS}


def solved(n_tasks: int) -> bytes:
    """The UTF-8 release with the model answer in its first ``n_tasks`` tasks."""
    return nbformat.writes(fill_solutions(RELEASE, SOLUTIONS, list(SOLUTIONS)[:n_tasks])).encode("utf-8")


TWO, THREE = solved(2), solved(3)

# class name -> (files as the LMS names them, the rows expected: student -> (total, late))
CLASSES = {
    "flat": ({"alice_utf8.ipynb": TWO}, {"alice": ("6", "")}),
    "nbgrader": ({"submitted/alice/utf8/utf8.ipynb": TWO, "submitted/alice/utf8/timestamp.txt": b"2026-11-20"},
                 {"alice": ("6", "")}),
    "canvas": ({
        "smithjane_1001_5001_utf8.ipynb": TWO,
        "doejohn_LATE_1002_5002_utf8.ipynb": TWO,  # first upload ...
        "doejohn_LATE_1002_5010_utf8-1.ipynb": THREE,  # ... and the re-upload, which counts
        "leeann_1003_5003_my homework.ipynb": THREE,  # renamed: the notebook says it is utf8
    }, {"smithjane_1001": ("6", ""), "doejohn_1002": ("9", "yes"), "leeann_1003": ("9", "")}),
    "moodle": ({
        "Jane Smith_2001_assignsubmission_file_/utf8 (1).ipynb": TWO,
        "Participant_2002_assignsubmission_file_/homework.ipynb": THREE,
        "John Doe_2003_assignsubmission_onlinetext_/onlinetext.html": b"<p>see attached</p>",
    }, {"Jane Smith_2001": ("6", ""), "Participant_2002": ("9", "")}),
    "blackboard": ({
        "UTF-8 exercise_jsmith_attempt_2026-11-20-09-15-02_utf8.ipynb": TWO,
        "UTF-8 exercise_jsmith_attempt_2026-11-20-09-15-02.txt": b"Name: Jane Smith (jsmith)",
    }, {"jsmith": ("6", "")}),
}
# what collect must make of each class: (student, assignment, late, attempt) and ignored files
ATTRIBUTED = {
    "flat": ([("alice", "utf8", False, 0)], 0, 0),
    "nbgrader": ([("alice", "utf8", False, 0)], 0, 1),
    "canvas": ([("doejohn_1002", "utf8", True, 5010), ("leeann_1003", "utf8", False, 5003),
                ("smithjane_1001", "utf8", False, 5001)], 1, 0),
    "moodle": ([("Jane Smith_2001", "utf8", False, 0), ("Participant_2002", "utf8", False, 0)], 0, 1),
    "blackboard": ([("jsmith", "utf8", False, 20261120091502)], 0, 1),
}


def make(where: Path, files: dict[str, bytes], *, zipped: bool, down: str = "") -> Path:
    """Write ``files`` into a folder, or a .zip, under ``down/`` when given; return what to grade."""
    if zipped:
        archive = where.with_suffix(".zip")
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
            for name, data in files.items():
                zf.writestr(f"{down}/{name}" if down else name, data)
        return archive
    for name, data in files.items():
        path = where / down / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return where


FORMS = [(zipped, down) for zipped in (False, True) for down in ("", "export 2026")]


@pytest.mark.parametrize("name", list(CLASSES))
@pytest.mark.parametrize("zipped, down", FORMS)
def test_each_layout_is_attributed_the_same_in_every_form(name, zipped, down, tmp_path):
    source = make(tmp_path / "in", CLASSES[name][0], zipped=zipped, down=down)
    found = collect(source, STEMS, signatures=SIGNATURES, unpack_to=tmp_path / "unpacked")
    subs, problems, ignored = ATTRIBUTED[name]
    assert [(s.student, s.assignment, s.late, s.attempt) for s in found.submissions] == subs
    assert (len(found.problems), len(found.ignored)) == (problems, ignored)
    assert found.files == len(CLASSES[name][0]) == len(found.submissions) + len(found.problems) + len(found.ignored)
    assert set(found.layouts) == {name}
    for sub in found.submissions:
        assert sub.path.read_bytes() == CLASSES[name][0][sub.label.split(":", 1)[-1].removeprefix(f"{down}/")]


def test_lms_option_takes_one_layout_only(tmp_path):
    source = make(tmp_path / "in", {**CLASSES["canvas"][0], "alice_utf8.ipynb": TWO}, zipped=False)
    found = collect(source, STEMS, lms="canvas", signatures=SIGNATURES)
    assert len(found.submissions) == 3
    assert [p.reason for p in found.problems if p.label == "alice_utf8.ipynb"] == [
        "not where Canvas 'Download submissions' (<name>[_LATE]_<user id>_<file id>_<file>) puts a file; "
        "is this a canvas export?"]


def test_the_exercise_comes_from_the_notebook_not_the_name(tmp_path):
    bpe = nbformat.writes(nbformat.read(ROOT / "exercises" / "bpe" / "bpe.ipynb", as_version=4)).encode()
    stripped = copy.deepcopy(RELEASE)
    for cell in stripped.cells:
        cell.metadata = {}
    files = {
        "ann_1_1_utf8.ipynb": bpe,  # named utf8, but it is the BPE exercise
        "bob_2_2_utf8 (1).ipynb": nbformat.writes(stripped).encode(),  # no metadata: the name decides
        "cat_3_3_homework.ipynb": nbformat.writes(stripped).encode(),  # neither says: a problem
        "dan_4_4_utf8.ipynb": b"\xff\xfe not utf-8",  # unreadable: the name decides, grading reports it
    }
    found = collect(make(tmp_path / "in", files, zipped=False), STEMS, signatures=SIGNATURES)
    assert [(s.student, s.assignment) for s in found.submissions] == [
        ("ann_1", "bpe"), ("bob_2", "utf8"), ("dan_4", "utf8")]
    assert [(p.student, p.reason.split(":")[0]) for p in found.problems] == [
        ("cat_3", "cannot tell which exercise this is")]


@pytest.mark.filterwarnings("ignore:Duplicate name")
def test_hostile_zips_cost_only_their_own_entries(tmp_path):
    archive = tmp_path / "class.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("alice_utf8.ipynb", TWO)
        zf.writestr("../escape_utf8.ipynb", TWO)
        zf.writestr("/etc/evil_utf8.ipynb", TWO)
        zf.writestr("bob_utf8.ipynb", TWO)
        zf.writestr("bob_utf8.ipynb", THREE)  # the same path twice
        zf.writestr("carol_utf8.ipynb", b" " * 300_000_000)  # 300 MB of spaces, 300 kB zipped
        zf.writestr("dave_utf8.zip", b"PK")  # a zip in the zip
        zf.writestr("__MACOSX/._alice_utf8.ipynb", b"\0")
    assert archive.stat().st_size < 2_000_000
    found = collect(archive, STEMS, signatures=SIGNATURES, unpack_to=tmp_path / "u")
    assert [(s.student, s.path.read_bytes() == TWO) for s in found.submissions] == [("alice", True), ("bob", True)]
    reasons = {p.label: (p.student, p.reason) for p in found.problems}
    assert reasons["class.zip:carol_utf8.ipynb"] == ("carol", "too large to be a notebook (300 MB; the limit is 50 MB)")
    assert reasons["class.zip:bob_utf8.ipynb"][1].startswith("the zip holds this path twice")
    for label in ("class.zip:../escape_utf8.ipynb", "class.zip:etc/evil_utf8.ipynb"):
        assert reasons[label][1] == "unsafe path in the zip (absolute or with ..); not unpacked"
    assert "not a notebook" in reasons["class.zip:dave_utf8.zip"][1]
    assert found.files == 8 == len(found.submissions) + len(found.problems) + len(found.ignored)
    assert not any((tmp_path / "u").rglob("carol*"))  # never written to disk


def test_hostile_folders(tmp_path):
    folder = tmp_path / "in"
    make(folder, {"alice_utf8.ipynb": TWO}, zipped=False)
    with open(folder / "carol_utf8.ipynb", "wb") as f:  # 300 MB, sparse: costs no disk
        f.truncate(300_000_000)
    (folder / "erin_utf8.ipynb").symlink_to("/etc/hostname")
    found = collect(folder, STEMS, signatures=SIGNATURES)
    assert [s.student for s in found.submissions] == ["alice"]
    assert {p.label: p.reason.split(" (")[0] for p in found.problems} == {
        "carol_utf8.ipynb": "too large to be a notebook", "erin_utf8.ipynb": "a symbolic link; put the file itself in the folder"}


# ---- end to end, through the installed command ------------------------------------------------

def tokbook(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    return subprocess.run([str(TOKBOOK), *args], cwd=cwd, capture_output=True, text=True, env=env, timeout=600)


def grade(source: Path, out: Path, cache: Path, *extra: str) -> str:
    done = tokbook("grade", str(source), "--out", str(out), "--course", str(ROOT), "--cache", str(cache),
                   "--timeout", "3", "--workers", "2", *extra, cwd=source.parent)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    return done.stdout


def accounted(log: str, files: int) -> tuple[int, int, int, int]:
    """(graded, reused, problems, ignored) from the run's account; they must add up to ``files``."""
    line = re.search(r"(\d+) file\(s\) found: (\d+) graded in this run, (\d+) reused from earlier runs, "
                     r"(\d+) listed as problems, (\d+) ignored", log)
    assert line, log
    counts = tuple(map(int, line.groups()))
    assert counts[0] == files == sum(counts[1:]), log
    return counts[1:]


def rows(out: Path) -> dict[str, tuple[str, str]]:
    table = list(csv.DictReader(io.StringIO((out / "grades.csv").read_text(encoding="utf-8"))))
    assert table[0]["student"] == "Points Possible" and table[0]["total"] == f"{MAX:g}"
    return {r["student"]: (r["total"], r["late"]) for r in table[1:]}


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


@pytest.mark.parametrize("name", list(CLASSES))
def test_every_layout_and_form_is_graded_end_to_end(name, cache, tmp_path):
    files, expected = CLASSES[name]
    out = tmp_path / "graded"
    table = {}
    for i, (zipped, down) in enumerate(FORMS if name in ("flat", "nbgrader") else FORMS[::2]):
        source = make(tmp_path / f"in{i}", files, zipped=zipped, down=down)
        log = grade(source, out, cache)
        assert f"layout: {name} ({len(files)} file" in log
        graded, reused, _, _ = accounted(log, len(files))
        assert (graded, reused) == ((len(expected), 0) if i == 0 else (0, len(expected))), log
        table[(zipped, down)] = rows(out)
        assert table[(zipped, down)] == expected
        assert f"Layout: {name}" in (out / "summary.html").read_text(encoding="utf-8")
    print(name, {f"{'zip' if z else 'folder'}{' /' + d if d else ''}": r for (z, d), r in table.items()})


def test_a_huge_zip_entry_is_one_problem_row(cache, tmp_path):
    files = {**CLASSES["flat"][0], "carol_utf8.ipynb": b" " * 300_000_000}
    log = grade(make(tmp_path / "in", files, zipped=True), tmp_path / "graded", cache)
    assert accounted(log, 2)[2] == 1
    table = list(csv.DictReader(io.StringIO((tmp_path / "graded" / "grades.csv").read_text(encoding="utf-8"))))
    carol = next(r for r in table if r["student"] == "carol")
    assert (carol["total"], carol["problem"]) == ("0", "too large to be a notebook (300 MB; the limit is 50 MB)")
    assert next(r for r in table if r["student"] == "alice")["total"] == "6"


@pytest.mark.parametrize("files, args", [
    ({}, []),
    ({"notes.txt": b"x", ".DS_Store": b"\0", "Untitled.ipynb": TWO}, []),
    (CLASSES["flat"][0], ["--lms", "moodle"]),
])
def test_no_submission_is_an_error_that_names_the_layouts(files, args, cache, tmp_path):
    source = make(tmp_path / "in", files, zipped=bool(files))
    if not files:
        source.mkdir()
    done = tokbook("grade", str(source), "--out", str(tmp_path / "graded"), "--course", str(ROOT),
                   "--cache", str(cache), *args, cwd=tmp_path)
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    message = done.stderr.strip()
    assert message.startswith(f"tokbook grade: found no submission to grade in {source}: {len(files)} file(s)")
    assert "Moodle 'Download all submissions'" in message
    if not args:
        for layout in ("nbgrader's submitted/", "Canvas", "Blackboard", "flat files"):
            assert layout in message


def test_feedback_with_hidden_tests_is_an_option(cache, tmp_path):
    hidden = [line.strip() for c in SOURCE.cells if "### BEGIN HIDDEN TESTS" in c.source
              for line in c.source.split("### BEGIN HIDDEN TESTS")[1].split("### END HIDDEN TESTS")[0].splitlines()
              if len(line.strip()) > 30]
    assert len(hidden) > 10
    source = make(tmp_path / "in", CLASSES["flat"][0], zipped=False)
    pages = {}
    for kind in ("hidden-tests", "summary"):
        grade(source, tmp_path / kind, cache, "--feedback", kind)
        pages[kind] = (tmp_path / kind / "feedback" / "utf8" / "alice.html").read_text(encoding="utf-8")
    shown = {kind: sum(line in html.unescape(page) for line in hidden) for kind, page in pages.items()}
    assert shown["hidden-tests"] > 20  # the page shows them (long cells are cut to a readable length)
    assert shown["summary"] == 0
    assert "NotImplementedError" in pages["summary"]  # why the unsolved tasks failed


def test_the_output_folder_holds_no_work_files(cache, tmp_path):
    out = tmp_path / "graded"
    (out / "courses" / "utf8-old").mkdir(parents=True)  # left by an older tokbook
    grade(make(tmp_path / "in", CLASSES["flat"][0], zipped=True), out, cache)
    assert sorted(p.name for p in out.iterdir()) == ["feedback", "grades.csv", "results", "summary.html"]
    assert not [p for p in out.rglob("*") if p.suffix in (".ipynb", ".db", ".py", ".zip")]
    assert any(cache.rglob("gradebook.db"))  # the prepared exercise is in the cache instead
    shutil.rmtree(out)
