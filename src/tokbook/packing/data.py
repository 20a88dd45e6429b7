"""Torch datasets that stream batches from a token file (:mod:`tokbook.packing.tokenfile`).

Both hold no tokens themselves (a ``DataLoader`` worker reopens the memory maps), so memory
stays flat however big the file: :class:`RandomWindows` (GPT-style rows cut anywhere in the
stream) and :class:`PackedRows` (whole documents packed by
:func:`~tokbook.packing.histogram_best_fit`). Both return ``input_ids``, ``labels``,
``position_ids``, ``document_ids`` as torch tensors, and
:func:`~tokbook.packing.block_causal_mask` of ``document_ids`` gives the attention mask.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from tokbook.packing import _checks
from tokbook.packing.binpack import histogram_best_fit
from tokbook.packing.rows import labels, position_ids
from tokbook.packing.tokenfile import TokenFile

__all__ = ["PackedRows", "RandomWindows"]


def _row(input_ids: np.ndarray, document_ids: np.ndarray) -> dict:
    return {
        "input_ids": torch.from_numpy(input_ids),
        "labels": torch.from_numpy(labels(input_ids, document_ids)),
        "position_ids": torch.from_numpy(position_ids(document_ids)),
        "document_ids": torch.from_numpy(document_ids),
    }


class RandomWindows(Dataset):
    """``n_samples`` windows of ``max_length`` tokens from random places of the stream.

    Sample ``i`` always starts at the same place (drawn from ``seed`` and ``i``), so epochs and
    workers agree. A window may cross document boundaries, as in GPT pretraining; its
    ``document_ids`` say where, so the block mask and the labels keep documents apart.
    """

    def __init__(self, token_file: TokenFile, max_length: int, *, n_samples: int, seed: int = 0):
        self.file = token_file
        self.max_length = _checks.check_int(max_length, "max_length", minimum=1)
        self.n_samples = _checks.check_int(n_samples, "n_samples", minimum=1)
        if token_file.meta["tokens"] < self.max_length:
            raise ValueError(f"the token file holds {token_file.meta['tokens']} tokens, fewer than max_length={max_length}")
        self.seed = seed

    def __len__(self) -> int:
        return self.n_samples

    def __getitem__(self, i: int) -> dict:
        if not 0 <= i < self.n_samples:
            raise IndexError(f"sample {i} is out of range for {self.n_samples} samples")
        rng = np.random.default_rng([self.seed, i])
        start = int(rng.integers(0, self.file.meta["tokens"] - self.max_length + 1))
        stop = start + self.max_length
        input_ids = np.asarray(self.file.tokens[start:stop], dtype=np.int64)
        document_ids = np.searchsorted(self.file.offsets, np.arange(start, stop), side="right") - 1
        return _row(input_ids, document_ids.astype(np.int64))


class PackedRows(Dataset):
    """Every document in rows of ``max_length`` tokens, none cut unless longer than a row.

    A document longer than ``max_length`` is first split into pieces of ``max_length`` (the last
    shorter), each packed as a document of its own; then all pieces are placed by
    :func:`~tokbook.packing.histogram_best_fit`. Only the plan (a few integers per document)
    is held in memory; row ``r``'s tokens are read from the map when it is asked for.
    """

    def __init__(self, token_file: TokenFile, max_length: int, *, pad_id: int):
        self.file = token_file
        self.max_length = _checks.check_int(max_length, "max_length", minimum=1)
        self.pad_id = _checks.check_int(pad_id, "pad_id", minimum=0)
        from tokbook.encodings import get_encoding

        if self.pad_id == get_encoding(token_file.meta["encoding"]).eot_token:
            raise ValueError(f"pad_id={pad_id} is the end-of-text token that ends every document; pad with another id")
        offsets = np.asarray(token_file.offsets)
        doc_length = np.diff(offsets)
        pieces = -(-doc_length // self.max_length)
        # One entry per piece: the document it comes from, its first token, its length.
        self.piece_doc = np.repeat(np.arange(len(doc_length)), pieces)
        first_piece = np.cumsum(pieces) - pieces
        k = np.arange(len(self.piece_doc)) - np.repeat(first_piece, pieces)
        self.piece_start = offsets[:-1][self.piece_doc] + k * self.max_length
        self.piece_length = np.minimum(self.max_length, offsets[1:][self.piece_doc] - self.piece_start)
        row_of_piece = histogram_best_fit(self.piece_length, self.max_length)
        self.order = np.argsort(row_of_piece, kind="stable")
        self.row_start = np.searchsorted(row_of_piece[self.order], np.arange(row_of_piece.max() + 2))

    def __len__(self) -> int:
        return len(self.row_start) - 1

    def __getitem__(self, r: int) -> dict:
        if not 0 <= r < len(self):
            raise IndexError(f"row {r} is out of range for {len(self)} rows")
        input_ids = np.full(self.max_length, self.pad_id, dtype=np.int64)
        document_ids = np.full(self.max_length, -1, dtype=np.int64)
        at = 0
        for piece in self.order[self.row_start[r]:self.row_start[r + 1]]:
            start, length = int(self.piece_start[piece]), int(self.piece_length[piece])
            input_ids[at:at + length] = self.file.tokens[start:start + length]
            document_ids[at:at + length] = self.piece_doc[piece]
            at += length
        if (input_ids[:at] == self.pad_id).any():   # checked row by row, as rows are read
            raise ValueError(f"pad_id={self.pad_id} is a real token of row {r}; choose an id the text never uses")
        return _row(input_ids, document_ids)
