"""Pre-tokenization: cutting text into the pieces that BPE encodes one by one.

:data:`PATTERNS` holds the split regexes of GPT-2, GPT-4 (cl100k_base) and GPT-4o (o200k_base).
:func:`splitter` returns the function that cuts text with one of them, using two speed-ups that
give the same pieces (both tested with hypothesis): ASCII text runs on the standard ``re``
engine, and mixed text is first cut before newlines that follow a letter or a digit.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable

import regex

from tokbook import encodings

__all__ = ["PATTERNS", "ascii_pattern", "cut_at_line_ends", "last_safe_cut", "special_regex", "splitter"]

#: Split patterns by name: those of GPT-2, GPT-4 (cl100k_base) and GPT-4o (o200k_base).
PATTERNS = encodings.PATTERNS

# On ASCII text the built-in patterns can run on the standard ``re`` engine, about twice as fast
# as ``regex``: each Unicode class is replaced by its ASCII members (regex's ``\s`` is White_Space,
# which in ASCII is tab, LF, VT, FF, CR and space; ``\p{Lt}``, ``\p{Lm}``, ``\p{Lo}`` and
# ``\p{M}`` have no ASCII members). A test checks both engines split ASCII text alike.
_ASCII_CLASSES = {
    r"\p{L}": "A-Za-z", r"\p{Lu}": "A-Z", r"\p{Ll}": "a-z", r"\p{Lt}": "", r"\p{Lm}": "",
    r"\p{Lo}": "", r"\p{M}": "", r"\p{N}": "0-9", r"\s": r"\t\n\x0b\x0c\r ",
}


def ascii_pattern(pattern: str) -> str:
    """Rewrite a built-in split pattern for the standard ``re`` module, valid on ASCII text only."""
    out, i, in_class = [], 0, False
    while i < len(pattern):
        token = regex.match(r"\\p\{\w+\}|\\[sS]|\\.|.", pattern[i:], regex.S).group()
        if token == r"\S":
            out.append(r"[^\t\n\x0b\x0c\r ]")
        elif token in _ASCII_CLASSES:
            out.append(_ASCII_CLASSES[token] if in_class else f"[{_ASCII_CLASSES[token]}]")
        else:
            in_class = (in_class or token == "[") and token != "]"
            out.append(token)
        i += len(token)
    return "".join(out)


#: Cuts text just before a newline that follows a letter or a digit. For the built-in patterns
#: that is always a pre-token boundary, and neither side's pre-tokens depend on the other side, so
#: the pieces can be split one by one (the ASCII ones with the fast engine). (The newline is
#: tested first: that is three times faster than testing the letter first.)
cut_at_line_ends = re.compile(r"(?=\n)(?<=[^\W_])").split
_letter_or_digit = re.compile(r"[^\W_]").match
_not_space = regex.compile(r"\S").match


def last_safe_cut(text: str, pattern: str) -> int:
    r"""The last position where ``text``, split with a built-in ``pattern``, can be cut so that
    the pre-tokens before the cut are those of the whole, whatever follows ``text``; 0 if none.

    For every built-in pattern that is just before a newline that follows a letter or a digit
    (as in :func:`cut_at_line_ends`). GPT-2's pattern keeps newlines apart from what precedes
    them, so there any character other than whitespace may precede the newline. cl100k_base
    and o200k_base join newlines to the punctuation before them but never to what follows, so
    there a cut may also come just after a newline that precedes a letter or a digit. (Tested
    with hypothesis on random texts and continuations.)

    >>> text = "one.\ntwo.\nthree"
    >>> last_safe_cut(text, PATTERNS["gpt2"]), last_safe_cut(text, PATTERNS["cl100k_base"])
    (9, 10)
    """
    gpt2 = pattern == PATTERNS["gpt2"]
    at = text.rfind("\n")
    while at >= 0:
        if not gpt2 and at + 1 < len(text) and _letter_or_digit(text, at + 1):
            return at + 1
        if at > 0 and (_not_space if gpt2 else _letter_or_digit)(text, at - 1):
            return at
        at = text.rfind("\n", 0, at)
    return 0


def splitter(pattern: str) -> Callable[[str], list[str]]:
    """The function that returns the pre-tokens of a text under ``pattern``.

    >>> splitter(PATTERNS["gpt2"])("Hello world's end")
    ['Hello', ' world', "'s", ' end']
    """
    split = regex.compile(pattern).findall
    if pattern not in PATTERNS.values():
        return split
    fast = re.compile(ascii_pattern(pattern)).findall

    def pretokenize(text: str) -> list[str]:
        if text.isascii():
            return fast(text)
        pieces: list[str] = []
        for part in cut_at_line_ends(text):
            pieces += fast(part) if part.isascii() else split(part)
        return pieces

    return pretokenize


@functools.lru_cache(maxsize=64)
def special_regex(tokens: frozenset[str]) -> regex.Pattern | None:
    """A compiled regex that matches any of ``tokens``, longest first, in a group; None if empty.

    ``special_regex(tokens).split(text)`` gives ``[text, special, text, ..., text]``.
    """
    if not tokens:
        return None
    alternatives = "|".join(regex.escape(s) for s in sorted(tokens, key=len, reverse=True))
    return regex.compile(f"({alternatives})")
