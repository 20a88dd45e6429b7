"""The layouts in which instructors download submissions, each recognised from a file's path.

Each layout is a function that takes the parts of a file's path (relative to the folder or the
``.zip`` that was handed in) and returns a :class:`Found` when the path has that layout's shape,
or ``None``. :func:`recognise` tries them in a fixed order. The formats, and where they come from:

``nbgrader``
    ``[...]/submitted/<student>/<assignment>/<assignment>.ipynb``, as ``nbgrader collect`` writes
    it; the ``submitted/`` part may be missing when ``<assignment>`` is an exercise's name.
``moodle``
    Moodle's "Download all submissions" (assignment module, version 3.1 and later, "download
    submissions in folders" on, the default): one folder per student and plugin,
    ``<Full Name>_<participant id>_assignsubmission_file_/``, holding the student's files under
    the names they gave them. With folders off the same prefix is glued to each file name:
    ``<Full Name>_<id>_assignsubmission_file_<file>``. Under blind marking the name is
    ``Participant``; the online-text plugin's folder (``..._assignsubmission_onlinetext_``) holds
    no notebook. (``mod/assign/locallib.php``, ``download_submissions``.)
``canvas``
    Canvas's "Download submissions": ``<name>[_LATE]_<user id>_<file id>_<file>``, where
    ``<name>`` is the student's sortable name lower-cased with everything but letters, digits and
    ``_`` removed (``smithjane``), ``LATE`` marks work handed in after the due date, and
    ``<file>`` is the name the student uploaded (Canvas adds ``-1``, ``-2``... when a student
    uploads a file under a name they used before). Anonymous grading puts ``anon_<id>`` in place
    of the name and user id. (``lib/content_zipper.rb`` in canvas-lms.)
``blackboard``
    Blackboard Learn's "Assignment File Download":
    ``<assignment>_<username>_attempt_<YYYY-MM-DD-HH-MM-SS>_<file>``, plus one
    ``..._attempt_<date>.txt`` receipt per attempt. Blackboard's help pages do not spell the
    format out; it is the one that tools written for these downloads parse.
``flat``
    Any other file: the *file name* must match a regular expression with the named groups
    ``student`` and ``assignment`` (and optionally ``attempt``); by default
    :data:`DEFAULT_PATTERN`.

In the LMS layouts the file keeps the name the student gave it (``utf8 (1).ipynb``,
``homework.ipynb``), so the exercise is read from the notebook's nbgrader metadata; only when the
notebook has none is the file name used.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["DEFAULT_PATTERN", "LAYOUTS", "Found", "compile_pattern", "recognise"]

#: ``alice_utf8.ipynb``, ``alice.smith_utf8_2.ipynb`` (attempt 2), ``s123-4_special_tokens.ipynb``.
#: Student ids are letters, digits, ``.`` and ``-`` (no ``_``: it separates the parts);
#: the assignment is the exercise stem; an optional ``_<digits>`` suffix is the attempt number.
DEFAULT_PATTERN = r"^(?P<student>[A-Za-z0-9.-]+)_(?P<assignment>[A-Za-z0-9_]+?)(?:_(?P<attempt>\d+))?\.ipynb$"

#: Each layout's name, and how the run output describes it.
LAYOUTS = {
    "nbgrader": "nbgrader's submitted/<student>/<assignment>/<assignment>.ipynb",
    "canvas": "Canvas 'Download submissions' (<name>[_LATE]_<user id>_<file id>_<file>)",
    "moodle": "Moodle 'Download all submissions' (<Full Name>_<id>_assignsubmission_file_/<file>)",
    "blackboard": "Blackboard 'Assignment File Download' (<assignment>_<user>_attempt_<date>_<file>)",
    "flat": "flat files named <student>_<assignment>.ipynb (or --pattern)",
}


@dataclass(frozen=True)
class Found:
    """What a file's path says: whose it is, which exercise (if it says), and how to treat it."""

    layout: str
    student: str = ""
    assignment: str = ""  # "" when the path does not say; read it from the notebook
    attempt: int = 0
    late: bool = False
    ignore: str = ""  # why the file is not a submission (nbgrader's timestamp.txt, ...)
    problem: str = ""  # why the file cannot be attributed


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


def _is_notebook(name: str) -> bool:
    return name.lower().endswith(".ipynb")


def stem_of(file_name: str) -> str:
    """The exercise a student's own file name suggests: ``utf8 (1).ipynb``, ``utf8-2.ipynb`` -> ``utf8``.

    >>> stem_of("utf8 (1).ipynb"), stem_of("utf8-1.ipynb"), stem_of("special_tokens.ipynb")
    ('utf8', 'utf8', 'special_tokens')
    """
    stem = re.sub(r"\.ipynb$", "", file_name, flags=re.I)
    return re.sub(r"(?:\s*\(\d+\)|-\d+)+$", "", stem)


