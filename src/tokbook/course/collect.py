"""Find the submissions in what an instructor collected: a folder, or a ``.zip`` of one.

Every file is attributed on its own (so a folder may even mix layouts) by
:func:`tokbook.course.layouts.recognise`: nbgrader's ``submitted/`` tree, the exports of Canvas,
Moodle and Blackboard, or flat ``<student>_<assignment>.ipynb`` names. ``lms`` picks one layout
instead of trying each. When the path does not say which exercise a notebook is (an LMS keeps
the student's own file name), the exercise is the one whose nbgrader grade ids the notebook carries.

A ``.zip`` is read entry by entry into a work folder the caller gives (``unpack_to``, never
inside the output folder), so it is collected exactly like the same files in a folder.

Nothing is dropped silently: every file found ends in exactly one of ``submissions``,
``problems`` (with the reason and what to do) and ``ignored`` (with the reason: hidden files such
as ``.DS_Store``, ``__MACOSX/`` and ``.ipynb_checkpoints/``, nbgrader's ``timestamp.txt``,
Blackboard's receipts). ``Collection.files`` counts them all.

A student who handed in one assignment several times is graded once: the highest ``attempt``
wins (a name without one counts as attempt 0), then the last path in sorting order; every other
copy is listed as a duplicate.
"""

from __future__ import annotations

import json
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from tokbook.course.layouts import DEFAULT_PATTERN, LAYOUTS, Found, compile_pattern, recognise
from tokbook.course.notebook import grade_id

__all__ = ["DEFAULT_PATTERN", "MAX_NOTEBOOK_BYTES", "Collection", "Problem", "Submission", "collect",
           "compile_pattern", "grade_ids", "looked_for"]

#: Largest file taken for a notebook. Real notebooks with plots are a few MB; anything larger
#: is listed as a problem without being read.
MAX_NOTEBOOK_BYTES = 50_000_000

#: Largest total size of the files unpacked from one ``.zip`` (a guard against zip bombs).
MAX_UNPACKED_BYTES = 2 * 1024**3


@dataclass(frozen=True)
class Submission:
    """One notebook to grade."""

    student: str
    assignment: str
    path: Path  # the file on disk
    label: str  # where it came from, as the instructor knows it (relative path, or ``x.zip:inner/path``)
    attempt: int = 0
    late: bool = False  # the LMS marked it late


@dataclass(frozen=True)
class Problem:
    """A file (or a submission) that could not be graded normally, and why."""

    label: str
    reason: str
    student: str = ""
    assignment: str = ""
    graded: bool = False  # True when it was graded anyway (e.g. its kernel died half way)
    late: bool = False


@dataclass
class Collection:
    submissions: list[Submission] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    ignored: list[tuple[str, str]] = field(default_factory=list)  # (label, why)
    layouts: Counter = field(default_factory=Counter)  # layout name -> files it recognised
    files: int = 0  # every file found, hidden ones included


@dataclass(frozen=True)
class _Entry:
    """A file found in the input: its path inside it, its size, and where its bytes are on disk."""

    parts: tuple[str, ...]
    size: int
    path: Path | None  # None when it was not unpacked (too large, unsafe, unreadable)
    problem: str = ""


def grade_ids(notebook: dict) -> set[str]:
    """The nbgrader grade ids of a notebook's cells (a parsed ``.ipynb``, as a dict or NotebookNode)."""
    cells = notebook.get("cells", []) if isinstance(notebook, dict) else []
    return {grade_id(cell) for cell in cells if isinstance(cell, dict)} - {None}


def _exercise_of(path: Path, signatures: dict[str, set[str]]) -> str:
    """The exercise whose grade ids the notebook at ``path`` shares most ("" when none or a tie)."""
    try:
        ids = grade_ids(json.loads(path.read_bytes().decode("utf-8-sig")))
    except (OSError, UnicodeDecodeError, ValueError):
        return ""
    shared = sorted(((len(ids & sig), stem) for stem, sig in signatures.items()), reverse=True)
    if not shared or shared[0][0] == 0 or len(shared) > 1 and shared[1][0] == shared[0][0]:
        return ""
    return shared[0][1]


