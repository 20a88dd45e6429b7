"""Benchmark corpora built from what every Python installation ships (no download).

``mixed_corpus(n_bytes)``: English prose (the pydoc help topics) and Python code (the standard
library's sources, with their English docstrings and comments), interleaved file by file until
the corpus holds ``n_bytes`` of UTF-8.
"""

from __future__ import annotations

import sysconfig
from pathlib import Path

from pydoc_data.topics import topics


def _stdlib_sources() -> list[Path]:
    root = Path(sysconfig.get_paths()["stdlib"])
    return sorted(p for p in root.rglob("*.py") if "site-packages" not in p.parts and "test" not in p.parts)


def mixed_corpus(n_bytes: int) -> str:
    """Return about ``n_bytes`` of prose and code (deterministic for a given Python version)."""
    prose = [topics[k] for k in sorted(topics)]
    parts, size, i = [], 0, 0
    for path in _stdlib_sources():
        try:
            code = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        parts.append(code)
        size += len(code.encode("utf-8"))
        if i < len(prose):
            parts.append(prose[i])
            size += len(prose[i].encode("utf-8"))
            i += 1
        if size >= n_bytes:
            break
    text = "\n".join(parts)
    if len(text.encode("utf-8")) < n_bytes:
        raise RuntimeError(f"the standard library holds less than {n_bytes} bytes of source")
    return text.encode("utf-8")[:n_bytes].decode("utf-8", "ignore")
