"""The code passes ``ruff check`` with the rules chosen in pyproject.toml ([tool.ruff.lint])."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHECKED = ["src", "tests", "benchmarks", "nbgrader_config.py"]


def test_ruff_finds_nothing():
    # ruff is installed with the `test` extra; `python -m ruff` finds the one next to this interpreter.
    done = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", *CHECKED],
                          cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, f"ruff check {' '.join(CHECKED)} found problems:\n{done.stdout}{done.stderr}"
