"""Training rows: concatenate-and-chunk, packed rows, and what a row needs besides its tokens.

A row of ``max_length`` tokens may hold several documents. ``document_ids`` says which document
each token belongs to (its index in the list given; ``-1`` on padding), and everything else is
computed from it:

- ``position_ids``: 0, 1, 2, ... restarting wherever the document id changes (padding is a run
  of its own);
- ``block_causal_mask``: token ``i`` may attend to token ``j`` if ``j <= i`` and both belong to
  the same document (True = may attend, the convention of ``scaled_dot_product_attention``);
- ``labels``: the Hugging Face convention, ``labels == input_ids`` and the model shifts them
  (position ``t`` is scored on ``labels[t + 1]``); a label is ``IGNORE_INDEX`` (-100) on padding
  and on the first token of each document, so no token is trained to predict the start of the
  next document. :func:`shift_labels` gives the targets aligned with the positions, which are
  ``IGNORE_INDEX`` wherever the next token belongs to another document or is padding;
- ``cu_seqlens``: the cumulative lengths of the documents of the batch, in the order of
  ``input_ids[attention_mask]``, as variable-length attention kernels (FlashAttention's
  ``flash_attn_varlen_func``) take them.

>>> batch = pack([[11, 12, 13], [21, 22], [31, 32, 33, 34]], [0, 0, 1], 6, pad_id=0)
>>> batch["input_ids"].tolist()
[[11, 12, 13, 21, 22, 0], [31, 32, 33, 34, 0, 0]]
>>> batch["document_ids"].tolist()
[[0, 0, 0, 1, 1, -1], [2, 2, 2, 2, -1, -1]]
>>> batch["position_ids"].tolist()
[[0, 1, 2, 0, 1, 0], [0, 1, 2, 3, 0, 1]]
>>> batch["labels"].tolist()
[[-100, 12, 13, -100, 22, -100], [-100, 32, 33, 34, -100, -100]]
>>> shift_labels(batch["labels"]).tolist()
[[12, 13, -100, 22, -100, -100], [32, 33, 34, -100, -100, -100]]
>>> batch["cu_seqlens"].tolist()
[0, 3, 5, 9]
>>> block_causal_mask(batch["document_ids"][0]).astype(int)
array([[1, 0, 0, 0, 0, 0],
       [1, 1, 0, 0, 0, 0],
       [1, 1, 1, 0, 0, 0],
       [0, 0, 0, 1, 0, 0],
       [0, 0, 0, 1, 1, 0],
       [0, 0, 0, 0, 0, 1]])
"""

from __future__ import annotations

import numpy as np

from tokbook.packing import _checks

__all__ = [
    "IGNORE_INDEX", "block_causal_mask", "causal_mask", "concat_chunk", "cu_seqlens", "labels",
    "pack", "position_ids", "shift_labels",
]

IGNORE_INDEX = -100
"""The label that losses skip: ``torch.nn.functional.cross_entropy``'s default ``ignore_index``."""


def _document_ids(document_ids) -> np.ndarray:
    array = np.asarray(document_ids)
    if array.ndim not in (1, 2) or array.shape[-1] == 0:
        raise ValueError(f"document_ids must be one row (T,) or a batch (B, T) with T > 0, got shape {array.shape}")
    if array.dtype == np.bool_ or not np.issubdtype(array.dtype, np.integer):
        raise TypeError(f"document_ids must be integers (-1 on padding), got dtype {array.dtype}")
    if array.min() < -1:
        raise ValueError(f"document_ids holds {array.min()}; ids are >= 0, and -1 marks padding")
    return array


def _run_starts(document_ids: np.ndarray) -> np.ndarray:
    """True where a row starts or the document id changes."""
    start = np.ones(document_ids.shape, dtype=bool)
    start[..., 1:] = document_ids[..., 1:] != document_ids[..., :-1]
    return start


def position_ids(document_ids) -> np.ndarray:
    """0, 1, 2, ... within each run of one document id, restarting at every change.

    >>> position_ids([0, 0, 0, 5, 5, -1]).tolist()
    [0, 1, 2, 0, 1, 0]
    """
    document_ids = _document_ids(document_ids)
    index = np.broadcast_to(np.arange(document_ids.shape[-1]), document_ids.shape)
    # The index where the current run began, carried forward along the row.
    run_start = np.maximum.accumulate(np.where(_run_starts(document_ids), index, 0), axis=-1)
    return (index - run_start).astype(np.int64)


