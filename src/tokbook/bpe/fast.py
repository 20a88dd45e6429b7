"""The fast path: any tokbook tokenizer as a ``tiktoken.Encoding``, whose Rust core encodes.

The pure-Python encoder in :mod:`~tokbook.bpe.tokenizer` is the reference that the book
teaches; this module hands the same vocabulary, split pattern and special tokens to tiktoken,
the way nanoGPT puts ``F.scaled_dot_product_attention`` beside its hand-written attention. Both
follow the same rule on the same ranks, so they give the same ids (tested on everything the
parity tests encode, and on trained and loaded tokenizers).

Two things differ in kind, not in result: tiktoken splits with the Rust ``fancy-regex`` engine
(the built-in patterns mean the same there; a custom one must too), and it drops text that the
split pattern does not match, which the pure path refuses. :class:`~tokbook.bpe.Tokenizer`
checks that for custom patterns (:meth:`~tokbook.bpe.Tokenizer.encode_batch`).
"""

from __future__ import annotations

from collections.abc import Mapping

import tiktoken

__all__ = ["WHOLE_TEXT", "to_encoding"]

#: The split pattern given to tiktoken for a tokenizer without one: the whole text (between
#: special tokens) is a single pre-token, as in the pure path.
WHOLE_TEXT = r"(?s:.+)"


def to_encoding(vocab: Mapping[int, bytes], pattern: str | None, special_tokens: Mapping[str, int],
                name: str = "tokbook") -> tiktoken.Encoding:
    """A ``tiktoken.Encoding`` with this vocabulary (id -> bytes), pattern and special tokens.

    >>> enc = to_encoding({i: bytes([i]) for i in range(256)} | {256: b"ab"}, None, {"<s>": 257})
    >>> enc.encode("abc<s>", allowed_special="all")
    [256, 99, 257]
    """
    ranks = {token: idx for idx, token in vocab.items()}
    try:
        return tiktoken.Encoding(name, pat_str=WHOLE_TEXT if pattern is None else pattern,
                                 mergeable_ranks=ranks, special_tokens=dict(special_tokens))
    except ValueError as exc:
        raise ValueError(
            f"tiktoken cannot use the split pattern {pattern!r} ({exc}); the fast path needs a pattern "
            "that Rust's fancy-regex also compiles. Use encode()/encode_ordinary() instead."
        ) from None
