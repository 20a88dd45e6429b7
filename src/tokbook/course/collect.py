"""Find the submissions in what an instructor collected: a folder or a ``.zip`` of one.

Two layouts are recognised, file by file, so a folder may even mix them:

nbgrader's tree
    ``[...]/submitted/<student>/<assignment>/<assignment>.ipynb`` (the ``submitted/`` part is
    optional when ``<assignment>`` is the name of an exercise). A notebook with another name in
    that folder is listed as a problem, not guessed at; other files there (``timestamp.txt``,
    data a student saved) are ignored, as nbgrader does.
a flat export from a learning management system
    Any other ``.ipynb`` file, whose *file name* must match :data:`DEFAULT_PATTERN` or the
    instructor's own regular expression with the named groups ``student`` and ``assignment``
    (and optionally ``attempt``, digits).

A student who handed in one assignment several times is graded once: the highest ``attempt``
wins (a name without one counts as attempt 0), then the last path in sorting order; every other
copy is listed as a duplicate. Nothing is dropped silently: a file that cannot be attributed to a
student and an exercise is a :class:`Problem` with the reason and what to do about it.
Hidden files and folders (``.DS_Store``, ``__MACOSX/``, ``.ipynb_checkpoints/``) are skipped.
"""

from __future__ import annotations

import re
import shutil
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

__all__ = ["DEFAULT_PATTERN", "Collection", "Problem", "Submission", "collect", "compile_pattern"]

#: ``alice_utf8.ipynb``, ``alice.smith_utf8_2.ipynb`` (attempt 2), ``s123-4_special_tokens.ipynb``.
#: Student ids are letters, digits, ``.`` and ``-`` (no ``_``: it separates the parts);
#: the assignment is the exercise stem; an optional ``_<digits>`` suffix is the attempt number.
DEFAULT_PATTERN = r"^(?P<student>[A-Za-z0-9.-]+)_(?P<assignment>[A-Za-z0-9_]+?)(?:_(?P<attempt>\d+))?\.ipynb$"

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


@dataclass(frozen=True)
class Problem:
    """A file (or a submission) that could not be graded normally, and why."""

    label: str
    reason: str
    student: str = ""
    assignment: str = ""
    graded: bool = False  # True when it was graded anyway (e.g. its kernel died half way)


@dataclass
class Collection:
    submissions: list[Submission] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def compile_pattern(text: str | None) -> re.Pattern:
    """Compile a file-name pattern, checking that it names ``student`` and ``assignment``."""
    text = DEFAULT_PATTERN if text is None else text
    try:
        pattern = re.compile(text)
    except re.error as exc:
        raise ValueError(f"the file-name pattern {text!r} is not a valid regular expression: {exc}") from None
    missing = {"student", "assignment"} - set(pattern.groupindex)
    if missing:
        raise ValueError(
            f"the file-name pattern {text!r} needs the named groups (?P<student>...) and "
            f"(?P<assignment>...); it lacks {', '.join(sorted(missing))}"
        )
    return pattern


def _hidden(parts: tuple[str, ...]) -> bool:
    return any(p.startswith(".") or p == "__MACOSX" for p in parts)


def _unzip(archive: Path, into: Path) -> None:
    """Unpack ``archive`` into ``into``, refusing absolute paths, ``..`` and zip bombs."""
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ValueError(f"{archive} is not a readable .zip file ({exc})") from None
    with zf:
        infos = [i for i in zf.infolist() if not i.is_dir()]
        total = sum(i.file_size for i in infos)
        if total > MAX_UNPACKED_BYTES:
            raise ValueError(f"{archive} would unpack to {total / 1e9:.1f} GB; unpack it yourself and pass the folder")
        for info in infos:
            name = PurePosixPath(info.filename.replace("\\", "/"))
            if name.is_absolute() or ".." in name.parts:
                raise ValueError(f"{archive} contains the unsafe path {info.filename!r}; unpack it yourself and check it")
            target = into.joinpath(*name.parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst)


