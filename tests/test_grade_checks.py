"""The parts of `tokbook grade` that need no kernel: finding submissions, and tamper flags."""

from __future__ import annotations

import copy
import re
import zipfile
from pathlib import Path

import nbformat
import pytest

from tokbook.course.collect import DEFAULT_PATTERN, collect, compile_pattern
from tokbook.course.notebook import grade_id as grade_id_of
from tokbook.course.tamper import tamper_flags

ROOT = Path(__file__).resolve().parents[1]
RELEASE = nbformat.read(ROOT / "exercises" / "utf8" / "utf8.ipynb", as_version=4)
STEMS = ["special_tokens", "utf8"]


def _files(root: Path, names: list[str]) -> None:
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("{}")


def _found(collection) -> tuple[list, list]:
    subs = [(s.student, s.assignment, s.label, s.attempt) for s in collection.submissions]
    problems = [(p.label, re.split(r"[:;(]", p.reason)[0].strip()) for p in collection.problems]
    return subs, problems


def test_nbgrader_tree(tmp_path):
    _files(tmp_path, [
        "submitted/alice/utf8/utf8.ipynb", "submitted/alice/utf8/timestamp.txt",
        "submitted/bob/utf8/Untitled.ipynb", "submitted/bob/utf8/.ipynb_checkpoints/utf8-checkpoint.ipynb",
        "submitted/carol/utf9/utf9.ipynb", "submitted/dave/special_tokens/special_tokens.ipynb",
        "submitted/stray.ipynb",
    ])
    subs, problems = _found(collect(tmp_path, STEMS))
    assert subs == [
        ("dave", "special_tokens", "submitted/dave/special_tokens/special_tokens.ipynb", 0),
        ("alice", "utf8", "submitted/alice/utf8/utf8.ipynb", 0),
    ]
    assert problems == [
        ("submitted/stray.ipynb", "inside submitted/ but not at submitted/<student>/<assignment>/<file>"),
        ("submitted/bob/utf8/Untitled.ipynb", "wrong name"),
        ("submitted/carol/utf9/utf9.ipynb", "unknown assignment 'utf9'"),
    ]


def test_a_tree_without_the_submitted_folder_is_recognised_by_the_exercise_name(tmp_path):
    _files(tmp_path, ["alice/utf8/utf8.ipynb"])
    assert _found(collect(tmp_path, STEMS))[0] == [("alice", "utf8", "alice/utf8/utf8.ipynb", 0)]


def test_flat_export_with_attempts_duplicates_and_wrong_names(tmp_path):
    _files(tmp_path, [
        "alice_utf8.ipynb", "alice_utf8_2.ipynb", "alice_utf8_10.ipynb", "b.smith-2_special_tokens.ipynb",
        "carol_utf8 (1).ipynb", "dave_bpe9.ipynb", "readme.pdf", ".DS_Store", "__MACOSX/alice_utf8.ipynb",
    ])
    subs, problems = _found(collect(tmp_path, STEMS))
    assert DEFAULT_PATTERN in collect(tmp_path, STEMS).problems[0].reason
    assert subs == [
        ("b.smith-2", "special_tokens", "b.smith-2_special_tokens.ipynb", 0),
        ("alice", "utf8", "alice_utf8_10.ipynb", 10),  # the highest attempt, not the last in name order
    ]
    assert problems == [
        ("carol_utf8 (1).ipynb", "file name does not match the pattern student_assignment.ipynb"),
        ("readme.pdf", "file"),
        ("dave_bpe9.ipynb", "unknown assignment 'bpe9'"),
        ("alice_utf8.ipynb", "duplicate"),
        ("alice_utf8_2.ipynb", "duplicate"),
    ]


def test_the_output_folder_inside_the_submissions_is_skipped(tmp_path):
    _files(tmp_path, ["alice_utf8.ipynb", "graded/feedback/utf8/alice.html", "graded/results/utf8/alice.json"])
    assert _found(collect(tmp_path, STEMS, exclude=tmp_path / "graded")) == ([("alice", "utf8", "alice_utf8.ipynb", 0)], [])


