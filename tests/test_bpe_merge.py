"""tokbook.bpe.merging: the heap merge gives the scan's parts, and its work grows as n log n."""

from __future__ import annotations

import functools

import pytest
import regex
from hypothesis import given, settings
from hypothesis import strategies as st

from tokbook.bpe import PATTERNS
from tokbook.bpe.merging import HEAP_FROM, byte_pair_merge, heap_byte_pair_merge, scan_byte_pair_merge
from tokbook.encodings import ENCODING_NAMES, mergeable_ranks
from test_bpe import CORPUS


@functools.cache
def _ranks(name):
    return mergeable_ranks(name)


def _same_parts(piece, ranks, max_rank=None):
    heap = heap_byte_pair_merge(piece, ranks, max_rank)
    assert heap == scan_byte_pair_merge(piece, ranks, max_rank), piece[:40]
    assert b"".join(heap) == piece
    return heap


@pytest.mark.parametrize("name", ENCODING_NAMES)
def test_heap_and_scan_agree_on_every_piece_the_parity_tests_encode(name):
    ranks = _ranks(name)
    pieces = {p.encode() for p in regex.findall(PATTERNS[name], CORPUS)}
    pieces |= {CORPUS[i:i + 200].encode() for i in range(0, len(CORPUS), 5000)}  # unsplit text too
    for piece in pieces:
        _same_parts(piece, ranks)


@pytest.mark.parametrize("name", ENCODING_NAMES)
def test_heap_and_scan_agree_with_max_rank_on_every_token(name):
    """from_ranks recovers each merge with max_rank; both implementations must honour it."""
    ranks = _ranks(name)
    for token, rank in list(ranks.items())[::7]:
        if len(token) > 1:
            assert len(_same_parts(token, ranks, max_rank=rank)) == 2
            assert _same_parts(token, ranks, max_rank=rank + 1) == [token]


@settings(max_examples=200, deadline=None)
@given(
    unit=st.sampled_from(["x", " ", "\n", "ab", "a b", "👍", "🤗", "0", "é", "日本", "\t ", "=", "ha"]),
    times=st.integers(1, 400),
    tail=st.text(max_size=3),
    name=st.sampled_from(ENCODING_NAMES),
    max_rank=st.none() | st.integers(0, 5000),
)
def test_heap_and_scan_agree_on_long_runs(unit, times, tail, name, max_rank):
    _same_parts((unit * times + tail).encode(), _ranks(name), max_rank)


@settings(max_examples=200, deadline=None)
@given(text=st.text(min_size=HEAP_FROM, max_size=200), name=st.sampled_from(ENCODING_NAMES))
def test_heap_and_scan_agree_on_arbitrary_text(text, name):
    _same_parts(text.encode(), _ranks(name))


def test_byte_pair_merge_uses_the_heap_for_long_pieces_only(monkeypatch):
    import tokbook.bpe.merging as merging

    used = []
    monkeypatch.setattr(merging, "heap_byte_pair_merge", lambda *a: used.append(len(a[0])) or [a[0]])
    byte_pair_merge(b"x" * (HEAP_FROM - 1), _ranks("gpt2"))
    byte_pair_merge(b"x" * HEAP_FROM, _ranks("gpt2"))
    assert used == [HEAP_FROM]


class _Counted(int):
    """A rank that counts the comparisons made with it."""

    made = 0

    def _count(op):
        def compare(self, other):
            _Counted.made += 1
            return getattr(int, op)(self, other)
        return compare

    __lt__, __le__, __gt__, __ge__, __eq__, __ne__ = map(_count, ["__lt__", "__le__", "__gt__", "__ge__",
                                                                   "__eq__", "__ne__"])
    __hash__ = int.__hash__


class _CountingRanks(dict):
    """Ranks whose every lookup is counted and returns a :class:`_Counted` rank."""

    lookups = 0

    def get(self, key, default=None):
        _CountingRanks.lookups += 1
        rank = dict.get(self, key)
        return default if rank is None else _Counted(rank)


def _work(merge, piece: bytes, ranks: dict) -> int:
    _Counted.made = _CountingRanks.lookups = 0
    merge(piece, ranks)
    return _Counted.made + _CountingRanks.lookups


def _growth(merge, unit: bytes, n: int) -> float:
    ranks = _CountingRanks(_ranks("cl100k_base"))
    return _work(merge, unit * (8 * n), ranks) / _work(merge, unit * n, ranks)


@pytest.mark.parametrize("unit", [b"x", b" ", b"ab", "👍".encode(), "日本語".encode()])
def test_the_work_of_a_merge_grows_as_n_log_n_not_n_squared(unit):
    """Counts rank lookups and comparisons between ranks, not time: 8x the length must cost
    about 8x the work. The heap compares packed integers in C, log n per heap operation and
    one operation per lookup, so lookups bound its work; the scan compares every pair's rank on
    every merge, and the same count sees its work grow 64x."""
    assert _growth(byte_pair_merge, unit, 4000 // len(unit)) < 12
    assert _growth(scan_byte_pair_merge, unit, 200 // len(unit)) > 30  # the count sees quadratic work
