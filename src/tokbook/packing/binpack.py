"""Bin packing: documents into rows of ``max_length`` tokens, without cutting any.

Every packer takes the document lengths and returns ``row_of_doc``, the row each document goes
to (rows numbered 0, 1, ... with none empty); :func:`tokbook.packing.pack` then builds the rows.
A packing is judged against the lower bound ``ceil(sum(lengths) / max_length)``: no packing can
use fewer rows, since every row holds at most ``max_length`` tokens.

- :func:`first_fit`: each document, in arrival order, into the first row with room for it.
- :func:`first_fit_decreasing`: the same after sorting by decreasing length.
- :func:`best_fit_decreasing`: longest first, each into the row it fills the most.
- :func:`histogram_best_fit`: best fit decreasing computed on the histogram of lengths, in time
  linear in the number of documents; the rows it builds have the same fill levels as
  :func:`best_fit_decreasing`.

>>> lengths = [4, 4, 6, 6]
>>> first_fit(lengths, 10).tolist()            # rows [4 4] [6] [6]
[0, 0, 1, 2]
>>> first_fit_decreasing(lengths, 10).tolist()  # rows [6 4] [6 4]
[0, 1, 0, 1]
>>> lower_bound(lengths, 10), efficiency(lengths, first_fit(lengths, 10), 10)
(2, 0.6666666666666666)
"""

from __future__ import annotations

import bisect

import numpy as np

from tokbook.packing import _checks

__all__ = [
    "best_fit_decreasing", "documents_cut", "efficiency", "first_fit", "first_fit_decreasing",
    "histogram_best_fit", "lower_bound", "n_rows",
]


