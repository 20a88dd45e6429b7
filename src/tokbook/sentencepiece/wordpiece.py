"""WordPiece, BERT's tokenizer: greedy longest-match-first with ``##`` continuations.

Text is first cut into words (BERT's pre-tokenizer: split at white space, and every punctuation
character is a word of its own). Then each word is cut left to right, always taking the longest
vocabulary entry that matches; every piece after the first is looked up with the prefix ``##``
(``"playing"`` -> ``play``, ``##ing``). If at some point nothing matches, the **whole word**
becomes ``[UNK]``, not just the part that failed. A word longer than
``max_input_chars_per_word`` characters is ``[UNK]`` without trying.

This is what Hugging Face ``tokenizers`` does with ``models.WordPiece`` and
``pre_tokenizers.BertPreTokenizer``; the tests check it id for id on a vocabulary its
``WordPieceTrainer`` learned. As there, special tokens (``[CLS]``, ``[SEP]``, ...) that appear in
the text are matched first and kept whole.

>>> wp = WordPiece({"[UNK]": 0, "play": 1, "##ing": 2, "##ed": 3, "un": 4, "##play": 5, "!": 6})
>>> wp.tokenize("unplayed playing!")
['un', '##play', '##ed', 'play', '##ing', '!']
>>> wp.tokenize("player")  # "play" matches, then nothing matches "er": the whole word is lost
['[UNK]']
>>> wp.encode("playing")
[1, 2]
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections import Counter
from collections.abc import Collection, Mapping

__all__ = ["WHITE_SPACE", "WordPiece", "first_merge_candidates", "pre_tokenize"]

# The characters with Unicode's White_Space property (what Rust's char::is_whitespace tests;
# Python's str.isspace also accepts the separators U+001C..U+001F, which BERT keeps in words).
WHITE_SPACE = frozenset(
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)


def _is_punctuation(char: str) -> bool:
    """BERT's punctuation: ASCII punctuation (which includes symbols like ``$``) or Unicode P*."""
    return char in string.punctuation or unicodedata.category(char).startswith("P")


def pre_tokenize(text: str) -> list[str]:
    """Cut text into words at white space; each punctuation character is a word.

    >>> pre_tokenize("Hello, world!  (twice)")
    ['Hello', ',', 'world', '!', '(', 'twice', ')']
    """
    words: list[str] = []
    current: list[str] = []
    for char in text:
        if char in WHITE_SPACE or _is_punctuation(char):
            if current:
                words.append("".join(current))
                current = []
            if char not in WHITE_SPACE:
                words.append(char)
        else:
            current.append(char)
    if current:
        words.append("".join(current))
    return words


class WordPiece:
    """A WordPiece vocabulary (token -> id) and its greedy longest-match tokenizer."""

    def __init__(
        self,
        vocab: Mapping[str, int],
        *,
        unk_token: str = "[UNK]",
        continuing_subword_prefix: str = "##",
        max_input_chars_per_word: int = 100,
        special_tokens: Collection[str] = (),
    ):
        if not isinstance(vocab, Mapping):
            raise TypeError(f"vocab maps tokens to ids (a dict), not {type(vocab).__name__}")
        if unk_token not in vocab:
            raise ValueError(
                f"the vocabulary has no {unk_token!r}, which words without a segmentation need; "
                "add it or pass unk_token= the one it has"
            )
        if max_input_chars_per_word < 1:
            raise ValueError(f"max_input_chars_per_word must be at least 1, not {max_input_chars_per_word}")
        self.vocab = dict(vocab)
        self.unk_token = unk_token
        self.prefix = continuing_subword_prefix
        self.max_input_chars_per_word = max_input_chars_per_word
        missing = [t for t in special_tokens if t not in self.vocab]
        if missing:
            raise ValueError(f"special tokens {missing} are not in the vocabulary; add them or leave them out")
        # Longest first, so that of two special tokens starting at the same place the longer wins.
        self._special = (
            re.compile("|".join(map(re.escape, sorted(special_tokens, key=len, reverse=True))))
            if special_tokens
            else None
        )
        self._tokens = {id: token for token, id in self.vocab.items()}
        self._longest = max(map(len, self.vocab))

    def tokenize_word(self, word: str) -> list[str]:
        """The pieces of one word, or ``[unk_token]``."""
        if len(word) > self.max_input_chars_per_word:
            return [self.unk_token]
        pieces = []
        start = 0
        while start < len(word):
            prefix = self.prefix if start > 0 else ""
            # Longest first: try every end from the furthest the vocabulary allows.
            for end in range(min(len(word), start + self._longest), start, -1):
                if prefix + word[start:end] in self.vocab:
                    pieces.append(prefix + word[start:end])
                    start = end
                    break
            else:
                return [self.unk_token]
        return pieces

    def tokenize(self, text: str) -> list[str]:
        if not isinstance(text, str):
            raise TypeError(f"tokenize takes a str, not {type(text).__name__}")
        pieces: list[str] = []
        start = 0
        for match in self._special.finditer(text) if self._special else ():
            pieces += self._tokenize_plain(text[start : match.start()])
            pieces.append(match.group())
            start = match.end()
        return pieces + self._tokenize_plain(text[start:])

    def _tokenize_plain(self, text: str) -> list[str]:
        return [piece for word in pre_tokenize(text) for piece in self.tokenize_word(word)]

    def encode(self, text: str) -> list[int]:
        return [self.vocab[piece] for piece in self.tokenize(text)]

    def id_to_token(self, id: int) -> str:
        if id not in self._tokens:
            raise IndexError(f"id {id} is not in this vocabulary of {len(self.vocab)} tokens")
        return self._tokens[id]

    def token_to_id(self, token: str) -> int | None:
        """The id of ``token``, or ``None`` when the vocabulary does not have it (as HF does)."""
        return self.vocab.get(token)


def first_merge_candidates(word_counts: Mapping[str, int], prefix: str = "##") -> list[tuple[str, str, int, float]]:
    """Every pair of neighbouring symbols before the first merge, with two ways to rank it.

    Words start as characters, ``##`` on all but the first. For each pair ``(a, b)``: its count
    and the score that Google's WordPiece paper describes, ``count(ab) / (count(a) * count(b))``,
    which prefers pairs whose parts rarely occur apart. Sorted by count, then by score.

    Hugging Face's ``WordPieceTrainer`` does not use that score: it merges by count, like BPE
    (the tests show it on a corpus where the two disagree).

    >>> for a, b, count, score in first_merge_candidates({"aaaa": 10, "xy": 10}):
    ...     print(a, b, count, round(score, 3))
    ##a ##a 20 0.022
    x ##y 10 0.1
    a ##a 10 0.033
    """
    symbols: Counter = Counter()
    pairs: Counter = Counter()
    for word, n in word_counts.items():
        chars = [word[0]] + [prefix + c for c in word[1:]] if word else []
        for c in chars:
            symbols[c] += n
        for pair in zip(chars, chars[1:]):
            pairs[pair] += n
    ranked = [(a, b, c, c / (symbols[a] * symbols[b])) for (a, b), c in pairs.items()]
    return sorted(ranked, key=lambda item: (-item[2], -item[3], item[0], item[1]))
