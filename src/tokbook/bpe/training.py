"""Training byte-level BPE: count pre-tokens once (in parallel), then merge with pair counts
that are updated incrementally.

**How ties are broken.** Each step merges the most frequent adjacent pair; when several pairs
are equally frequent, the pair whose byte strings are lexicographically greater, compared as the
tuple ``(bytes of left, bytes of right)``, wins. The result depends only on the text and the
pattern, never on dictionary order, worker count or platform.
"""

from __future__ import annotations

import heapq
import os
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import regex

from tokbook.bpe.merging import merge
from tokbook.bpe.pretokenize import PATTERNS, cut_at_line_ends, special_regex

__all__ = ["SEGMENT_CHARS", "segments", "count_pretokens", "train_merges"]

#: Training input is cut into segments of about this many characters, at line starts, so that
#: pre-tokens can be counted in parallel (the cut points do not depend on the number of workers).
SEGMENT_CHARS = 1 << 20


def segments(source: str | Iterable[str] | os.PathLike, pattern: str | None,
             special_tokens: Iterable[str] = ()) -> Iterator[str]:
    """Yield the training text as segments that can be pre-tokenized independently.

    ``source`` is a string, an iterable of strings (documents) or the path of a UTF-8 file (read
    in blocks). Special tokens are cut out. For the built-in patterns, long texts are also cut
    where the encoder cuts (:func:`~tokbook.bpe.pretokenize.cut_at_line_ends`), which changes
    no pre-token; other patterns are only cut at special tokens and between documents.
    """
    specials = frozenset(special_tokens)
    if isinstance(source, os.PathLike):
        yield from _file_segments(Path(source), pattern, specials)
        return
    if isinstance(source, bytes):
        raise TypeError("train() takes text, not bytes; decode it first (bytes.decode('utf-8'))")
    documents = [source] if isinstance(source, str) else source
    for document in documents:
        if not isinstance(document, str):
            raise TypeError(f"train() takes strings, got an item of type {type(document).__name__}")
        yield from _cut(document, pattern, specials)


def _file_segments(path: Path, pattern: str | None, specials: frozenset[str]) -> Iterator[str]:
    if not path.is_file():
        raise FileNotFoundError(f"no training file at {path}")
    carry = ""
    with open(path, encoding="utf-8") as f:
        while block := f.read(SEGMENT_CHARS):
            text = carry + block
            # Keep back what follows the last safe cut (and any unfinished special token).
            cut = len(text) - len(cut_at_line_ends(text)[-1]) if pattern in PATTERNS.values() else 0
            yield from _cut(text[:cut], pattern, specials)
            carry = text[cut:]
    yield from _cut(carry, pattern, specials)


def _cut(text: str, pattern: str | None, specials: frozenset[str]) -> list[str]:
    """Cut text at special tokens (dropping them) and, within, into ~1M-character segments."""
    found = special_regex(specials)
    out = []
    for piece in (found.split(text)[::2] if found is not None else [text]):
        if pattern not in PATTERNS.values() or len(piece) <= SEGMENT_CHARS:
            out.append(piece)
            continue
        current, size = [], 0
        for part in cut_at_line_ends(piece):
            current.append(part)
            size += len(part)
            if size >= SEGMENT_CHARS:
                out.append("".join(current))
                current, size = [], 0
        out.append("".join(current))
    return [s for s in out if s]


def _count_batch(args: tuple[str | None, list[str]]) -> Counter:
    """Count the pre-tokens of some text segments (runs in a worker process)."""
    pattern, batch = args
    counts: Counter = Counter()
    if pattern is None:
        counts.update(s for s in batch if s)
    else:
        findall = regex.compile(pattern).findall
        for segment in batch:
            counts.update(findall(segment))
    return counts


def count_pretokens(source: str | Iterable[str] | os.PathLike, pattern: str | None,
                    special_tokens: Iterable[str] = (), workers: int = 1) -> Counter:
    """Count every pre-token of the training text, in ``workers`` processes."""
    batches, batch, size = [], [], 0
    for segment in segments(source, pattern, special_tokens):
        batch.append(segment)
        size += len(segment)
        if size >= SEGMENT_CHARS:
            batches.append((pattern, batch))
            batch, size = [], 0
    if batch:
        batches.append((pattern, batch))
    counts: Counter = Counter()
    if workers == 1 or len(batches) <= 1:
        for job in batches:
            counts.update(_count_batch(job))
    else:
        with ProcessPoolExecutor(max_workers=min(workers, len(batches))) as pool:
            for part in pool.map(_count_batch, batches):
                counts.update(part)
    return counts


class _Greater:
    """Orders values in reverse, so that a min-heap pops the greatest first."""

    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value

    def __lt__(self, other: "_Greater") -> bool:
        return self.value > other.value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Greater) and self.value == other.value


def train_merges(counts: Mapping[str, int], vocab_size: int, *, verbose: bool = False
                  ) -> tuple[dict[int, bytes], dict[tuple[int, int], int]]:
    """Merge until the vocabulary has ``vocab_size`` tokens (or no pair is left), from pre-token
    counts, updating the pair counts incrementally after each merge."""
    vocab = {i: bytes([i]) for i in range(256)}
    by_bytes = {token: i for i, token in vocab.items()}
    words = [list(piece.encode("utf-8")) for piece in counts]
    freqs = list(counts.values())

    stats: dict[tuple[int, int], int] = {}
    where: dict[tuple[int, int], set[int]] = {}
    for w, (word, freq) in enumerate(zip(words, freqs)):
        for pair in zip(word, word[1:]):
            stats[pair] = stats.get(pair, 0) + freq
            where.setdefault(pair, set()).add(w)

    def entry(pair):
        return (-stats[pair], _Greater((vocab[pair[0]], vocab[pair[1]])), pair)

    heap = [entry(pair) for pair in stats]
    heapq.heapify(heap)

    progress = None
    if verbose:
        from tqdm import tqdm

        progress = tqdm(total=vocab_size - len(vocab), unit="token", desc="training BPE")
    merges: dict[tuple[int, int], int] = {}
    while len(vocab) < vocab_size and heap:
        neg, _, pair = heapq.heappop(heap)
        if stats.get(pair, 0) != -neg or -neg <= 0:
            continue  # a stale entry: the count changed after it was pushed
        token = vocab[pair[0]] + vocab[pair[1]]
        # Two different pairs can spell the same bytes ("a"+"bc", "ab"+"c"): reuse the id then.
        idx = by_bytes.get(token, len(vocab))
        merges[pair] = idx
        vocab[idx] = by_bytes[token] = token
        a, b = pair
        changed: dict[tuple[int, int], int] = {}
        for w in where.pop(pair):
            word = words[w]
            if len(word) < 2:
                continue
            freq = freqs[w]
            new = merge(word, pair, idx) if a in word else word
            if len(new) == len(word):
                continue
            for p in zip(word, word[1:]):
                changed[p] = changed.get(p, 0) - freq
            for p in zip(new, new[1:]):
                changed[p] = changed.get(p, 0) + freq
                where.setdefault(p, set()).add(w)
            words[w] = new
        for p, delta in changed.items():
            if delta:
                stats[p] = stats.get(p, 0) + delta
                if stats[p] > 0:
                    heapq.heappush(heap, entry(p))
                else:
                    del stats[p]
        stats.pop(pair, None)
        if progress is not None:
            progress.update(len(vocab) - 256 - progress.n)
    if progress is not None:
        progress.close()
    return vocab, merges