def test_a_custom_pattern(tmp_path):
    # Canvas-like: lastfirst_late_12345_67890_utf8.ipynb
    _files(tmp_path, ["smithjane_12345_67890_utf8.ipynb", "smithjane_late_12345_67999_utf8.ipynb"])
    pattern = r"^(?P<student>[a-z]+)_(?:late_)?\d+_(?P<attempt>\d+)_(?P<assignment>\w+)\.ipynb$"
    subs, problems = _found(collect(tmp_path, STEMS, pattern=pattern))
    assert subs == [("smithjane", "utf8", "smithjane_late_12345_67999_utf8.ipynb", 67999)]
    assert problems == [("smithjane_12345_67890_utf8.ipynb", "duplicate")]


def test_a_zip_of_either_layout(tmp_path):
    archive = tmp_path / "class.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("export/alice_utf8.ipynb", "{}")
        zf.writestr("course/submitted/bob/utf8/utf8.ipynb", "{}")
    found = collect(archive, STEMS, unpack_to=tmp_path / "unpacked")
    assert _found(found) == ([
        ("alice", "utf8", "class.zip:export/alice_utf8.ipynb", 0),
        ("bob", "utf8", "class.zip:course/submitted/bob/utf8/utf8.ipynb", 0),
    ], [])
    assert found.submissions[0].path.read_text() == "{}"


def test_unsafe_zip_entries_are_problems_and_bad_input_is_refused(tmp_path):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("../escape_utf8.ipynb", "{}")
        zf.writestr("alice_utf8.ipynb", "{}")
    found = collect(archive, STEMS, unpack_to=tmp_path / "unpacked")
    assert _found(found) == ([("alice", "utf8", "evil.zip:alice_utf8.ipynb", 0)],
                             [("evil.zip:../escape_utf8.ipynb", "unsafe path in the zip")])
    assert not (tmp_path / "escape_utf8.ipynb").exists()
    (tmp_path / "broken.zip").write_bytes(b"PK not really")
    with pytest.raises(ValueError, match="not a readable .zip"):
        collect(tmp_path / "broken.zip", STEMS, unpack_to=tmp_path / "u2")
    with pytest.raises(ValueError, match="there is no"):
        collect(tmp_path / "missing", STEMS)
    with pytest.raises(ValueError, match="lacks assignment"):
        compile_pattern(r"(?P<student>\w+)\.ipynb")
    with pytest.raises(ValueError, match="unknown layout 'webct'"):
        collect(tmp_path, STEMS, lms="webct")


# ---- tamper flags -------------------------------------------------------------------------------

def _cell(nb, grade_id):
    return next(c for c in nb.cells if grade_id_of(c) == grade_id)


def _with_code(code: str, where: str = "repair_mojibake"):  # a task without :forbid: rules
    nb = copy.deepcopy(RELEASE)
    _cell(nb, where).source = code
    return nb


def test_an_untouched_or_solved_release_has_no_flags():
    assert tamper_flags(RELEASE, RELEASE) == []
    solved = _with_code("import sys\nfrom tokbook import utf8\n\ndef encode_codepoint(cp):\n"
                        "    x = len(str(cp))\n    return utf8.encode_codepoint(cp)\n")
    assert tamper_flags(solved, RELEASE) == []


def test_edited_and_deleted_locked_cells():
    nb = copy.deepcopy(RELEASE)
    _cell(nb, "test_decode_strict").source = "pass"
    _cell(nb, "setup").source += "\nx = 1"
    nb.cells = [c for c in nb.cells if grade_id_of(c) != "test_encoded_sizes_hidden"]
    assert tamper_flags(nb, RELEASE) == [
        "deleted test cell test_encoded_sizes_hidden", "edited locked cell setup", "edited test cell test_decode_strict",
    ]


def test_cells_released_in_an_earlier_version_are_judged_against_that_version():
    """After the instructor fixes a test (new source, new points), old submissions are not flagged."""
    from nbgrader.utils import compute_checksum

    fixed = copy.deepcopy(RELEASE)
    cell = _cell(fixed, "test_decode_strict_hidden")
    cell.source += "\n# fixed"
    cell.metadata["nbgrader"]["points"] = 3
    cell.metadata["nbgrader"]["checksum"] = compute_checksum(cell)
    assert tamper_flags(RELEASE, fixed) == []
    edited = copy.deepcopy(RELEASE)
    _cell(edited, "test_decode_strict_hidden").source = "pass"
    assert tamper_flags(edited, fixed) == ["edited test cell test_decode_strict_hidden"]
    repointed = copy.deepcopy(RELEASE)
    _cell(repointed, "test_decode_strict_hidden").metadata["nbgrader"]["points"] = 99
    assert tamper_flags(repointed, fixed) == ["edited test cell test_decode_strict_hidden"]


