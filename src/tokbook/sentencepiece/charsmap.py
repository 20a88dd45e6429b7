"""The precompiled character map of ``nmt_nfkc`` models: normalization rules in a byte trie.

sentencepiece's trainer normalizes with ``nmt_nfkc`` unless told otherwise: NFKC plus a few rules
for machine translation (control characters dropped, every kind of space and line break made a
plain space). The model file does not name an algorithm; it stores the rules themselves, as
``NormalizerSpec.precompiled_charsmap``:

- 4 bytes: the size of the trie in bytes (little-endian);
- the trie: a double array (the "darts-clone" format), 32-bit units, over the UTF-8 bytes of
  each rule's source text; a leaf's value is an offset into the next part;
- the replacements: NUL-terminated UTF-8 strings.

At each position the **longest** rule whose source is a prefix of the text applies; where no
rule applies, the character is kept.

Where ``nmt_nfkc`` differs from ``unicodedata.normalize("NFKC", ...)``, character by character
over all of Unicode (measured by ``tests/test_sentencepiece.py`` with Python 3.11's Unicode 14
tables and sentencepiece 0.2.3):

- control characters U+0001..U+0008, U+000B, U+000E..U+001F, U+007F, U+008F, U+009F are deleted;
- tab, line feed, form feed, carriage return, U+061C, U+1680, U+200B, U+200C, U+200E, U+200F,
  U+2028, U+2029, U+FEFF, U+FFFD and ``▁`` (U+2581) itself become a plain space;
- U+FF5E (fullwidth tilde) is kept, where NFKC makes it ``~``;
- about a hundred characters that Unicode 14 leaves unassigned are mapped by sentencepiece's
  newer tables (U+A7F1 becomes ``S``).

Everything else maps as NFKC maps it. U+200D (zero-width joiner, inside emoji sequences) is kept.
"""

from __future__ import annotations

import struct
from array import array

from tokbook.sentencepiece.model import ModelFileError

__all__ = ["CharsMap"]


class CharsMap:
    """Longest-match rewriting with a model's ``precompiled_charsmap``."""

    def __init__(self, blob: bytes):
        if len(blob) <= 4:
            raise self._broken("too short")
        (trie_size,) = struct.unpack("<I", blob[:4])
        if trie_size >= len(blob) or trie_size % 4:
            raise self._broken(f"a trie of {trie_size} bytes in a blob of {len(blob)}")
        self._units = array("I", blob[4 : 4 + trie_size])
        if array("I").itemsize != 4 or struct.pack("=I", 1) != struct.pack("<I", 1):
            raise ModelFileError("reading a character map needs a little-endian machine with 32-bit unsigned ints")
        self._strings = blob[4 + trie_size :]

    @staticmethod
    def _broken(why: str) -> ModelFileError:
        return ModelFileError(
            f"the precompiled character map is broken ({why}); the .model file is damaged, "
            "so train or download it again"
        )

    def rewrite(self, text: str, i: int) -> tuple[str, int] | None:
        """The longest rule at character ``i`` of ``text``: ``(replacement, characters used)``.

        The trie is walked over the UTF-8 bytes of the text, one character after another, until
        a byte has no edge; the last leaf seen ends the longest rule.
        """
        units = self._units
        best = None
        try:
            node = _offset(units[0])
            for j in range(i, len(text)):
                for byte in text[j].encode("utf-8"):
                    node ^= byte
                    unit = units[node]
                    if unit & 0x800000FF != byte:  # the unit's label must be this byte
                        return self._replacement(best)
                    node ^= _offset(unit)
                    if (unit >> 8) & 1:  # a leaf follows: a rule ends here
                        best = (j + 1 - i, units[node] & 0x7FFFFFFF)
        except IndexError:
            raise self._broken("the trie points outside itself") from None
        return self._replacement(best)

    def _replacement(self, best: tuple[int, int] | None) -> tuple[str, int] | None:
        if best is None:
            return None
        chars, offset = best
        end = self._strings.find(b"\0", offset)
        if offset >= len(self._strings) or end < 0:
            raise self._broken("a replacement runs past the end")
        return self._strings[offset:end].decode("utf-8", errors="replace"), chars


def _offset(unit: int) -> int:
    """Where a unit's children start, relative to it (darts-clone packs it in bits 10..31)."""
    return unit >> 10 << ((unit & 0x200) >> 6)
