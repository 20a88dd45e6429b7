"""The tokenizer file: readable, versioned JSON, one field per line and one merge per line.

``Tokenizer.save`` and ``Tokenizer.load`` use :func:`write` and :func:`read`; a merge is written
as ``[left id, right id, new id, "the new token's text"]`` so that a person can read the file.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

__all__ = ["FORMAT", "FORMAT_VERSION", "write", "read"]

#: Name and version written into every saved tokenizer.
FORMAT = "tokbook-bpe"
FORMAT_VERSION = 1


def write(path: str | os.PathLike, *, pattern: str | None, special_tokens: Mapping[str, int],
          vocab: Mapping[int, bytes], merges: Mapping[tuple[int, int], int]) -> None:
    """Write a tokenizer's pattern, special tokens, byte ids and merges to ``path``."""
    by_bytes = {token: i for i, token in vocab.items()}
    rows = [
        [a, b, idx, (vocab[a] + vocab[b]).decode("utf-8", "backslashreplace")]
        for (a, b), idx in merges.items()
    ]
    fields = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "pattern": pattern,
        "special_tokens": dict(special_tokens),
        "byte_ids": [by_bytes[bytes([b])] for b in range(256)],
    }
    lines = ["{"] + [f" {json.dumps(k)}: {json.dumps(v, ensure_ascii=False)}," for k, v in fields.items()]
    lines.append(' "merges": [')
    lines.append(",\n".join("  " + json.dumps(m, ensure_ascii=False) for m in rows))
    lines.append(" ]\n}\n")
    Path(path).write_text("\n".join(lines), encoding="utf-8")


def read(path: str | os.PathLike) -> tuple[str | None, dict[str, int], dict[int, bytes], dict[tuple[int, int], int]]:
    """Read ``(pattern, special_tokens, vocab, merges)`` from a file that :func:`write` wrote.

    Raises ValueError, naming the file, on anything else or on any damage.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path} is not a tokbook tokenizer file: {exc}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError(f"{path} is not a tokbook tokenizer file (no \"format\": \"{FORMAT}\")")
    if data.get("version") != FORMAT_VERSION:
        raise ValueError(
            f"{path} has format version {data.get('version')!r}; this tokbook reads version "
            f"{FORMAT_VERSION}. Load it with the tokbook version that wrote it, or retrain."
        )
    try:
        byte_ids, rows = data["byte_ids"], data["merges"]
        if sorted(byte_ids) != sorted(set(byte_ids)) or len(byte_ids) != 256:
            raise ValueError("byte_ids must list 256 distinct ids")
        vocab = {int(idx): bytes([b]) for b, idx in enumerate(byte_ids)}
        merges = {}
        for n, entry in enumerate(rows):
            a, b, idx = (int(x) for x in entry[:3])
            token = vocab.get(a, b"") + vocab.get(b, b"")
            if a not in vocab or b not in vocab or vocab.get(idx, token) != token:
                raise ValueError(f"merge {n} {entry!r} uses an unknown id, or an id of other bytes")
            vocab[idx] = token
            merges[(a, b)] = idx
        pattern, special_tokens = data["pattern"], data["special_tokens"]
        if pattern is not None and not isinstance(pattern, str):
            raise ValueError(f"pattern must be a string or null, not {pattern!r}")
        if not isinstance(special_tokens, dict):
            raise ValueError(f"special_tokens must be an object, not {special_tokens!r}")
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise ValueError(f"{path} is a damaged tokbook tokenizer file: {exc}") from None
    return pattern, special_tokens, vocab, merges
