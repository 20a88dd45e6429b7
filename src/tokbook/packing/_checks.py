"""Validation shared by the packing modules: every bad input gets a ValueError or TypeError."""

from __future__ import annotations

import numbers

import numpy as np


def check_int(value, name: str, *, minimum: int) -> int:
    """Return ``value`` as an int if it is an integer (not a bool) of at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}")
    return int(value)


def token_ids(sequence, name: str, *, allow_empty: bool = False) -> np.ndarray:
    """One sequence of token ids as a 1-D int64 array, or a clear error."""
    array = np.asarray(sequence)
    if array.ndim != 1:
        raise ValueError(f"{name} must be a 1-D sequence of token ids, got an array of shape {array.shape}")
    if array.size == 0:
        if not allow_empty:
            raise ValueError(f"{name} is empty; a document needs at least one token")
        return np.zeros(0, dtype=np.int64)
    if array.dtype == np.bool_ or not np.issubdtype(array.dtype, np.integer):
        raise TypeError(f"{name} must hold integer token ids, got dtype {array.dtype}")
    if array.min() < 0:
        raise ValueError(f"{name} holds a negative token id ({array.min()}); token ids start at 0")
    return array.astype(np.int64, copy=False)


def documents(batch, name: str = "documents", *, allow_empty: bool = False) -> list[np.ndarray]:
    """A list of token-id sequences as 1-D int64 arrays (a 2-D array counts as a list of rows)."""
    if isinstance(batch, (str, bytes)):
        raise TypeError(f"{name} must be a list of token-id sequences, got {type(batch).__name__}; encode the text first")
    rows = [token_ids(row, f"{name}[{i}]", allow_empty=allow_empty) for i, row in enumerate(batch)]
    if not rows:
        raise ValueError(f"{name} is empty; pass at least one sequence")
    return rows


def pad_id_not_in(rows: list[np.ndarray], pad_id: int, name: str = "documents") -> None:
    """Refuse a pad id that is also a real token: a mask rebuilt from ``input_ids != pad_id`` would drop it."""
    for i, row in enumerate(rows):
        hits = np.flatnonzero(row == pad_id)
        if hits.size:
            raise ValueError(
                f"pad_id={pad_id} is a real token of {name}[{i}] (position {hits[0]}); "
                "choose a pad id that never occurs in the text, e.g. a dedicated special token"
            )


def lengths(values, name: str = "lengths", *, max_length: int | None = None) -> np.ndarray:
    """Document lengths as a 1-D int64 array, each at least 1 and, if given, at most ``max_length``."""
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"{name} must be 1-D (one length per document), got shape {array.shape}")
    if array.size == 0:
        raise ValueError(f"{name} is empty; pass at least one document length")
    if array.dtype == np.bool_ or not np.issubdtype(array.dtype, np.integer):
        raise TypeError(f"{name} must be integers (token counts), got dtype {array.dtype}")
    array = array.astype(np.int64, copy=False)
    bad = np.flatnonzero(array <= 0)
    if bad.size:
        raise ValueError(
            f"{name}[{bad[0]}] is {array[bad[0]]}; every document needs at least one token "
            f"({bad.size} lengths are <= 0)"
        )
    if max_length is not None:
        long = np.flatnonzero(array > max_length)
        if long.size:
            raise ValueError(
                f"{name}[{long[0]}] is {array[long[0]]}, longer than max_length={max_length} "
                f"({long.size} documents are); packing never cuts a document: split long ones first "
                "with truncate() or sliding_windows(), or use concat_chunk(), which cuts"
            )
    return array