def test_stripped_and_altered_metadata():
    nb = copy.deepcopy(RELEASE)
    for cell in nb.cells:
        cell.metadata = {}
    assert tamper_flags(nb, RELEASE) == ["stripped metadata"]
    nb = copy.deepcopy(RELEASE)
    _cell(nb, "test_decode_strict_hidden").metadata["nbgrader"]["points"] = 20
    assert tamper_flags(nb, RELEASE) == ["altered nbgrader metadata test_decode_strict_hidden (points)"]
    nb = copy.deepcopy(RELEASE)  # copied into a fresh notebook: no metadata, no ids, same tests
    for cell in nb.cells:
        cell.metadata = {}
        cell.id = f"new-{id(cell)}"
    assert tamper_flags(nb, RELEASE) == ["stripped metadata"]


@pytest.mark.parametrize("code, flag", [
    ("import tokbook.utf8\ntokbook.utf8.encode = lambda s: b''", "monkeypatches tokbook (tokbook.utf8.encode)"),
    ("from tokbook import utf8 as u\nu.decode = None", "monkeypatches tokbook (u.decode)"),
    ("import tokbook\nsetattr(tokbook.utf8, 'decode', None)", "monkeypatches tokbook (setattr(tokbook.utf8, 'decode', None))"),
    ("import sys\nsys.modules['tokbook.utf8'] = object()", "monkeypatches tokbook (sys.modules['tokbook.utf8'])"),
    ("import builtins\nbuiltins.len = lambda x: 0", "monkeypatches builtins (builtins.len)"),
    ("__builtins__.isinstance = lambda *a: True", "monkeypatches builtins (__builtins__.isinstance)"),
    ("def type(x):\n    return bytes", "monkeypatches builtins (type)"),
    ("AssertionError = Warning", "monkeypatches builtins (AssertionError)"),
    ("get_ipython().input_transformers_cleanup.append(lambda lines: [])", "IPython hooks (input_transformers_cleanup)"),
    ("ip = get_ipython()\nip.ast_transformers.append(object())", "IPython hooks (ast_transformers)"),
    ("get_ipython().set_custom_exc((AssertionError,), lambda *a: None)", "IPython hooks (set_custom_exc)"),
    ("get_ipython().events.register('post_run_cell', print)", "IPython hooks (events.register, post_run_cell)"),
    ("import sys\nsys.settrace(None)", "IPython hooks (settrace)"),
    ("%load_ext my_hooks\nx = 1", "IPython hooks (%load_ext)"),
])
def test_each_patch_is_flagged(code, flag):
    assert tamper_flags(_with_code(code), RELEASE) == [flag]


def test_redefining_a_name_the_setup_cell_imported_from_tokbook_is_flagged():
    release = nbformat.read(ROOT / "exercises" / "bpe" / "bpe.ipynb", as_version=4)
    nb = copy.deepcopy(release)
    _cell(nb, "get_stats").source = "def get_encoding(name):\n    return None"
    assert tamper_flags(nb, release) == ["monkeypatches tokbook (get_encoding)"]


def test_local_names_and_unparsable_cells_are_not_flagged():
    inside = "def encode_codepoint(cp):\n    len = 3\n    type = 'x'\n    return bytes([cp])\n"
    assert tamper_flags(_with_code(inside), RELEASE) == []
    assert tamper_flags(_with_code("def broken(:\n    pass"), RELEASE) == []


def test_the_memory_and_cpu_limits_reach_the_grading_process():
    import subprocess
    import sys

    from tokbook.course.autograde import _limited

    code = "import resource; print(resource.getrlimit(resource.RLIMIT_AS)[0]); bytearray(400 * 1024**2)"
    done = subprocess.run(_limited([sys.executable, "-c", code], 300, 20), capture_output=True, text=True)
    assert done.stdout.split()[0] == str(300 * 1024**2)
    assert done.returncode == 1 and "MemoryError" in done.stderr