def collect(source: Path, assignments: list[str], *, pattern: str | None = None,
            unpack_to: Path | None = None, exclude: Path | None = None) -> Collection:
    """Find every submission of the exercises ``assignments`` in the folder or ``.zip`` ``source``.

    A ``.zip`` is unpacked into ``unpack_to`` (which the caller creates and later removes).
    Files under ``exclude`` (the output folder, when it sits inside ``source``) are skipped.
    Raises ``ValueError`` (with what to do) when ``source`` is neither.
    """
    source = Path(source)
    regex = compile_pattern(pattern)
    if source.is_file() and source.suffix.lower() == ".zip":
        if unpack_to is None:
            raise ValueError("a .zip of submissions needs a folder to unpack into (unpack_to)")
        _unzip(source, unpack_to)
        root, prefix = unpack_to, f"{source.name}:"
    elif source.is_dir():
        root, prefix = source, ""
    elif source.exists():
        raise ValueError(f"{source} is neither a folder of submissions nor a .zip of one")
    else:
        raise ValueError(f"there is no {source}: give the folder (or .zip) of submitted notebooks")

    known = set(assignments)
    found = Collection()
    skip = Path(exclude).resolve() if exclude is not None else None
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        if skip is not None and path.resolve().is_relative_to(skip):
            continue
        rel = path.relative_to(root)
        parts = rel.parts
        label = prefix + rel.as_posix()
        if _hidden(parts):
            continue
        tree = parts[parts.index("submitted") + 1:] if "submitted" in parts[:-1] else None
        if tree is not None or (len(parts) >= 3 and parts[-2] in known):
            student, assignment = (tree or parts)[-3:-1] if len(tree or parts) >= 3 else ("", "")
            if not student:
                found.problems.append(Problem(label, "inside submitted/ but not at submitted/<student>/<assignment>/<file>"))
                continue
            if not path.name.endswith(".ipynb"):
                continue  # nbgrader keeps timestamp.txt and files students saved next to the notebook
            if assignment not in known:
                found.problems.append(Problem(
                    label, f"unknown assignment {assignment!r}; the exercises are {', '.join(sorted(known))}",
                    student, assignment))
            elif path.name != f"{assignment}.ipynb":
                found.problems.append(Problem(
                    label, f"wrong name: nbgrader expects {assignment}.ipynb here; rename it and grade again",
                    student, assignment))
            else:
                found.submissions.append(Submission(student, assignment, path, label))
            continue
        match = regex.match(path.name)
        if not match:
            what = "file name" if path.suffix == ".ipynb" else "file (not a notebook .ipynb)"
            found.problems.append(Problem(
                label, f"{what} does not match the pattern student_assignment.ipynb ({regex.pattern}); "
                       "rename it or give a file-name pattern that matches it"))
            continue
        student, assignment = match.group("student"), match.group("assignment")
        attempt = match.groupdict().get("attempt")
        if not student or not assignment:
            found.problems.append(Problem(label, "the pattern matched an empty student or assignment"))
        elif assignment not in known:
            found.problems.append(Problem(
                label, f"unknown assignment {assignment!r}; the exercises are {', '.join(sorted(known))}",
                student, assignment))
        else:
            found.submissions.append(Submission(student, assignment, path, label, int(attempt or 0)))

    # One submission per student and assignment: the highest attempt, then the last path.
    best: dict[tuple[str, str], Submission] = {}
    for sub in sorted(found.submissions, key=lambda s: (s.attempt, s.label)):
        best[(sub.student, sub.assignment)] = sub
    kept = set(map(id, best.values()))
    for sub in found.submissions:
        if id(sub) not in kept:
            winner = best[(sub.student, sub.assignment)]
            found.problems.append(Problem(
                sub.label, f"duplicate: {sub.student} also handed in {winner.label}, which is graded instead",
                sub.student, sub.assignment))
    found.submissions = sorted(best.values(), key=lambda s: (s.assignment, s.student))
    found.problems.sort(key=lambda p: (p.assignment, p.student, p.label))
    return found