def _nbgrader(parts: tuple[str, ...], known: set[str]) -> Found | None:
    if "submitted" in parts[:-1]:
        tree = parts[parts.index("submitted") + 1:]
    elif len(parts) >= 3 and parts[-2] in known:
        tree = parts
    else:
        return None
    if len(tree) < 3:
        return Found("nbgrader", problem="inside submitted/ but not at submitted/<student>/<assignment>/<file>")
    student, assignment = tree[-3], tree[-2]
    if not _is_notebook(parts[-1]):
        return Found("nbgrader", student, assignment,
                     ignore="not a notebook (nbgrader keeps timestamp.txt and files a student saved next to it)")
    if assignment in known and parts[-1] != f"{assignment}.ipynb":
        return Found("nbgrader", student, assignment,
                     problem=f"wrong name: nbgrader expects {assignment}.ipynb here; rename it and grade again")
    return Found("nbgrader", student, assignment)


_MOODLE = re.compile(r"^(?P<name>.+)_(?P<id>\d+)_assignsubmission_(?P<plugin>[a-z]+)_(?P<file>.*)$")


def _moodle(parts: tuple[str, ...], known: set[str]) -> Found | None:
    for i, part in enumerate(parts):
        match = _MOODLE.match(part)
        if not match or (match.group("file") and i != len(parts) - 1):
            continue
        student = f"{match.group('name')}_{match.group('id')}"
        if match.group("plugin") != "file":
            return Found("moodle", student, ignore=f"Moodle's {match.group('plugin')} submission, not a file")
        name = match.group("file") or parts[-1]
        if not _is_notebook(name):
            return Found("moodle", student, problem="not a notebook (.ipynb)")
        return Found("moodle", student, _known_stem(name, known))
    return None


_CANVAS = re.compile(
    r"^(?:(?P<name>\w+?)_)??(?:(?P<late>LATE|late)_)?(?P<user>\d+|anon_[A-Za-z0-9]+)_(?P<file_id>\d+)_(?P<file>.+)$")


def _canvas(parts: tuple[str, ...], known: set[str]) -> Found | None:
    match = _CANVAS.match(parts[-1])
    if not match:
        return None
    name, user = match.group("name"), match.group("user")
    student = f"{name}_{user}" if name else user
    late = bool(match.group("late"))
    if not _is_notebook(match.group("file")):
        return Found("canvas", student, late=late, problem="not a notebook (.ipynb)")
    # Canvas gives each uploaded file a new, larger id: the highest is the newest upload.
    return Found("canvas", student, _known_stem(match.group("file"), known), int(match.group("file_id")), late)


_BLACKBOARD = re.compile(
    r"^(?P<assignment>.+)_(?P<user>[^_]+)_attempt_(?P<date>\d{4}(?:-\d{2}){5})(?:_(?P<file>.+)|\.txt)$")


def _blackboard(parts: tuple[str, ...], known: set[str]) -> Found | None:
    match = _BLACKBOARD.match(parts[-1])
    if not match:
        return None
    user, attempt = match.group("user"), int(match.group("date").replace("-", ""))
    if match.group("file") is None:
        return Found("blackboard", user, ignore="Blackboard's receipt of the attempt, not a submission")
    if not _is_notebook(match.group("file")):
        return Found("blackboard", user, problem="not a notebook (.ipynb)")
    return Found("blackboard", user, _known_stem(match.group("file"), known), attempt)


def _flat(parts: tuple[str, ...], regex: re.Pattern) -> Found:
    match = regex.match(parts[-1])
    if not match:
        what = "file name" if _is_notebook(parts[-1]) else "file (not a notebook .ipynb)"
        return Found("flat", problem=f"{what} does not match the pattern student_assignment.ipynb "
                                     f"({regex.pattern}); rename it, give a file-name pattern that matches "
                                     "it, or name the LMS it comes from")
    student, assignment = match.group("student"), match.group("assignment")
    if not student or not assignment:
        return Found("flat", problem="the pattern matched an empty student or assignment")
    return Found("flat", student, assignment, int(match.groupdict().get("attempt") or 0))


def _known_stem(file_name: str, known: set[str]) -> str:
    stem = stem_of(file_name)
    return stem if stem in known else ""


def recognise(parts: tuple[str, ...], known: set[str], regex: re.Pattern, lms: str = "auto") -> Found:
    """Attribute the file at ``parts`` with the layout ``lms`` (or, for ``"auto"``, the first that fits)."""
    tries = {"nbgrader": _nbgrader, "moodle": _moodle, "blackboard": _blackboard, "canvas": _canvas}
    for name, layout in tries.items():
        if lms in ("auto", name):
            found = layout(parts, known)
            if found is not None:
                return found
    if lms in ("auto", "flat"):
        return _flat(parts, regex)
    return Found(lms, problem=f"not where {LAYOUTS[lms]} puts a file; is this a {lms} export?")
