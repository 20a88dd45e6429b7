"""Training a SentencePiece-style BPE model over code points (after ``src/bpe_model_trainer.cc``).

The steps, as sentencepiece's trainer takes them:

1. Normalize every line (``▁`` for spaces, the dummy prefix) and count each character.
2. **Character coverage.** Sort the characters by count (ties: lower code point first) and keep
   the shortest prefix of that list whose occurrences make up at least ``character_coverage`` of
   all character occurrences (``▁`` included). Exactly: character ``k`` of the list is kept when
   the characters before it cover less than ``character_coverage`` of the occurrences. The others
   become unknown: no piece may contain them, and encoding falls back to bytes or ``<unk>``.
   A tab is a character like any other here, as in sentencepiece 0.2.3 (later versions reserve
   it as a boundary marker: never kept, never merged).
3. Cut lines into words at ``▁`` (a word starts with its ``▁``) and count the words.
4. Merge, again and again, the adjacent pair of symbols that occurs most often (counting every
   adjacent occurrence, weighted by word counts); ties go to the shorter merged piece, then to the
   smaller string. A pair is a candidate only if the merged piece is valid: at most
   ``max_sentencepiece_length`` characters, ``▁`` only at its start, no unknown character, one
   Unicode script (Hiragana and Katakana count as Han; combining marks take the script before
   them), and with ``split_digits`` no digit in a piece longer than one character. Two pairs that
   spell the same piece (``aa`` + ``a`` and ``a`` + ``aa``) add it once: the later one is dropped.
5. The vocabulary: ``<unk>``, ``<s>``, ``</s>``, the 256 byte pieces with ``byte_fallback``, then
   the merged pieces (piece ``i`` scores ``-i``), then the kept characters by count.

sentencepiece itself, for speed, looks for the best pair only among the most frequent 5% of
pairs, refreshed every 100 merges; this trainer always takes the true best.

>>> model = train_bpe(["low lower lowest", "new newer newest"] * 5, vocab_size=25)
>>> [p.piece for p in model.pieces[3:9]]
['we', 'lo', 'ne', '▁lo', '▁ne', 'st']

``we`` occurs 20 times (lo-we-r, lo-we-st, ne-we-r, ne-we-st); then many pairs tie at 15 and the
smaller string wins (``▁`` sorts after ASCII). sentencepiece trains exactly these pieces.

"""

from __future__ import annotations

import heapq
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

import regex

from tokbook.sentencepiece.model import Model, Piece
from tokbook.sentencepiece.normalize import SPACE
from tokbook.sentencepiece.processor import byte_piece
from tokbook.sentencepiece.unigram import f32

__all__ = ["CoverageReport", "character_coverage", "train_bpe"]

UNKNOWN = None  # stands for a character outside the coverage

# Scripts told apart by regex's \p{...}; a character in none of them is named by the first word of
# its Unicode name (e.g. "CANADIAN"), which keeps letters of one script together.
_SCRIPTS = (
    "Common Inherited Latin Greek Cyrillic Armenian Hebrew Arabic Syriac Thaana Nko Devanagari "
    "Bengali Gurmukhi Gujarati Oriya Tamil Telugu Kannada Malayalam Sinhala Thai Lao Tibetan "
    "Myanmar Georgian Hangul Ethiopic Cherokee Khmer Mongolian Hiragana Katakana Bopomofo Han Yi"
).split()
_SCRIPT_PATTERN = regex.compile("|".join(f"(?P<{name}>\\p{{Script={name}}})" for name in _SCRIPTS))


@lru_cache(maxsize=None)
def script(char: str) -> str:
    """The script of ``char`` as the trainer groups them (Hiragana and Katakana count as Han)."""
    if char in "\u30fc":  # the Katakana long vowel mark
        return "Han"
    match = _SCRIPT_PATTERN.match(char)
    name = match.lastgroup if match else unicodedata.name(char, "UNKNOWN").split(" ")[0]
    return "Han" if name in ("Hiragana", "Katakana") else name


