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


# Letter ranges of scripts that English-heavy vocabularies serve poorly.
_SCRIPTS = {
    "latin": (0x00C0, 0x024F), "greek": (0x0391, 0x03C9), "cyrillic": (0x0410, 0x044F),
    "arabic": (0x0621, 0x064A), "devanagari": (0x0905, 0x0939), "thai": (0x0E01, 0x0E30),
    "han": (0x4E00, 0x9FFF), "hangul": (0xAC00, 0xD7A3),
}


def multilingual_corpus(n_bytes: int, seed: int = 0) -> str:
    """Return about ``n_bytes`` of synthetic text: random words of letters from eight scripts.

    Nothing repeats, so an encoder's cache of pre-tokens rarely helps: a worst case for
    web-like, non-ASCII text, not a sample of any language.
    """
    import random
    import unicodedata

    rng = random.Random(seed)
    alphabets = {
        name: [chr(cp) for cp in range(lo, hi + 1) if unicodedata.category(chr(cp)).startswith("L")]
        for name, (lo, hi) in _SCRIPTS.items()
    }
    names = sorted(alphabets)
    parts, size = [], 0
    while size < n_bytes:
        letters = alphabets[rng.choice(names)]
        words = ["".join(rng.choices(letters, k=rng.randint(2, 9))) for _ in range(rng.randint(5, 15))]
        line = " ".join(words) + rng.choice([".", ",", "!", "?", ";"]) + "\n"
        parts.append(line)
        size += len(line.encode("utf-8"))
    return "".join(parts)
