"""SentencePiece BPE encoding: merge code points by piece score (``src/bpe_model.cc``).

Unlike tiktoken's byte-level BPE, there is no merge list and no pre-tokenizer: the normalized
text is cut into code points (a user-defined piece stays one frozen symbol), and then, again and
again, the two neighbours whose concatenation is a piece of the vocabulary with the **highest
score** are merged. Ties go to the **leftmost** pair. A trained BPE model scores each piece with
minus its merge order (in Mistral's model ``▁t`` scores -2, ``in`` -3, ``er`` -4), so this
replays the merges in training order. Nothing stops a merge at a space: a ``▁`` rarely appears
after the start of a piece only because training made few such pieces (Mistral's ``▁▁`` and
``▁▁▁▁`` are whitespace-only pieces, scored -1e9).

A piece of type ``unused`` may be formed by a merge, but at the end it is split back into the two
symbols that formed it (recursively), as sentencepiece's "resegmentation" does.

>>> scores = {"a": -1.0, "b": -2.0, "ab": -0.5, "ba": -0.5, "abb": -0.1}
>>> bpe_segment("abba", scores)
['abb', 'a']
>>> bpe_segment("bab", scores)  # "ba" and "ab" tie: the left pair wins
['ba', 'b']
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Collection, Mapping

__all__ = ["bpe_segment"]


def bpe_segment(
    text: str,
    scores: Mapping[str, float],
    *,
    frozen: Collection[str] = (),
    unused: Collection[str] = (),
    dropout: float = 0.0,
    rng: random.Random | None = None,
) -> list[str]:
    """Cut normalized ``text`` into pieces by merging neighbours with the best-scoring result.

    ``scores`` maps each piece that merges may produce (types normal, user-defined and unused) to
    its score. ``frozen``: user-defined pieces, matched longest first and never merged further.
    ``unused``: pieces that merges may form but that the output splits again.
    Symbols that are not in ``scores`` (unknown characters) are returned as they are.
    ``dropout`` (BPE-dropout, sentencepiece's sampling for BPE): each merge that would be made is
    skipped with this probability, drawn from ``rng``.
    """
    starts = _initial_symbols(text, frozen)
    if not starts:
        return []
    n = len(starts)
    # A doubly linked list of symbols over text[start[i]:end[i]]; merged-away symbols are
    # marked by start == end.
    start = starts
    end = starts[1:] + [len(text)]
    prev = list(range(-1, n - 1))
    next_ = list(range(1, n)) + [-1]
    is_frozen = [text[s:e] in frozen for s, e in zip(start, end)] if frozen else [False] * n
    # Which two symbols formed an unused piece (the latest candidate pair recorded wins).
    halves: dict[str, tuple[str, str]] = {}
    agenda: list[tuple[float, int, int, int]] = []

    def push(left: int, right: int) -> None:
        if left < 0 or right < 0 or is_frozen[left] or is_frozen[right]:
            return
        piece = text[start[left] : end[right]]
        score = scores.get(piece)
        if score is None:
            return
        # heapq pops the smallest: best score first, then the leftmost pair.
        heapq.heappush(agenda, (-score, left, right, end[right] - start[left]))
        if piece in unused:
            halves[piece] = (text[start[left] : end[left]], text[start[right] : end[right]])

    for i in range(1, n):
        push(i - 1, i)

    while agenda:
        _, left, right, length = heapq.heappop(agenda)
        # A stale entry: one side was merged away or grew since it was pushed.
        if start[left] == end[left] or start[right] == end[right]:
            continue
        if (end[left] - start[left]) + (end[right] - start[right]) != length:
            continue
        if dropout and (dropout >= 1.0 or rng.random() < dropout):
            continue
        end[left] = end[right]
        start[right] = end[right]
        next_[left] = next_[right]
        if next_[right] >= 0:
            prev[next_[right]] = left
        push(prev[left], left)
        push(left, next_[left])

    pieces: list[str] = []
    i = 0
    while i != -1:
        _split_unused(text[start[i] : end[i]], unused, halves, pieces)
        i = next_[i]
    return pieces


def _initial_symbols(text: str, frozen: Collection[str]) -> list[int]:
    """Start offsets of the first symbols: code points, or a whole user-defined piece."""
    if not frozen:
        return list(range(len(text)))
    longest = max(map(len, frozen))
    starts = []
    i = 0
    while i < len(text):
        starts.append(i)
        i += next(
            (k for k in range(min(longest, len(text) - i), 1, -1) if text[i : i + k] in frozen), 1
        )
    return starts


def _split_unused(
    piece: str, unused: Collection[str], halves: Mapping[str, tuple[str, str]], out: list[str]
) -> None:
    if piece in unused and piece in halves:
        left, right = halves[piece]
        _split_unused(left, unused, halves, out)
        _split_unused(right, unused, halves, out)
    else:
        out.append(piece)