@dataclass(frozen=True)
class CoverageReport:
    """Which characters ``character_coverage`` keeps, and what share of occurrences they cover."""

    kept: dict[str, int]  # character -> count, most frequent first
    dropped: dict[str, int]
    covered: float  # share of all character occurrences that kept characters make up


def character_coverage(counts: Counter, coverage: float) -> CoverageReport:
    """Keep the most frequent characters until they cover ``coverage`` of all occurrences.

    >>> report = character_coverage(Counter({"a": 90, "b": 9, "c": 1}), 0.95)
    >>> list(report.kept), list(report.dropped), report.covered
    (['a', 'b'], ['c'], 0.99)
    """
    total = sum(counts.values())
    kept, dropped = {}, {}
    seen = 0  # occurrences of the characters taken so far
    covered_enough = False
    for char, count in sorted(counts.items(), key=lambda item: (-item[1], item[0])):
        # sentencepiece compares in 32-bit floats; so do we, to draw the line where it does.
        covered_enough = covered_enough or f32(seen / total) >= f32(coverage)
        if covered_enough:
            dropped[char] = count
            continue
        seen += count
        kept[char] = count
    return CoverageReport(kept, dropped, sum(kept.values()) / total if total else 1.0)


def train_bpe(
    lines: Iterable[str],
    vocab_size: int,
    *,
    character_coverage: float = 0.9995,
    byte_fallback: bool = False,
    split_digits: bool = False,
    max_sentencepiece_length: int = 16,
    split_by_unicode_script: bool = True,
    add_dummy_prefix: bool = True,
    remove_extra_whitespaces: bool = True,
    max_sentence_length: int = 4192,
) -> Model:
    """Train a BPE :class:`~tokbook.sentencepiece.model.Model` on ``lines`` (identity normalization).

    Lines longer than ``max_sentence_length`` UTF-8 bytes are skipped, as sentencepiece skips them.
    """
    meta, report, counts, valid = prepare(
        lines, vocab_size, character_coverage=character_coverage, byte_fallback=byte_fallback,
        split_digits=split_digits, max_sentencepiece_length=max_sentencepiece_length,
        split_by_unicode_script=split_by_unicode_script, add_dummy_prefix=add_dummy_prefix,
        remove_extra_whitespaces=remove_extra_whitespaces, max_sentence_length=max_sentence_length,
    )
    merges_wanted = vocab_size - len(meta) - len(report.kept)
    words = _words(counts, report.kept)
    merged = _merge(words, merges_wanted, valid)
    pieces = meta + [Piece(p, -float(i), "normal") for i, p in enumerate(merged)]
    pieces += [Piece(c, -float(len(merged) + i), "normal") for i, c in enumerate(report.kept)]
    return Model(
        pieces=pieces,
        model_type="bpe",
        byte_fallback=byte_fallback,
        split_digits=split_digits,
        normalizer_name="identity",
        add_dummy_prefix=add_dummy_prefix,
        remove_extra_whitespaces=remove_extra_whitespaces,
        trainer_options={
            "vocab_size": vocab_size,
            "character_coverage": character_coverage,
            "covered": report.covered,
            "max_sentencepiece_length": max_sentencepiece_length,
        },
    )