def causal_mask(length: int) -> np.ndarray:
    """The plain causal mask (T, T): token ``i`` may attend to every ``j <= i``."""
    length = _checks.check_int(length, "length", minimum=1)
    return np.tril(np.ones((length, length), dtype=bool))


def block_causal_mask(document_ids) -> np.ndarray:
    """The causal mask restricted to each document: (T, T), or (B, T, T) for a batch.

    Padding tokens (id -1) see the padding before them and nothing else, and no real token sees
    them; every row of the mask keeps its diagonal, so no query is left with nothing to attend to
    (which would make the softmax divide by zero).
    """
    document_ids = _document_ids(document_ids)
    same = document_ids[..., :, None] == document_ids[..., None, :]
    return same & causal_mask(document_ids.shape[-1])


def labels(input_ids, document_ids) -> np.ndarray:
    """``input_ids`` with ``IGNORE_INDEX`` on padding and on the first token of each document.

    Not shifted (the Hugging Face convention: the model or the loss shifts them by one). The
    first token of every row is ignored too (a run starts there); after the shift no position
    predicts it anyway, so this changes nothing for a document cut across rows.

    >>> labels([7, 8, 9, 4, 0], [0, 0, 0, 1, -1]).tolist()
    [-100, 8, 9, -100, -100]
    """
    document_ids = _document_ids(document_ids)
    input_ids = np.asarray(input_ids)
    if input_ids.shape != document_ids.shape:
        raise ValueError(f"input_ids has shape {input_ids.shape} but document_ids {document_ids.shape}; they must match")
    out = input_ids.astype(np.int64, copy=True)
    out[(document_ids == -1) | _run_starts(document_ids)] = IGNORE_INDEX
    return out


def shift_labels(labels) -> np.ndarray:
    """The target of each position: ``labels`` moved left by one, ``IGNORE_INDEX`` at the end.

    ``shift_labels(labels)[..., t]`` is what position ``t`` must predict, the form losses such as
    ``cross_entropy(logits, targets)`` take when nothing else shifts.
    """
    labels = np.asarray(labels)
    if labels.ndim not in (1, 2):
        raise ValueError(f"labels must be (T,) or (B, T), got shape {labels.shape}")
    out = np.full(labels.shape, IGNORE_INDEX, dtype=np.int64)
    out[..., :-1] = labels[..., 1:]
    return out


def cu_seqlens(document_ids) -> np.ndarray:
    """Cumulative lengths (int32, starting at 0) of the runs of real tokens, row after row.

    A document cut across two rows counts as two sequences, one per row, since attention never
    crosses rows.

    >>> cu_seqlens([[0, 0, 1, -1], [1, 1, 1, 2]]).tolist()
    [0, 2, 3, 6, 7]
    """
    document_ids = np.atleast_2d(_document_ids(document_ids))
    starts = _run_starts(document_ids).ravel()
    ids = document_ids.ravel()
    run_id = ids[starts]
    run_length = np.diff(np.append(np.flatnonzero(starts), ids.size))
    real = run_length[run_id != -1]
    return np.concatenate([[0], np.cumsum(real)]).astype(np.int32)


def _batch(input_ids: np.ndarray, document_ids: np.ndarray) -> dict[str, np.ndarray]:
    return {
        "input_ids": input_ids,
        "attention_mask": document_ids != -1,
        "position_ids": position_ids(document_ids),
        "labels": labels(input_ids, document_ids),
        "document_ids": document_ids,
        "cu_seqlens": cu_seqlens(document_ids),
    }


