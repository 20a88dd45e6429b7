"""The grade of one submission, and how it is kept between runs (``results/<assignment>/<student>.json``)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

__all__ = ["Result"]


@dataclass
class Result:
    """What grading made of one submission: one row of ``grades.csv`` and one feedback page.

    >>> r = Result("k", "alice", "utf8", "alice_utf8.ipynb", True, {"t1": 1.0}, {"task": 1.0}, 1.0, 3.0)
    >>> Result.from_json(r.to_json()) == r
    True
    >>> Result.from_json('{"key": "k", "total": 1}')  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: not a saved grading result (expected the fields [...])
    """

    key: str  # cache key: the submission, the exercise source and the grading settings ("" if none)
    student: str
    assignment: str
    label: str  # where the submission came from, as the instructor knows it
    graded: bool  # False when it could not be graded (``problems`` says why)
    cells: dict[str, float]  # test cell grade id -> points earned
    tasks: dict[str, float]  # task -> points earned
    total: float
    max: float  # the most the assignment gives
    problems: list[str] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)  # what looks tampered with (never changes a score)
    seconds: float = 0.0  # this submission's share of the nbgrader run that graded it
    feedback: str = ""  # the feedback page, relative to the output folder
    late: bool = False  # the LMS export marked the submission late

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Result:
        """Read a result back; ``ValueError`` if ``text`` is not one (an old or damaged file)."""
        data = json.loads(text)
        names = {f.name for f in fields(cls)}
        if not isinstance(data, dict) or set(data) != names:
            raise ValueError(f"not a saved grading result (expected the fields {sorted(names)})")
        return cls(**data)

    def save(self, path: Path) -> None:
        """Write the result to ``path`` atomically (a crash never leaves half a file)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(self.to_json(), encoding="utf-8")
        tmp.replace(path)