def prepare(
    lines: Iterable[str],
    vocab_size: int,
    *,
    character_coverage: float,
    byte_fallback: bool,
    split_digits: bool,
    max_sentencepiece_length: int,
    split_by_unicode_script: bool,
    add_dummy_prefix: bool,
    remove_extra_whitespaces: bool,
    max_sentence_length: int,
):
    """What BPE and Unigram training share: steps 1 and 2, the special pieces, the piece rule.

    Returns the special pieces, the :class:`CoverageReport`, the count of each normalized line and
    the function that tells whether a piece is valid.
    """
    if not 0.0 < character_coverage <= 1.0:
        raise ValueError(f"character_coverage is a share of character occurrences in (0, 1], not {character_coverage}")
    if max_sentencepiece_length < 1:
        raise ValueError(f"max_sentencepiece_length must be at least 1, not {max_sentencepiece_length}")
    kept_lines: Counter = Counter()
    for line in lines:
        if not isinstance(line, str):
            raise TypeError(f"training takes lines of text (str), not {type(line).__name__}")
        # A code point is at most 4 UTF-8 bytes: encode only the lines that may be too long.
        if 4 * len(line) > max_sentence_length and len(line.encode("utf-8")) > max_sentence_length:
            continue
        kept_lines[line] += 1
    counts: Counter = Counter()
    for line, n in kept_lines.items():
        text = _normalize_identity(line, add_dummy_prefix, remove_extra_whitespaces)
        if text:
            counts[text] += n
    chars = Counter("".join(text * n for text, n in counts.items()))
    report = character_coverage_report(chars, character_coverage)
    meta = [Piece("<unk>", 0.0, "unknown"), Piece("<s>", 0.0, "control"), Piece("</s>", 0.0, "control")]
    if byte_fallback:
        meta += [Piece(byte_piece(b), 0.0, "byte") for b in range(256)]
    if vocab_size < len(meta) + len(report.kept):
        raise ValueError(
            f"vocab_size={vocab_size} is smaller than the {len(meta)} special pieces plus the "
            f"{len(report.kept)} characters that character_coverage={character_coverage} keeps; "
            "raise vocab_size or lower character_coverage"
        )

    def valid(piece: str) -> bool:
        if len(piece) > max_sentencepiece_length or SPACE in piece[1:]:
            return False
        previous = None
        for char in piece:
            if char == SPACE:
                continue
            if split_digits and len(piece) > 1 and unicodedata.category(char) == "Nd":
                return False
            kind = script(char)
            if kind == "Inherited":
                kind = previous
            if split_by_unicode_script and previous is not None and kind != previous:
                return False
            previous = kind
        return True

    return meta, report, counts, valid


# train_bpe's parameter of the same name hides the function
character_coverage_report = character_coverage


def _normalize_identity(line: str, add_dummy_prefix: bool, remove_extra_whitespaces: bool) -> str:
    """:func:`~tokbook.sentencepiece.normalize.normalize` with identity rules, on whole strings.

    >>> from tokbook.sentencepiece.normalize import normalize
    >>> all(_normalize_identity(t, d, r) == normalize(t, add_dummy_prefix=d, remove_extra_whitespaces=r)
    ...     for t in ["", " ", "  a  b ", "▁", "a ▁", " ▁x"] for d in (True, False) for r in (True, False))
    True
    """
    if remove_extra_whitespaces:
        line = " ".join(filter(None, line.split(" ")))
    if not line:
        return ""
    text = (SPACE if add_dummy_prefix else "") + line.replace(" ", SPACE)
    return text.rstrip(SPACE) if remove_extra_whitespaces else text


def _words(counts: Counter, kept: dict[str, int]) -> Counter:
    """Cut normalized lines into words starting at each ``▁``; unknown characters become None."""
    spelled: Counter = Counter()
    for text, n in counts.items():
        parts = text.split(SPACE)
        if parts[0]:
            spelled[parts[0]] += n
        for part in parts[1:]:
            spelled[SPACE + part] += n
    unknown = set("".join(spelled)).difference(kept)
    words: Counter = Counter()
    for word, n in spelled.items():
        if unknown.isdisjoint(word):
            words[tuple(word)] += n
        else:
            words[tuple(c if c in kept else UNKNOWN for c in word)] += n
    return words