def pack(documents, row_of_doc, max_length: int, *, pad_id: int) -> dict[str, np.ndarray]:
    """Lay out documents in rows as a packer placed them (documents of a row in index order).

    Returns ``input_ids`` (B, T), ``attention_mask`` (B, T, bool), ``position_ids``, ``labels``
    (unshifted), ``document_ids`` (-1 on padding), and ``cu_seqlens``; see the module docstring.
    Every document is whole in one row; a row that would overflow is an error.
    """
    max_length = _checks.check_int(max_length, "max_length", minimum=1)
    docs = _checks.documents(documents)
    pad_id = _checks.check_int(pad_id, "pad_id", minimum=0)
    _checks.pad_id_not_in(docs, pad_id)
    length = _checks.lengths([len(d) for d in docs], "document lengths", max_length=max_length)
    row_of_doc = np.asarray(row_of_doc)
    if row_of_doc.shape != length.shape:
        raise ValueError(f"row_of_doc has {row_of_doc.size} entries for {len(docs)} documents; give one row per document")
    if row_of_doc.dtype == np.bool_ or not np.issubdtype(row_of_doc.dtype, np.integer) or row_of_doc.min() < 0:
        raise ValueError("row_of_doc must hold row numbers 0, 1, 2, ...")
    n = int(row_of_doc.max()) + 1
    fill = np.bincount(row_of_doc, weights=length, minlength=n).astype(np.int64)
    if (fill == 0).any():
        raise ValueError(f"row {np.flatnonzero(fill == 0)[0]} gets no document; number the rows 0, 1, 2, ... without gaps")
    if fill.max() > max_length:
        row = int(fill.argmax())
        raise ValueError(f"row {row} would hold {fill[row]} tokens, more than max_length={max_length}")
    order = np.argsort(row_of_doc, kind="stable")
    row_sorted, length_sorted = row_of_doc[order], length[order]
    # Where each document starts in the stream of all documents, and in its own row.
    stream_start = np.cumsum(length_sorted) - length_sorted
    first_of_row = np.searchsorted(row_sorted, row_sorted, side="left")
    start_in_row = stream_start - stream_start[first_of_row]
    # The flat (B * T) slot of every token, in stream order.
    slot = np.repeat(row_sorted * max_length + start_in_row - stream_start, length_sorted)
    slot += np.arange(int(length.sum()))
    input_ids = np.full((n, max_length), pad_id, dtype=np.int64)
    document_ids = np.full((n, max_length), -1, dtype=np.int64)
    input_ids.ravel()[slot] = np.concatenate([docs[i] for i in order])
    document_ids.ravel()[slot] = np.repeat(order, length_sorted)
    return _batch(input_ids, document_ids)


def concat_chunk(documents, max_length: int, *, eos_id: int, pad_id: int) -> dict[str, np.ndarray]:
    """GPT-style rows: every document followed by ``eos_id``, all laid end to end, cut every
    ``max_length`` tokens; the last row is padded with ``pad_id``.

    Documents are cut at row boundaries (:func:`tokbook.packing.documents_cut` counts them). The
    returned arrays are those of :func:`pack`, so the same masks and labels apply; the end-of-text
    token belongs to the document it ends.

    >>> out = concat_chunk([[1, 2, 3], [4, 5, 6, 7]], 4, eos_id=9, pad_id=0)
    >>> out["input_ids"].tolist()
    [[1, 2, 3, 9], [4, 5, 6, 7], [9, 0, 0, 0]]
    >>> out["document_ids"].tolist()
    [[0, 0, 0, 0], [1, 1, 1, 1], [1, -1, -1, -1]]
    """
    max_length = _checks.check_int(max_length, "max_length", minimum=1)
    docs = _checks.documents(documents)
    eos_id = _checks.check_int(eos_id, "eos_id", minimum=0)
    pad_id = _checks.check_int(pad_id, "pad_id", minimum=0)
    if pad_id == eos_id:
        raise ValueError(f"pad_id and eos_id are both {pad_id}; the end-of-text token is real text, pad with another id")
    _checks.pad_id_not_in(docs, pad_id)
    stream = np.concatenate([np.append(d, eos_id) for d in docs])
    owner = np.repeat(np.arange(len(docs)), [len(d) + 1 for d in docs])
    n = -(-stream.size // max_length)
    input_ids = np.full(n * max_length, pad_id, dtype=np.int64)
    document_ids = np.full(n * max_length, -1, dtype=np.int64)
    input_ids[:stream.size], document_ids[:stream.size] = stream, owner
    return _batch(input_ids.reshape(n, max_length), document_ids.reshape(n, max_length))