def _hidden(parts: tuple[str, ...]) -> bool:
    return any(p.startswith(".") or p == "__MACOSX" for p in parts)


def _folder_entries(root: Path, exclude: Path | None) -> list[_Entry]:
    entries = []
    for path in sorted(root.rglob("*")):
        if exclude is not None and path.resolve().is_relative_to(exclude):
            continue
        if path.is_symlink():
            entries.append(_Entry(path.relative_to(root).parts, 0, None,
                                  "a symbolic link; put the file itself in the folder"))
        elif path.is_file():
            entries.append(_Entry(path.relative_to(root).parts, path.stat().st_size, path))
    return entries


def _zip_entries(archive: Path, into: Path, max_bytes: int) -> list[_Entry]:
    """Unpack ``archive`` into ``into``; entries that are unsafe, too large or unreadable are not unpacked."""
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ValueError(f"{archive} is not a readable .zip file ({exc})") from None
    entries, seen, total = [], set(), 0
    with zf:
        for info in zf.infolist():
            if info.is_dir():
                continue
            name = PurePosixPath(info.filename.replace("\\", "/"))
            parts = tuple(p for p in name.parts if p not in ("", "/"))
            if name.is_absolute() or ".." in name.parts or not parts:
                entries.append(_Entry(parts or (info.filename,), info.file_size, None,
                                      "unsafe path in the zip (absolute or with ..); not unpacked"))
                continue
            if parts in seen:
                entries.append(_Entry(parts, info.file_size, None,
                                      "the zip holds this path twice; the first copy is the one collected"))
                continue
            seen.add(parts)
            if info.file_size > max_bytes:
                entries.append(_Entry(parts, info.file_size, None, _too_large(info.file_size, max_bytes)))
                continue
            total += info.file_size
            if total > MAX_UNPACKED_BYTES:
                raise ValueError(f"{archive} would unpack to more than {MAX_UNPACKED_BYTES / 1e9:.1f} GB; "
                                 "unpack it yourself and pass the folder")
            target = into.joinpath(*parts)
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src:
                    data = src.read(max_bytes + 1)  # the header's size may lie; never read more
            except (zipfile.BadZipFile, RuntimeError, OSError, NotImplementedError, EOFError) as exc:
                entries.append(_Entry(parts, info.file_size, None, f"cannot be read from the zip ({exc})"))
                continue
            if len(data) > max_bytes:
                entries.append(_Entry(parts, len(data), None, _too_large(len(data), max_bytes)))
                continue
            target.write_bytes(data)
            entries.append(_Entry(parts, len(data), target))
    return entries


def _too_large(size: int, limit: int) -> str:
    return f"too large to be a notebook ({size / 1e6:.0f} MB; the limit is {limit / 1e6:.0f} MB)"


