"""Making sequences one length: padding with an attention mask, truncation, sliding windows.

The names and the window rule are those of Hugging Face ``tokenizers`` / ``transformers``:
``pad`` returns ``input_ids`` and ``attention_mask`` like a ``BatchEncoding`` (the mask here is
boolean, True = a real token that may be attended to; ``mask.astype(int)`` is Hugging Face's 1/0),
and ``sliding_windows`` returns the same windows as ``return_overflowing_tokens=True`` with a
``stride``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from tokbook.packing import _checks

__all__ = ["Window", "pad", "sliding_windows", "truncate"]


def pad(batch, pad_id: int, *, side: str = "right", max_length: int | None = None,
        pad_to_multiple_of: int | None = None) -> dict[str, np.ndarray]:
    """Pad a batch of token-id sequences to one length.

    The length is that of the longest sequence, or ``max_length`` if given, rounded up to a
    multiple of ``pad_to_multiple_of`` if given. ``side="right"`` appends the padding (what training
    uses); ``side="left"`` puts it first, so that every row of a batch ends with its last real token
    and the next generated token goes right after it (what batched generation needs).

    A padded batch is a packed one with one document per row: ``np.where(attention_mask, 0, -1)``
    are its ``document_ids``, from which :func:`~tokbook.packing.position_ids` counts each row
    from its first real token and :func:`~tokbook.packing.block_causal_mask` keeps real tokens
    off the padding, on either side.

    >>> out = pad([[5, 6, 7], [8]], pad_id=0)
    >>> out["input_ids"].tolist(), out["attention_mask"].astype(int).tolist()
    ([[5, 6, 7], [8, 0, 0]], [[1, 1, 1], [1, 0, 0]])
    >>> pad([[5, 6, 7], [8]], pad_id=0, side="left")["input_ids"].tolist()
    [[5, 6, 7], [0, 0, 8]]
    >>> pad([[5, 6, 7]], pad_id=0, pad_to_multiple_of=4)["input_ids"].tolist()
    [[5, 6, 7, 0]]
    """
    if side not in ("right", "left"):
        raise ValueError(f"side must be 'right' or 'left', got {side!r}")
    rows = _checks.documents(batch, "batch", allow_empty=True)
    pad_id = _checks.check_int(pad_id, "pad_id", minimum=0)
    _checks.pad_id_not_in(rows, pad_id, "batch")
    longest = max(len(row) for row in rows)
    target = longest
    if max_length is not None:
        target = _checks.check_int(max_length, "max_length", minimum=1)
        if longest > target:
            i = next(i for i, row in enumerate(rows) if len(row) == longest)
            raise ValueError(
                f"batch[{i}] has {longest} tokens, more than max_length={target}; "
                "truncate it first (truncate() or sliding_windows()) or raise max_length"
            )
    if pad_to_multiple_of is not None:
        multiple = _checks.check_int(pad_to_multiple_of, "pad_to_multiple_of", minimum=1)
        target = -(-target // multiple) * multiple
    input_ids = np.full((len(rows), target), pad_id, dtype=np.int64)
    attention_mask = np.zeros((len(rows), target), dtype=bool)
    for i, row in enumerate(rows):
        # The real tokens sit at the start (right padding) or at the end (left padding).
        where = slice(0, len(row)) if side == "right" else slice(target - len(row), target)
        input_ids[i, where] = row
        attention_mask[i, where] = True
    return {"input_ids": input_ids, "attention_mask": attention_mask}


def truncate(ids, max_length: int, *, side: str = "right", head: int | None = None) -> np.ndarray:
    """Cut a sequence to at most ``max_length`` tokens.

    ``side`` names where tokens are removed, as ``truncation_side`` does in Hugging Face:
    ``"right"`` keeps the head, ``"left"`` keeps the tail, ``"middle"`` keeps ``head`` tokens from
    the start (half of ``max_length`` by default) and fills the rest from the end.

    >>> ids = list(range(10))
    >>> truncate(ids, 4).tolist(), truncate(ids, 4, side="left").tolist()
    ([0, 1, 2, 3], [6, 7, 8, 9])
    >>> truncate(ids, 5, side="middle", head=2).tolist()
    [0, 1, 7, 8, 9]
    """
    if side not in ("right", "left", "middle"):
        raise ValueError(f"side must be 'right', 'left' or 'middle', got {side!r}")
    ids = _checks.token_ids(ids, "ids", allow_empty=True)
    max_length = _checks.check_int(max_length, "max_length", minimum=1)
    if head is not None and side != "middle":
        raise ValueError(f"head only applies to side='middle', not side={side!r}")
    if side == "middle":
        head = max_length // 2 if head is None else _checks.check_int(head, "head", minimum=0)
        if head > max_length:
            raise ValueError(f"head={head} is more than max_length={max_length}")
    if len(ids) <= max_length:
        return ids.copy()
    if side == "right":
        return ids[:max_length].copy()
    if side == "left":
        return ids[len(ids) - max_length:].copy()
    tail = max_length - head
    return np.concatenate([ids[:head], ids[len(ids) - tail:]])


class Window(NamedTuple):
    """One window of a sequence: its tokens and where its first token was in the original."""

    start: int
    input_ids: np.ndarray

    @property
    def positions(self) -> np.ndarray:
        """The original position of each token of the window."""
        return np.arange(self.start, self.start + len(self.input_ids))


def sliding_windows(ids, max_length: int, *, stride: int = 0) -> list[Window]:
    """Every window of at most ``max_length`` tokens, consecutive ones sharing ``stride`` tokens.

    Windows start at 0, ``step``, ``2 * step``, ... with ``step = max_length - stride`` and stop
    with the first window that reaches the end of the sequence, which may be shorter than
    ``max_length``: no token is ever dropped. This is the rule of Hugging Face ``tokenizers``
    (``enable_truncation(max_length, stride=...)``, whose first window is the encoding and the
    others its ``overflowing``).

    >>> [w.input_ids.tolist() for w in sliding_windows(range(12), 5, stride=2)]
    [[0, 1, 2, 3, 4], [3, 4, 5, 6, 7], [6, 7, 8, 9, 10], [9, 10, 11]]
    >>> [w.start for w in sliding_windows(range(12), 5, stride=2)]
    [0, 3, 6, 9]
    """
    ids = _checks.token_ids(ids, "ids")
    max_length = _checks.check_int(max_length, "max_length", minimum=1)
    stride = _checks.check_int(stride, "stride", minimum=0)
    if stride >= max_length:
        raise ValueError(
            f"stride={stride} must be smaller than max_length={max_length}, or the windows never advance"
        )
    step = max_length - stride
    # One window, plus one more per `step` tokens (rounded up) left after the first window.
    n_windows = 1 + max(0, -(-(len(ids) - max_length) // step))
    return [Window(k * step, ids[k * step: k * step + max_length].copy()) for k in range(n_windows)]