def _merge(words: Counter, wanted: int, valid) -> list[str]:
    """The BPE loop over word counts: the most frequent valid pair first (see module docstring).

    For speed each symbol is written as one character (``chr`` of its id; id 0 is the unknown
    character), so a word is a ``str``, a pair is a two-character ``str`` and merging a pair in a
    word is ``str.replace``, which, like the merge rule, replaces left to right without overlaps.
    """
    names: list = [UNKNOWN]  # symbol id -> the piece it spells
    code: dict = {UNKNOWN: chr(0)}  # piece -> its one-character code
    texts: list[str] = []
    for word in words:
        for symbol in word:
            if symbol not in code:
                code[symbol] = chr(len(names))
                names.append(symbol)
        texts.append("".join(map(code.__getitem__, word)))
    weights = list(words.values())

    class Order(dict):
        """pair -> what orders its heap entries after the count, worked out on first use; None:
        the pair may never be merged, so neither its count nor the words that hold it are kept."""

        def __missing__(self, pair: str) -> tuple | None:
            a, b = names[ord(pair[0])], names[ord(pair[1])]
            ok = a is not UNKNOWN and b is not UNKNOWN and valid(a + b)
            self[pair] = (len(a) + len(b), a + b, a, b, pair) if ok else None
            return self[pair]

    order = Order()
    pair_count: Counter = Counter()
    where: defaultdict[str, set[int]] = defaultdict(set)  # pair -> the words that may hold it
    for w, (text, n) in enumerate(zip(texts, weights)):
        for pair in map(str.__add__, text, text[1:]):
            if order[pair]:
                pair_count[pair] += n
                where[pair].add(w)
    heap = [(-c, order[p]) for p, c in pair_count.items()]
    heapq.heapify(heap)
    merged: list[str] = []
    done: set[str] = set()
    while heap and len(merged) < wanted:
        negative, (_, piece, _, _, pair) = heapq.heappop(heap)
        if pair_count.get(pair, 0) != -negative or negative == 0:
            continue  # stale: the count changed since this entry was pushed
        if piece in done:  # spelled by an earlier pair already: drop this one
            del pair_count[pair]
            continue
        done.add(piece)
        merged.append(piece)
        new_symbol = chr(len(names))
        names.append(piece)
        delta: defaultdict = defaultdict(int)  # how each pair's count changes with this merge
        for w in where.pop(pair, ()):
            text = texts[w]
            j = text.find(pair)
            if j < 0:
                continue  # the word no longer holds the pair
            new = text.replace(pair, new_symbol)
            texts[w] = new
            n = weights[w]
            # Only pairs next to a merge change: the old ones go, the new ones come.
            if len(new) == len(text) - 1:  # one merge, at j: its left and right neighbours
                if j > 0:
                    old = text[j - 1 : j + 1]
                    if order[old]:
                        delta[old] -= n
                    fresh = new[j - 1 : j + 1]
                    if order[fresh]:
                        delta[fresh] += n
                        where[fresh].add(w)
                if j + 2 < len(text):
                    old = text[j + 1 : j + 3]
                    if order[old]:
                        delta[old] -= n
                    fresh = new[j : j + 2]
                    if order[fresh]:
                        delta[fresh] += n
                        where[fresh].add(w)
                continue
            touched = set()
            while j >= 0:
                touched.update((j - 1, j + 1))
                j = text.find(pair, j + 2)
            for k in touched:
                if 0 <= k < len(text) - 1 and order[text[k : k + 2]]:
                    delta[text[k : k + 2]] -= n
            touched.clear()
            t = new.find(new_symbol)
            while t >= 0:
                touched.update((t - 1, t))
                t = new.find(new_symbol, t + 1)
            for k in touched:
                if 0 <= k < len(new) - 1 and order[new[k : k + 2]]:
                    fresh = new[k : k + 2]
                    delta[fresh] += n
                    where[fresh].add(w)
        pair_count.pop(pair, None)
        delta.pop(pair, None)
        for p, d in delta.items():
            if d:
                count = pair_count[p] = pair_count[p] + d
                if count > 0:
                    heapq.heappush(heap, (-count, order[p]))
    return merged
