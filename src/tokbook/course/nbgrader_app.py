"""Run nbgrader's command line from the interpreter that runs tokbook."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def nbgrader_env() -> dict[str, str]:
    """The environment for an nbgrader process started from this interpreter.

    nbgrader shells out to ``alembic`` for its gradebook, so the interpreter's own ``bin``
    folder goes first on PATH: that makes a virtual environment work without being activated.
    """
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    return env


def run_nbgrader(args: list[str], *, cwd: Path, timeout: float | None = None) -> subprocess.CompletedProcess:
    """Run ``nbgrader ARGS`` in ``cwd`` and return the finished process (output captured as text)."""
    return subprocess.run(
        [sys.executable, "-m", "nbgrader", *args],
        cwd=cwd, env=nbgrader_env(), capture_output=True, text=True, timeout=timeout,
    )
