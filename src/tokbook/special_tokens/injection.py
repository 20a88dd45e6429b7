"""Untrusted text that contains special strings, and how to encode it safely.

What each library does by default when text contains one of its special strings:

- tiktoken: ``encode`` raises ValueError (``disallowed_special="all"``); ``encode_ordinary`` and
  ``encode(..., disallowed_special=())`` encode it as ordinary text.
- sentencepiece: control pieces (``<s>``, ``[INST]``) are never produced from text; but
  ``user_defined`` pieces are, by design: a special token declared user-defined is injectable.
- HF ``tokenizers``: special added tokens (``[SEP]``) are matched in text and become their ids,
  unless ``encode_special_tokens`` is True.
- A chat prompt built with string formatting lets a user forge a turn: their text *is* the markup.

The safe way is to never let text become a special id: build a conversation from ids
(:func:`encode_parts`: trusted ids and untrusted strings), encode untrusted strings as ordinary
text (:func:`encode_untrusted`), and when text must travel as a string (a template), break every
special string in it with :func:`sanitize`.

>>> import tiktoken
>>> from tokbook.encodings import get_encoding
>>> enc = get_encoding("gpt2")
>>> encode_parts(enc, ["Hi<|endoftext|>", enc.eot_token])
[17250, 27, 91, 437, 1659, 5239, 91, 29, 50256]
"""

from __future__ import annotations

from typing import Collection, Iterable

import sentencepiece
import tiktoken
import tokenizers

from tokbook import bpe

__all__ = ["BREAK", "check_no_special", "encode_parts", "encode_untrusted", "sanitize"]

# U+200B ZERO WIDTH SPACE: invisible when printed, and an ordinary character to every tokenizer.
BREAK = "\u200b"

Encoder = tiktoken.Encoding | sentencepiece.SentencePieceProcessor | tokenizers.Tokenizer | bpe.Tokenizer


def encode_untrusted(tokenizer: Encoder, text: str) -> list[int]:
    """Encode ``text`` so that no special string in it becomes a special id.

    tiktoken and tokbook: ``encode_ordinary``; sentencepiece: ``encode`` (control pieces never come
    from text; ``user_defined`` pieces still do: do not declare special tokens that way);
    ``tokenizers``: ``encode`` with ``encode_special_tokens`` set for the call (and restored).

    >>> from tokbook.encodings import get_encoding
    >>> encode_untrusted(get_encoding("cl100k_base"), "<|endoftext|>")
    [27, 91, 8862, 728, 428, 91, 29]
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    if isinstance(tokenizer, (tiktoken.Encoding, bpe.Tokenizer)):
        return tokenizer.encode_ordinary(text)
    if isinstance(tokenizer, sentencepiece.SentencePieceProcessor):
        return tokenizer.encode(text)
    if isinstance(tokenizer, tokenizers.Tokenizer):
        before = tokenizer.encode_special_tokens
        tokenizer.encode_special_tokens = True
        try:
            return tokenizer.encode(text, add_special_tokens=False).ids
        finally:
            tokenizer.encode_special_tokens = before
    raise TypeError(
        "tokenizer must be a tiktoken.Encoding, a sentencepiece.SentencePieceProcessor, a tokenizers.Tokenizer "
        f"or a tokbook.bpe.Tokenizer, got {type(tokenizer).__name__}"
    )


def encode_parts(tokenizer: Encoder, parts: Iterable[int | str]) -> list[int]:
    """Concatenate trusted ids (ints, passed through) and untrusted text (strs, :func:`encode_untrusted`).

    This is how to build a conversation whose markup no user can forge: the markup is ids.
    An id outside the tokenizer's vocabulary raises ValueError.
    """
    ids: list[int] = []
    for part in parts:
        if isinstance(part, str):
            ids += encode_untrusted(tokenizer, part)
        elif isinstance(part, int) and not isinstance(part, bool):
            size = _vocab_size(tokenizer)
            if not 0 <= part < size:
                raise ValueError(f"id {part} is out of range: this tokenizer has ids 0..{size - 1}; "
                                 "look special ids up by name (SpecialTokens.id_of) instead of typing them")
            ids.append(part)
        else:
            raise TypeError(f"each part must be an id (int) or untrusted text (str), got {part!r}")
    return ids


def _vocab_size(tokenizer: Encoder) -> int:
    if isinstance(tokenizer, sentencepiece.SentencePieceProcessor):
        return tokenizer.get_piece_size()
    if isinstance(tokenizer, tokenizers.Tokenizer):
        return tokenizer.get_vocab_size(with_added_tokens=True)
    return tokenizer.n_vocab


def sanitize(text: str, special_strings: Collection[str]) -> str:
    """Break every occurrence of a special string in ``text`` by inserting :data:`BREAK` after its first character.

    The result contains none of ``special_strings`` (checked), reads the same when printed, and
    is otherwise unchanged. It is one-way: a text that already contained ``"<\\u200b|..."`` cannot be
    told apart afterwards, so keep the original if you need it. Prefer :func:`encode_parts`; use
    this only when the text must pass through a string template.

    It protects against tokenizers that match special strings in the raw text (tiktoken with
    ``allowed_special``, ``tokenizers`` added tokens with ``normalized=False``, the default for
    special tokens). It does not protect against an added token with ``normalized=True`` behind a
    normalizer that deletes U+200B (BERT's does, and lower-cases too): there only
    :func:`encode_untrusted` is safe.

    >>> sanitize("a<|endoftext|>b", ["<|endoftext|>"])
    'a<\\u200b|endoftext|>b'
    >>> sanitize("[INST][INST]", ["[INST]"]) == "[\\u200bINST][\\u200bINST]"
    True
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    specials = sorted({s for s in special_strings if s}, key=len, reverse=True)
    bad = [s for s in specials if BREAK in s or len(s) < 2]
    if bad:
        raise ValueError(f"cannot sanitize special strings {bad!r}: each needs two or more characters and no U+200B")
    changed = True
    while changed:  # inserting a break can only remove occurrences, so this ends
        changed = False
        for s in specials:
            start = text.find(s)
            while start != -1:
                text = text[: start + 1] + BREAK + text[start + 1:]
                changed = True
                start = text.find(s, start + 2)
    return text


def check_no_special(ids: Iterable[int], special_ids: Collection[int], allowed: Collection[int] = ()) -> None:
    """Raise ValueError naming the first special id of ``ids`` (and its position) that is not ``allowed``."""
    forbidden = set(special_ids) - set(allowed)
    for position, i in enumerate(ids):
        if i in forbidden:
            raise ValueError(
                f"special id {i} at position {position} came from text; encode untrusted text with "
                "encode_untrusted or sanitize it, or list the id in allowed= if you really mean it"
            )
