"""Test-suite settings shared by every test file."""

from __future__ import annotations

import pytest

# Tests that build the book or run nbgrader, found by the module-scoped fixture that does that work.
# They are marked `slow`, so `pytest -m "not slow"` runs the quick rest in under a minute.
_SLOW_FIXTURE = {"test_book.py": "build", "test_grading.py": "course", "test_grade_class.py": "graded",
                "test_grade_layouts.py": "cache"}


def pytest_collection_modifyitems(items):
    for item in items:
        if _SLOW_FIXTURE.get(item.path.name) in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)
