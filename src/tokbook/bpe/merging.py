"""The two steps of BPE, on lists of ids, and tiktoken's rule for encoding one pre-token.

:func:`get_stats` and :func:`merge` are the training loop's steps, written for teaching;
:func:`byte_pair_merge` is the encoding rule: merge, again and again, the adjacent pair whose
concatenation has the lowest rank.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

__all__ = ["get_stats", "merge", "byte_pair_merge"]


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


NO_RANK = 1 << 62  # stands for "this pair is not a token" so that min() can scan in C


def byte_pair_merge(piece: bytes, ranks: Mapping[bytes, int], max_rank: int | None = None) -> list[bytes]:
    """Split ``piece`` into tokens by merging, each time, the adjacent pair of lowest rank.

    With ``max_rank``, only merges into tokens of a lower rank are allowed (used to recover the
    merge that created a token). After a merge only the two neighbouring pair ranks change, so
    only those are looked up again.

    >>> byte_pair_merge(b"hello", {bytes([i]): i for i in range(256)} | {b"ll": 256, b"he": 257})
    [b'he', b'll', b'o']
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
