"""Per-task rules: a solution cell that declares ``:forbid: [...]`` gets a flag when the student uses it.

The UTF-8 exercise forbids ``str.encode``, ``bytes.decode``, ``codecs`` and ``tokbook.utf8`` in
tasks 1-3. Each case below is a way a student could write a task with one of them; the flag must
name the task and what was used. Flags never change a score (the end-to-end grading tests check
scores); here only the static analysis runs.
"""

from __future__ import annotations

import copy
from pathlib import Path

import nbformat
import pytest

from tokbook.course.release import source_notebook
from tokbook.course.notebook import fill_solutions, grade_id, is_solution, model_solutions
from tokbook.course.tamper import forbidden_calls, tamper_flags

ROOT = Path(__file__).resolve().parents[1]
SOURCE = source_notebook(ROOT / "solutions" / "utf8" / "utf8.md")
RELEASE = nbformat.read(ROOT / "exercises" / "utf8" / "utf8.ipynb", as_version=4)
SOLUTIONS = model_solutions(SOURCE)


def submission(answers: dict[str, str], scratch: str | None = None) -> nbformat.NotebookNode:
    """The release with the instructor's solutions, some replaced by ``answers``, and a scratch cell."""
    nb = fill_solutions(RELEASE, SOLUTIONS, SOLUTIONS, answers)
    if scratch is not None:
        nb.cells.insert(2, nbformat.v4.new_code_cell(scratch))
    return nb


def test_the_rules_are_declared_for_tasks_1_to_4_only():
    rules = {grade_id(c): c.metadata.get("forbid") for c in RELEASE.cells if is_solution(c)}
    forbidden = ["str.encode", "bytes.decode", "codecs", "tokbook.utf8"]
    assert rules == {"encode_codepoint": forbidden, "decode_strict": forbidden, "decode_replace": forbidden,
                     "encoded_sizes": forbidden, "repair_mojibake": None}


def test_the_instructors_solutions_break_no_rule():
    assert forbidden_calls(submission({}), RELEASE) == []
    assert tamper_flags(submission({}), RELEASE) == []


ENCODE = "def encode_codepoint(cp):\n    {}\n"
DECODE = "def decode_strict(data):\n    {}\n"


@pytest.mark.parametrize("task, body, flag", [
    ("encode_codepoint", ENCODE.format("return chr(cp).encode('utf-8')"),
     "forbidden call in encode_codepoint: str.encode (chr(cp).encode)"),
    ("encode_codepoint", ENCODE.format("return bytes(chr(cp), 'utf-8')"),
     "forbidden call in encode_codepoint: str.encode (bytes(chr(cp), 'utf-8'))"),
    ("encode_codepoint", ENCODE.format("return bytearray(chr(cp), encoding='utf-8')"),
     "forbidden call in encode_codepoint: str.encode (bytearray(chr(cp), encoding='utf-8'))"),
    ("encode_codepoint", ENCODE.format("f = str.encode\n    return f(chr(cp))"),
     "forbidden call in encode_codepoint: str.encode (str.encode)"),
    ("encode_codepoint", ENCODE.format("return getattr(chr(cp), 'encode')()"),
     "forbidden call in encode_codepoint: str.encode (getattr(chr(cp), 'encode'))"),
    ("decode_strict", DECODE.format("return data.decode()"),
     "forbidden call in decode_strict: bytes.decode (data.decode)"),
    ("decode_strict", DECODE.format("return str(data, 'utf-8')"),
     "forbidden call in decode_strict: bytes.decode (str(data, 'utf-8'))"),
    ("decode_strict", "from operator import methodcaller\n" + DECODE.format("return methodcaller('decode')(data)"),
     "forbidden call in decode_strict: bytes.decode (methodcaller('decode'))"),
    ("decode_strict", "import codecs\n" + DECODE.format("return codecs.utf_8_decode(data, 'strict', True)[0]"),
     "forbidden call in decode_strict: codecs (import codecs)"),
    ("decode_strict", "from codecs import utf_8_decode as d\n" + DECODE.format("return d(data)[0]"),
     "forbidden call in decode_strict: codecs (from codecs import ...)"),
    ("decode_strict", DECODE.format("return __import__('codecs').utf_8_decode(data)[0]"),
     "forbidden call in decode_strict: codecs (__import__('codecs'))"),
    ("decode_strict", "import importlib\n" + DECODE.format("return importlib.import_module('codecs').x(data)"),
     "forbidden call in decode_strict: codecs (importlib.import_module('codecs'))"),
    ("decode_strict", "from tokbook import utf8\n" + DECODE.format("return utf8.decode(data)"),
     "forbidden call in decode_strict: tokbook.utf8 (from tokbook import utf8)"),
    ("decode_strict", "import tokbook.utf8 as u\n" + DECODE.format("return u.decode(data)"),
     "forbidden call in decode_strict: tokbook.utf8 (import tokbook.utf8)"),
    ("decode_strict", "from tokbook.utf8 import decode\n" + DECODE.format("return decode(data)"),
     "forbidden call in decode_strict: tokbook.utf8 (from tokbook.utf8 import ...)"),
    ("decode_strict", "import tokbook\n" + DECODE.format("return tokbook.utf8.decode(data)"),
     "forbidden call in decode_strict: tokbook.utf8 (tokbook.utf8)"),
])
def test_each_way_of_using_a_forbidden_call_is_flagged(task, body, flag):
    assert forbidden_calls(submission({task: body}), RELEASE) == [flag]
    assert flag in tamper_flags(submission({task: body}), RELEASE)


def test_a_helper_in_a_scratch_cell_counts_when_the_task_calls_it():
    scratch = "def helper(data):\n    return inner(data)\n\ndef inner(data):\n    return data.decode('utf-8')\n"
    flags = forbidden_calls(submission({"decode_strict": DECODE.format("return helper(data)")}, scratch), RELEASE)
    assert flags == ["forbidden call in decode_strict: bytes.decode (data.decode)"]


def test_scratch_cells_and_unruled_tasks_may_use_anything():
    scratch = "import codecs\nprint('é'.encode('utf-8'), b'\\xc3\\xa9'.decode())\n"
    repair = SOLUTIONS["repair_mojibake"] + "\nimport codecs\n_ = 'x'.encode()\n"
    assert forbidden_calls(submission({"repair_mojibake": repair}, scratch), RELEASE) == []


def test_a_task_found_by_cell_id_when_its_metadata_was_stripped():
    nb = submission({"decode_strict": DECODE.format("return data.decode()")})
    for cell in nb.cells:
        cell.metadata = {}
    assert forbidden_calls(nb, RELEASE) == ["forbidden call in decode_strict: bytes.decode (data.decode)"]


def test_known_limit_a_name_built_at_run_time_is_not_seen():
    """Static analysis cannot follow ``"enc" + "ode"``; the guide says so."""
    body = ENCODE.format("return getattr(chr(cp), 'enc' + 'ode')()")
    assert forbidden_calls(submission({"encode_codepoint": body}), RELEASE) == []


def test_a_malformed_rule_is_explained():
    release = copy.deepcopy(RELEASE)
    cell = next(c for c in release.cells if c.get("id") == "decode_strict")
    cell.metadata["forbid"] = "str.encode"
    with pytest.raises(ValueError, match="':forbid:' of cell 'decode_strict' must be a list of dotted names"):
        forbidden_calls(submission({}), release)
