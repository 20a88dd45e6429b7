"""The two steps of BPE, on lists of ids, and tiktoken's rule for encoding one pre-token.

:func:`get_stats` and :func:`merge` are the training loop's steps, written for teaching;
:func:`byte_pair_merge` is the encoding rule: merge, again and again, the adjacent pair whose
concatenation has the lowest rank. It has two implementations that give the same parts: a
readable scan for short pieces and, as in tiktoken, a heap for long ones, so that no input makes
encoding quadratic (a 1 MB run of one letter is a single pre-token).
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping, Sequence

__all__ = ["get_stats", "merge", "byte_pair_merge", "scan_byte_pair_merge", "heap_byte_pair_merge"]


def get_stats(ids: Sequence[int], counts: dict[tuple[int, int], int] | None = None) -> dict[tuple[int, int], int]:
    """Count each adjacent pair in ``ids``, adding to ``counts`` if given; return the counts.

    >>> get_stats([1, 2, 3, 1, 2])
    {(1, 2): 2, (2, 3): 1, (3, 1): 1}
    """
    counts = {} if counts is None else counts
    for pair in zip(ids, ids[1:]):
        counts[pair] = counts.get(pair, 0) + 1
    return counts


def merge(ids: Sequence[int], pair: tuple[int, int], idx: int) -> list[int]:
    """Return a new list in which every occurrence of ``pair`` is replaced by ``idx``.

    Occurrences are taken left to right and do not overlap, so ``aaa`` holds one ``aa``.
    The input is not modified.

    >>> merge([1, 2, 3, 1, 2], (1, 2), 4)
    [4, 3, 4]
    >>> merge([7, 7, 7], (7, 7), 8)
    [8, 7]
    """
    out, i, n = [], 0, len(ids)
    while i < n:
        if i + 1 < n and ids[i] == pair[0] and ids[i + 1] == pair[1]:
            out.append(idx)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


NO_RANK = 1 << 62  # stands for "this pair is not a token"; greater than every rank

#: Pieces of at least this many bytes are merged with heaps. Below it the scan is faster in
#: CPython (measured: the two cross between 24 and 32 bytes; tiktoken's Rust code, where a
#: short scan is cheap for the cache, switches at 100).
HEAP_FROM = 32


def byte_pair_merge(piece: bytes, ranks: Mapping[bytes, int], max_rank: int | None = None) -> list[bytes]:
    """Split ``piece`` into tokens by merging, each time, the adjacent pair of lowest rank
    (the leftmost of equal ranks), until no adjacent pair is a token.

    With ``max_rank``, only merges into tokens of a lower rank are allowed (used to recover the
    merge that created a token). Short pieces use :func:`scan_byte_pair_merge`, the rule as
    written; long ones :func:`heap_byte_pair_merge`, which gives the same parts in n log n time.

    >>> byte_pair_merge(b"hello", {bytes([i]): i for i in range(256)} | {b"ll": 256, b"he": 257})
    [b'he', b'll', b'o']
    """
    if len(piece) < HEAP_FROM:
        return scan_byte_pair_merge(piece, ranks, max_rank)
    return heap_byte_pair_merge(piece, ranks, max_rank)


def scan_byte_pair_merge(piece: bytes, ranks: Mapping[bytes, int], max_rank: int | None = None) -> list[bytes]:
    """:func:`byte_pair_merge` as written: keep the rank of every adjacent pair in a list, and
    each time scan it for the lowest. After a merge only the two neighbouring pair ranks change,
    so only those are looked up again; but the scan makes the whole quadratic in the length.
    """
    get = ranks.get
    starts = list(range(len(piece) + 1))  # part i is piece[starts[i]:starts[i + 1]]
    pair_ranks = [get(piece[i:i + 2], NO_RANK) for i in range(len(piece) - 1)]
    limit = NO_RANK if max_rank is None else max_rank
    while pair_ranks:
        best = min(pair_ranks)
        if best >= limit:
            break
        i = pair_ranks.index(best)  # the leftmost of equal ranks, as in tiktoken
        del starts[i + 1]
        del pair_ranks[i]
        if i < len(pair_ranks):
            pair_ranks[i] = get(piece[starts[i]:starts[i + 2]], NO_RANK)
        if i > 0:
            pair_ranks[i - 1] = get(piece[starts[i - 1]:starts[i + 1]], NO_RANK)
    return [piece[a:b] for a, b in zip(starts, starts[1:])]


def heap_byte_pair_merge(piece: bytes, ranks: Mapping[bytes, int], max_rank: int | None = None) -> list[bytes]:
    """:func:`byte_pair_merge` in O(n log n): the same parts as :func:`scan_byte_pair_merge`.

    The parts form a linked list over byte positions: the part that starts at ``i`` ends at
    ``end[i]``, and ``before[i]`` is where the part before it starts; ``pair[i]`` is the rank
    of the pair that starts at part ``i``. The candidate pairs wait in two levels of min-heaps:
    ``lowest`` holds each rank that has candidates, and ``starts[rank]`` the start of each
    candidate with that rank, so the lowest rank comes first and, among equal ranks, the
    leftmost pair, as in tiktoken. (Two levels rather than one heap of (rank, start): the heaps
    stay small, which CPython pops faster.) A merge changes at most two pairs: it pushes them
    anew and leaves their old entries behind, where an entry whose rank no longer matches
    ``pair`` is stale and is skipped when popped. Every current pair has its entry, so the first
    entry that still matches is the pair the scan would choose. Each merge pushes at most two
    entries, so there are never more than 3n, and each heap operation costs log n.
    """
    get = ranks.get
    n = len(piece)
    limit = NO_RANK if max_rank is None else max_rank
    end = list(range(1, n + 1))
    before = list(range(-1, n - 1))
    pair = [get(piece[i:i + 2], NO_RANK) for i in range(n - 1)] + [NO_RANK]
    starts: dict[int, list[int]] = {}
    for i, rank in enumerate(pair):
        if rank < limit:
            starts.setdefault(rank, []).append(i)  # in increasing order, so each list is a heap
    lowest = list(starts)
    heapq.heapify(lowest)
    pop, push = heapq.heappop, heapq.heappush

    def candidate(rank: int, start: int) -> None:
        if rank < limit:
            waiting = starts.get(rank)
            if waiting is None:
                starts[rank] = [start]
                push(lowest, rank)
            else:
                push(waiting, start)

    while lowest:
        rank = lowest[0]
        waiting = starts[rank]
        if not waiting:
            pop(lowest)
            del starts[rank]
            continue
        i = pop(waiting)
        if pair[i] != rank:
            continue  # stale
        right = end[i]
        k = end[i] = end[right]  # part i now ends where its right neighbour ended
        pair[right] = NO_RANK  # that neighbour is gone
        rank = NO_RANK
        if k < n:
            before[k] = i
            rank = get(piece[i:end[k]], NO_RANK)
        pair[i] = rank
        candidate(rank, i)
        if i:
            h = before[i]
            rank = pair[h] = get(piece[h:k], NO_RANK)
            candidate(rank, h)
    parts, i = [], 0
    while i < n:
        parts.append(piece[i:end[i]])
        i = end[i]
    return parts
