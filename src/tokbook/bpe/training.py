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
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import regex

from tokbook.bpe.pretokenize import PATTERNS, cut_at_line_ends, special_regex
from tokbook.bpe.textfile import read_blocks

__all__ = ["SEGMENT_CHARS", "segments", "count_pretokens", "train_merges"]

#: Training input is cut into segments of about this many characters, at line starts, so that
#: pre-tokens can be counted in parallel (the cut points do not depend on the number of workers).
SEGMENT_CHARS = 1 << 20


def segments(source: str | Iterable[str] | os.PathLike, pattern: str | None,
             special_tokens: Iterable[str] = ()) -> Iterator[str]:
    """Yield the training text as segments that can be pre-tokenized independently.

    ``source`` is a string, an iterable of strings (documents) or the path of a UTF-8 file (read
    in blocks, as it is: ``\\r\\n`` stays; see :func:`~tokbook.bpe.textfile.read_blocks` for
    its errors). Special tokens are cut out. For the built-in patterns, long texts are also cut
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
    carry = ""
    for block in read_blocks(path, SEGMENT_CHARS):
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


def _reversed_order(token: bytes) -> tuple[int, ...]:
    """A key that sorts byte strings in reverse: greater bytes give a smaller key, so that a
    min-heap pops the greatest first (the terminator 256 puts a prefix after its extensions).

    >>> sorted([b"a", b"ab", b"b"], key=_reversed_order)
    [b'b', b'ab', b'a']
    """
    return (*(255 - x for x in token), 256)


def train_merges(counts: Mapping[str, int], vocab_size: int, *, verbose: bool = False
                  ) -> tuple[dict[int, bytes], dict[tuple[int, int], int]]:
    """Merge until the vocabulary has ``vocab_size`` tokens (or no pair is left), from pre-token
    counts.

    Pair counts are kept up to date, not recounted: where a merge of ``(a, b)`` into ``m``
    happens inside a pre-token, the pairs ``(left, a)`` and ``(b, right)`` with its neighbours
    lose that pre-token's count and ``(left, m)`` and ``(m, right)`` gain it, and the pre-token's
    list of ids is edited in place. Only the pre-tokens that hold the pair are visited.
    """
    vocab = {i: bytes([i]) for i in range(256)}
    by_bytes = {token: i for i, token in vocab.items()}
    order = {i: _reversed_order(token) for i, token in vocab.items()}
    words = [list(piece.encode("utf-8")) for piece in counts]
    freqs = list(counts.values())

    stats: dict[tuple[int, int], int] = {}
    where: defaultdict[tuple[int, int], set[int]] = defaultdict(set)  # pair -> pre-tokens that may hold it
    for w, (word, freq) in enumerate(zip(words, freqs)):
        for pair in zip(word, word[1:]):
            stats[pair] = stats.get(pair, 0) + freq
            where[pair].add(w)

    # Heap entries: (-count, order of the left bytes, order of the right bytes, pair), so the
    # smallest entry is the most frequent pair, ties to the greater bytes. A pair's count only
    # grows in the merge that creates its newer id, which pushes it; afterwards it only falls.
    # So no entry's count is below its pair's count, and an entry that is out of date is pushed
    # again, with the right count, when it reaches the top (no push for every decrease).
    heap = [(-count, order[a], order[b], (a, b)) for (a, b), count in stats.items()]
    heapq.heapify(heap)

    progress = None
    if verbose:
        from tqdm import tqdm

        progress = tqdm(total=vocab_size - len(vocab), unit="token", desc="training BPE")
    merges: dict[tuple[int, int], int] = {}
    while len(vocab) < vocab_size and heap:
        neg, key_a, key_b, pair = heapq.heappop(heap)
        count = stats.get(pair, 0)
        if count != -neg:
            if count > 0:
                heapq.heappush(heap, (-count, key_a, key_b, pair))
            continue
        a, b = pair
        token = vocab[a] + vocab[b]
        # Two different pairs can spell the same bytes ("a"+"bc", "ab"+"c"): reuse the id then.
        idx = by_bytes.get(token, len(vocab))
        merges[pair] = idx
        vocab[idx] = by_bytes[token] = token
        order[idx] = _reversed_order(token)
        changes = _merge_in_place(pair, idx, where.pop(pair), words, freqs, where)
        del stats[pair]
        for p, delta in changes.items():
            count = stats.get(p, 0) + delta
            if count > 0:
                stats[p] = count
                if delta > 0:
                    heapq.heappush(heap, (-count, order[p[0]], order[p[1]], p))
            else:
                stats.pop(p, None)
                where.pop(p, None)
        if progress is not None:
            progress.update(len(vocab) - 256 - progress.n)
    if progress is not None:
        progress.close()
    return vocab, merges


def _merge_in_place(pair: tuple[int, int], idx: int, holders: Iterable[int], words: list[list[int]],
                    freqs: list[int], where: defaultdict[tuple[int, int], set[int]]) -> dict[tuple[int, int], int]:
    """Replace ``pair`` by ``idx`` in the pre-tokens ``holders`` (left to right, without overlap),
    editing each list of ids in place; return how the count of each neighbouring pair changes,
    and record in ``where`` the pre-tokens that now hold a pair with ``idx``.

    >>> words, where = [[1, 2, 1, 2, 3]], defaultdict(set)
    >>> _merge_in_place((1, 2), 9, [0], words, [10], where)
    {(2, 1): -10, (9, 1): 0, (9, 9): 10, (2, 3): -10, (9, 3): 10}
    >>> words, sorted(where)
    ([[9, 9, 3]], [(9, 1), (9, 3), (9, 9)])
    """
    a, b = pair
    changes: dict[tuple[int, int], int] = {}
    get = changes.get
    for w in holders:
        word, freq = words[w], freqs[w]
        last = len(word) - 1  # an occurrence starts before the last id
        i = 0
        while True:
            try:
                i = word.index(a, i, last)
            except ValueError:
                break
            if word[i + 1] != b:
                i += 1
                continue
            # Neighbours are read after the previous occurrence was merged, so in a run such
            # as "aaaa" the left neighbour of the second "aa" is already the new token.
            if i:
                left = word[i - 1]
                changes[left, a] = get((left, a), 0) - freq
                changes[left, idx] = get((left, idx), 0) + freq
                where[left, idx].add(w)
            if i + 2 <= last:
                right = word[i + 2]
                changes[b, right] = get((b, right), 0) - freq
                changes[idx, right] = get((idx, right), 0) + freq
                where[idx, right].add(w)
            word[i] = idx
            del word[i + 1]
            last -= 1
            i += 1
    return changes
