"""SentencePiece's normalizer: spaces become ``▁`` (U+2581), the dummy prefix, extra spaces.

What sentencepiece does before any model sees the text (``src/normalizer.cc``), in order:

1. The text is cut into units: a user-defined piece (longest match) is one unit and is never
   rewritten; otherwise the longest rule of the model's character map (``nmt_nfkc`` models; see
   :mod:`~tokbook.sentencepiece.charsmap`) rewrites a prefix; otherwise one character is a unit.
2. With ``remove_extra_whitespaces``: leading spaces are dropped, a run of spaces inside the text
   becomes one space, and trailing spaces are dropped. Only U+0020 counts as a space here (a tab
   or a newline is an ordinary character unless the character map rewrites it to a space).
3. With ``add_dummy_prefix``: one space is put in front, so that a word is the same piece at the
   start of a text as after a space (``"world"`` and ``"hello world"`` both contain ``▁world``).
   It is added even when the text already starts with a space. An empty text stays empty.
4. With ``escape_whitespaces``: every space is written ``▁``.

>>> normalize("Hello  world", add_dummy_prefix=True, remove_extra_whitespaces=False)
'▁Hello▁▁world'
>>> normalize("  Hello  world ", add_dummy_prefix=True, remove_extra_whitespaces=True)
'▁Hello▁world'
>>> normalize(" x", add_dummy_prefix=True, remove_extra_whitespaces=False)
'▁▁x'
"""

from __future__ import annotations

from collections.abc import Callable, Collection

__all__ = ["SPACE", "normalize", "split_units"]

SPACE = "\u2581"  # ▁ LOWER ONE EIGHTH BLOCK, sentencepiece's visible space


def split_units(
    text: str,
    user_defined: Collection[str] = (),
    rewrite: Callable[[str, int], tuple[str, int] | None] | None = None,
) -> list[str]:
    """Cut ``text`` into normalized units (step 1 above).

    ``rewrite(text, i)`` returns ``(replacement, length)`` for the longest rule matching at ``i``,
    or ``None``; without it, each character is its own unit.
    """
    if not user_defined and rewrite is None:
        return list(text)
    longest = max(map(len, user_defined), default=0)
    units = []
    i = 0
    while i < len(text):
        match = next(
            (n for n in range(min(longest, len(text) - i), 0, -1) if text[i : i + n] in user_defined),
            0,
        )
        if match:
            units.append(text[i : i + match])
            i += match
            continue
        rule = rewrite(text, i) if rewrite else None
        if rule:
            units.append(rule[0])
            i += rule[1]
        else:
            units.append(text[i])
            i += 1
    return units


def normalize(
    text: str,
    *,
    add_dummy_prefix: bool = True,
    remove_extra_whitespaces: bool = True,
    escape_whitespaces: bool = True,
    treat_whitespace_as_suffix: bool = False,
    user_defined: Collection[str] = (),
    rewrite: Callable[[str, int], tuple[str, int] | None] | None = None,
) -> str:
    """Normalize ``text`` the way sentencepiece's ``Normalizer::Normalize`` does."""
    units = split_units(text, user_defined, rewrite)
    if remove_extra_whitespaces:
        while units and units[0] == " ":
            units.pop(0)
    if not units:
        return ""
    space = SPACE if escape_whitespaces else " "
    out = []
    if add_dummy_prefix and not treat_whitespace_as_suffix:
        out.append(space)
    # Inside the text, a unit loses its leading spaces when the previous unit ended with one.
    previous_ends_in_space = remove_extra_whitespaces
    for unit in units:
        if previous_ends_in_space:
            unit = unit.lstrip(" ")
        if unit:
            out.append(unit.replace(" ", space))
            previous_ends_in_space = unit.endswith(" ")
        if not remove_extra_whitespaces:
            previous_ends_in_space = False
    normalized = "".join(out)
    if remove_extra_whitespaces:
        normalized = normalized.rstrip(space)
    if add_dummy_prefix and treat_whitespace_as_suffix:
        normalized += space
    return normalized