def collect(source: Path, assignments: list[str], *, pattern: str | None = None, lms: str = "auto",
            signatures: dict[str, set[str]] | None = None, unpack_to: Path | None = None,
            exclude: Path | None = None, max_bytes: int = MAX_NOTEBOOK_BYTES) -> Collection:
    """Find every submission of the exercises ``assignments`` in the folder or ``.zip`` ``source``.

    A ``pattern`` of the instructor's own means the ``flat`` layout unless ``lms`` says otherwise.
    ``signatures`` maps each exercise to its grade ids (to tell which exercise a notebook with a
    free-form name is). A ``.zip`` is unpacked into ``unpack_to`` (which the caller creates and
    removes). Files under ``exclude`` (the output folder, when it sits inside ``source``) are skipped.
    Raises ``ValueError`` (with what to do) when ``source`` is neither a folder nor a ``.zip``.
    """
    source = Path(source)
    regex = compile_pattern(pattern)
    if pattern is not None and lms == "auto":
        lms = "flat"  # an instructor's own pattern says how the files are named
    if lms != "auto" and lms not in LAYOUTS:
        raise ValueError(f"unknown layout {lms!r}; choose one of auto, {', '.join(LAYOUTS)}")
    if source.is_file() and source.suffix.lower() == ".zip":
        if unpack_to is None:
            raise ValueError("a .zip of submissions needs a folder to unpack into (unpack_to)")
        entries, prefix = _zip_entries(source, Path(unpack_to), max_bytes), f"{source.name}:"
    elif source.is_dir():
        skip = Path(exclude).resolve() if exclude is not None else None
        entries, prefix = _folder_entries(source, skip), ""
    elif source.exists():
        raise ValueError(f"{source} is neither a folder of submissions nor a .zip of one")
    else:
        raise ValueError(f"there is no {source}: give the folder (or .zip) of submitted notebooks")

    known = set(assignments)
    found = Collection(files=len(entries))
    for entry in entries:
        label = prefix + "/".join(entry.parts)
        if _hidden(entry.parts) and not entry.problem:
            found.ignored.append((label, "hidden file or folder (left by an operating system or Jupyter)"))
            continue
        where = recognise(entry.parts, known, regex, lms)
        found.layouts[where.layout] += 1
        _attribute(found, entry, label, where, known, signatures or {}, max_bytes)
    _keep_last_attempts(found)
    return found


def _attribute(found: Collection, entry: _Entry, label: str, where: Found, known: set[str],
               signatures: dict[str, set[str]], max_bytes: int) -> None:
    """Put one recognised file into the submissions, the problems or the ignored files."""
    def problem(reason: str, assignment: str = where.assignment) -> None:
        found.problems.append(Problem(label, reason, where.student, assignment, late=where.late))

    if where.ignore:
        found.ignored.append((label, where.ignore))
    elif where.problem:
        problem(where.problem)
    elif entry.problem:
        problem(entry.problem)
    elif entry.size > max_bytes:
        problem(_too_large(entry.size, max_bytes))
    elif where.assignment and where.layout in ("nbgrader", "flat") and where.assignment not in known:
        problem(f"unknown assignment {where.assignment!r}; the exercises are {', '.join(sorted(known))}")
    else:
        assignment = where.assignment
        if where.layout not in ("nbgrader", "flat"):
            assignment = _exercise_of(entry.path, signatures) or assignment
        if not assignment:
            problem("cannot tell which exercise this is: the notebook has no nbgrader grade ids of any "
                    f"exercise ({', '.join(sorted(known))}) and its file name names none; rename it "
                    "<exercise>.ipynb and grade again")
        else:
            found.submissions.append(Submission(where.student, assignment, entry.path, label,
                                                where.attempt, where.late))


def _keep_last_attempts(found: Collection) -> None:
    """One submission per student and assignment: the highest attempt, then the last path."""
    best: dict[tuple[str, str], Submission] = {}
    for sub in sorted(found.submissions, key=lambda s: (s.attempt, s.label)):
        best[(sub.student, sub.assignment)] = sub
    kept = set(map(id, best.values()))
    for sub in found.submissions:
        if id(sub) not in kept:
            winner = best[(sub.student, sub.assignment)]
            found.problems.append(Problem(
                sub.label, f"duplicate: {sub.student} also handed in {winner.label}, which is graded instead",
                sub.student, sub.assignment, late=sub.late))
    found.submissions = sorted(best.values(), key=lambda s: (s.assignment, s.student))
    found.problems.sort(key=lambda p: (p.assignment, p.student, p.label))
    found.ignored.sort()


def looked_for(lms: str = "auto") -> str:
    """The layouts a run looked for, for the message when it finds no submission."""
    names = list(LAYOUTS) if lms == "auto" else [lms]
    return "; ".join(LAYOUTS[name] for name in names)