def lower_bound(lengths, max_length: int) -> int:
    """The fewest rows any packing can use: ``ceil(sum(lengths) / max_length)``."""
    max_length = _checks.check_int(max_length, "max_length", minimum=1)
    lengths = _checks.lengths(lengths)
    return int(-(-int(lengths.sum()) // max_length))


def n_rows(row_of_doc) -> int:
    """How many rows a packing uses."""
    return int(np.max(row_of_doc)) + 1


def efficiency(lengths, row_of_doc, max_length: int) -> float:
    """The share of the rows' token slots that hold real tokens (1.0 = no padding at all)."""
    max_length = _checks.check_int(max_length, "max_length", minimum=1)
    lengths = _checks.lengths(lengths)
    row_of_doc = np.asarray(row_of_doc)
    if row_of_doc.shape != lengths.shape:
        raise ValueError(f"row_of_doc has shape {row_of_doc.shape}, lengths {lengths.shape}; one row per document")
    return int(lengths.sum()) / (n_rows(row_of_doc) * max_length)


def documents_cut(lengths, max_length: int) -> int:
    """How many documents concatenate-and-chunk cuts: laid end to end in the given order and cut
    every ``max_length`` tokens, how many cross a row boundary.

    Pass each document's length as it sits in the stream (with its end-of-text token if one is
    appended, as :func:`tokbook.packing.concat_chunk` does).

    >>> documents_cut([3, 3, 4], 5)   # rows [0 0 0 1 1] [1 2 2 2 2]: document 1 is cut
    1
    """
    max_length = _checks.check_int(max_length, "max_length", minimum=1)
    lengths = _checks.lengths(lengths)
    end = np.cumsum(lengths)
    start = end - lengths
    return int(np.count_nonzero(start // max_length != (end - 1) // max_length))


def first_fit(lengths, max_length: int) -> np.ndarray:
    """Each document, in the order given, into the first (lowest-numbered) row with room for it.

    A segment tree over the rows holds the largest free room below each node, so finding the
    first row with room takes O(log n) steps instead of a scan over every open row.
    """
    max_length = _checks.check_int(max_length, "max_length", minimum=1)
    lengths = _checks.lengths(lengths, max_length=max_length)
    n = len(lengths)
    size = 1 << max(0, (n - 1).bit_length())     # leaves: at most n rows are ever needed
    room = [max_length] * (2 * size)             # room[node] = largest free room in its subtree
    row_of_doc = np.empty(n, dtype=np.int64)
    for i, length in enumerate(lengths.tolist()):
        node = 1
        while node < size:                       # walk down, preferring the left (lower) rows
            node = 2 * node if room[2 * node] >= length else 2 * node + 1
        row_of_doc[i] = node - size
        room[node] -= length
        node //= 2
        while node:                              # walk up, refreshing the maxima
            best = max(room[2 * node], room[2 * node + 1])
            if room[node] == best:
                break
            room[node] = best
            node //= 2
    return row_of_doc


def _decreasing_order(lengths: np.ndarray, max_length: int) -> np.ndarray:
    """Document indices by decreasing length, ties in arrival order (a radix sort for 16-bit keys)."""
    key = (max_length - lengths).astype(np.uint16 if max_length < 2**16 else np.uint32)
    return np.argsort(key, kind="stable")


def first_fit_decreasing(lengths, max_length: int) -> np.ndarray:
    """:func:`first_fit` after sorting the documents by decreasing length."""
    max_length = _checks.check_int(max_length, "max_length", minimum=1)
    lengths = _checks.lengths(lengths, max_length=max_length)
    order = _decreasing_order(lengths, max_length)
    row_of_doc = np.empty(len(lengths), dtype=np.int64)
    row_of_doc[order] = first_fit(lengths[order], max_length)
    return row_of_doc


def best_fit_decreasing(lengths, max_length: int) -> np.ndarray:
    """Longest document first, each into the open row with the least room that still fits it.

    Rows are kept in buckets by free room; among rows with the same room, the one that got there
    last is used (ties do not change the number of rows or their fill levels).
    """
    max_length = _checks.check_int(max_length, "max_length", minimum=1)
    lengths = _checks.lengths(lengths, max_length=max_length)
    row_of_doc = np.empty(len(lengths), dtype=np.int64)
    rooms: list[int] = []                  # sorted free rooms that some open row has
    rows_with_room: dict[int, list[int]] = {}
    opened = 0
    for i in _decreasing_order(lengths, max_length).tolist():
        length = int(lengths[i])
        k = bisect.bisect_left(rooms, length)   # the smallest room >= length
        if k == len(rooms):
            row, room = opened, max_length
            opened += 1
        else:
            room = rooms[k]
            row = rows_with_room[room].pop()
            if not rows_with_room[room]:
                del rooms[k]
        row_of_doc[i] = row
        left = room - length
        if left:                                 # a full row takes nothing more
            if not rows_with_room.setdefault(left, []):
                bisect.insort(rooms, left)
            rows_with_room[left].append(row)
    return row_of_doc


def histogram_best_fit(lengths, max_length: int) -> np.ndarray:
    """Best fit decreasing on the histogram of lengths, in time linear in the number of documents.

    Documents of one length are interchangeable, and so are rows with the same free room. For
    each length ``s`` from longest to shortest, best fit puts a document into the row with the
    least room ``r >= s``; that row's room becomes ``r - s``, still the least if ``r - s >= s``,
    so the same row takes ``r // s`` documents in a row. All rows with room ``r`` are therefore
    filled in one step, and a step deals with counts of rows, never with single documents. The
    rows with one room are kept as ranges of row numbers, so that the documents can be given
    their rows at the end with a few numpy calls. The loop over lengths and rooms depends on
    ``max_length`` only; the documents are touched by a counting pass, a radix sort and the
    final numpy expansion, each O(n).
    """
    max_length = _checks.check_int(max_length, "max_length", minimum=1)
    lengths = _checks.lengths(lengths, max_length=max_length)
    count = np.bincount(lengths, minlength=max_length + 1)
    rows_at = [0] * (max_length + 1)          # rows_at[r] = open rows with free room r
    ranges_at: list[list[tuple[int, int]]] = [[] for _ in range(max_length + 1)]  # (first row, how many)
    rooms: list[int] = []                     # sorted free rooms that some open row has
    steps: list[tuple[int, int, int]] = []   # (first row, how many rows, documents per row), in order
    opened = 0

    def move(first: int, how_many: int, per_row: int, length: int, room: int) -> None:
        # Give `per_row` documents of `length` to each row of the range; it goes to a smaller room.
        steps.append((first, how_many, per_row))
        left = room - per_row * length
        if left:
            if not rows_at[left]:
                bisect.insort(rooms, left)
            ranges_at[left].append((first, how_many))
            rows_at[left] += how_many

    def take(room: int, how_many: int) -> list[tuple[int, int]]:
        # Remove `how_many` rows with free `room`, as ranges of row numbers.
        rows_at[room] -= how_many
        if not rows_at[room]:
            del rooms[bisect.bisect_left(rooms, room)]
        taken, stack = [], ranges_at[room]
        while how_many:
            first, n = stack[-1]
            if n <= how_many:
                stack.pop()
                taken.append((first, n))
                how_many -= n
            else:
                stack[-1] = (first, n - how_many)
                taken.append((first + n - how_many, how_many))
                how_many = 0
        return taken

    for length in np.flatnonzero(count)[::-1].tolist():
        todo = int(count[length])
        while todo:
            k = bisect.bisect_left(rooms, length)
            if k == len(rooms):                  # no open row has room: open new ones
                per_row = max_length // length
                full, rest = divmod(todo, per_row)
                if full:
                    move(opened, full, per_row, length, max_length)
                    opened += full
                if rest:
                    move(opened, 1, rest, length, max_length)
                    opened += 1
                break
            room = rooms[k]                      # the least room that fits
            per_row = room // length
            full = min(todo // per_row, rows_at[room])
            for first, n in take(room, full) if full else []:
                move(first, n, per_row, length, room)
            todo -= full * per_row
            if todo and rows_at[room]:           # fewer than per_row left: one more row with that room
                (first, _), = take(room, 1)
                move(first, 1, todo, length, room)
                todo = 0
    first, how_many, per_row = (np.array(column, dtype=np.int64) for column in zip(*steps))
    # Expand the steps: every row of every range, then each row once per document it takes.
    start_of_step = np.cumsum(how_many) - how_many
    rows = np.repeat(first - start_of_step, how_many) + np.arange(int(how_many.sum()))
    rows_in_order = np.repeat(rows, np.repeat(per_row, how_many))
    row_of_doc = np.empty(len(lengths), dtype=np.int64)
    row_of_doc[_decreasing_order(lengths, max_length)] = rows_in_order
    return row_of_doc
