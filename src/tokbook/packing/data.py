"""A corpus too big for memory: tokenize it once into a flat token file, then stream batches.

:func:`tokenize_to_file` encodes documents in worker processes with a real encoding
(:func:`tokbook.encodings.get_encoding`) and writes three files next to each other:

- ``<stem>.bin``: every token of every document, end to end, each followed by the encoding's
  end-of-text token, as ``uint16`` if the vocabulary fits in 16 bits (GPT-2) and ``uint32``
  otherwise (:func:`token_dtype`);
- ``<stem>.idx``: ``int64`` offsets, document ``i`` being ``tokens[offsets[i]:offsets[i + 1]]``;
- ``<stem>.json``: the encoding, dtype and counts.

:class:`TokenFile` opens them as memory maps, so reading a document touches only its pages.
Two torch datasets read from it, holding no tokens themselves (a ``DataLoader`` worker reopens
the maps): :class:`RandomWindows` (GPT-style rows cut anywhere in the stream) and
:class:`PackedRows` (whole documents packed by :func:`~tokbook.packing.histogram_best_fit`).
Both return ``input_ids``, ``labels``, ``position_ids``, ``document_ids`` as torch tensors, and
:func:`~tokbook.packing.block_causal_mask` of ``document_ids`` gives the attention mask.

Work splits across machines the same way: give each one a shard of the documents and its own
output stem, and read the shards one after another.
"""

from __future__ import annotations

import json
import multiprocessing
from collections.abc import Iterable, Iterator
from itertools import islice
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from tokbook.packing import _checks
from tokbook.packing.binpack import histogram_best_fit
from tokbook.packing.rows import labels, position_ids

__all__ = ["PackedRows", "RandomWindows", "TokenFile", "token_dtype", "tokenize_to_file"]


def token_dtype(vocab_size: int) -> type[np.unsignedinteger]:
    """The smallest unsigned dtype that holds every id of a vocabulary.

    >>> token_dtype(50257).__name__, token_dtype(100277).__name__
    ('uint16', 'uint32')
    """
    vocab_size = _checks.check_int(vocab_size, "vocab_size", minimum=1)
    if vocab_size <= 2**16:
        return np.uint16
    if vocab_size <= 2**32:
        return np.uint32
    raise ValueError(f"vocab_size={vocab_size} does not fit in 32 bits")


_worker_encoding = None


def _start_worker(encoding_name: str) -> None:
    global _worker_encoding
    from tokbook.encodings import get_encoding

    _worker_encoding = get_encoding(encoding_name)


def _encode_batch(batch: tuple[int, list[str]]) -> tuple[np.ndarray, np.ndarray]:
    """Encode documents in a worker: their tokens (each ended by end-of-text) and their lengths."""
    first, texts = batch
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"documents[{first + i}] is {type(text).__name__}; documents must be strings")
    enc = _worker_encoding
    dtype = token_dtype(enc.n_vocab)
    docs = [enc.encode_ordinary(text) + [enc.eot_token] for text in texts]
    return np.fromiter((t for d in docs for t in d), dtype=dtype), np.array([len(d) for d in docs], dtype=np.int64)


def _batches(documents: Iterable[str], size: int) -> Iterator[tuple[int, list[str]]]:
    """Batches of documents, each with the index of its first document."""
    iterator, first = iter(documents), 0
    while batch := list(islice(iterator, size)):
        yield first, batch
        first += len(batch)


def tokenize_to_file(documents: Iterable[str], stem, *, encoding: str = "gpt2", workers: int = 1,
                     batch_size: int = 256) -> "TokenFile":
    """Encode ``documents`` (any iterable of strings, read lazily) into ``<stem>.bin/.idx/.json``.

    ``workers`` processes encode batches of ``batch_size`` documents; the parent writes them in
    order as they come back, so the files are the same for any number of workers and memory
    holds a few batches, not the corpus.
    """
    from tokbook.encodings import ENCODING_NAMES, get_encoding

    if isinstance(documents, (str, bytes)):
        raise TypeError("documents must be an iterable of strings (one per document), not one string")
    if encoding not in ENCODING_NAMES:
        raise ValueError(f"encoding must be one of {', '.join(ENCODING_NAMES)}, got {encoding!r}")
    workers = _checks.check_int(workers, "workers", minimum=1)
    batch_size = _checks.check_int(batch_size, "batch_size", minimum=1)
    vocab_size = get_encoding(encoding).n_vocab
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    n_docs = n_tokens = 0
    context = multiprocessing.get_context("spawn")
    with context.Pool(workers, initializer=_start_worker, initargs=(encoding,)) as pool, \
            open(stem.with_suffix(".bin"), "wb") as tokens_out, open(stem.with_suffix(".idx"), "wb") as index_out:
        index_out.write(np.zeros(1, dtype=np.int64).tobytes())
        for tokens, lengths in pool.imap(_encode_batch, _batches(documents, batch_size)):
            tokens_out.write(tokens.tobytes())
            index_out.write((n_tokens + np.cumsum(lengths)).tobytes())
            n_docs += len(lengths)
            n_tokens += int(lengths.sum())
    if n_docs == 0:
        raise ValueError("documents is empty; nothing was written")
    meta = {"encoding": encoding, "vocab_size": vocab_size, "dtype": np.dtype(token_dtype(vocab_size)).name,
            "documents": n_docs, "tokens": n_tokens}
    stem.with_suffix(".json").write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
    return TokenFile(stem)


class TokenFile:
    """The files of :func:`tokenize_to_file`, memory-mapped: ``tokens``, ``offsets``, ``meta``."""

    def __init__(self, stem):
        self.stem = Path(stem)
        meta_path = self.stem.with_suffix(".json")
        if not meta_path.exists():
            raise FileNotFoundError(f"{meta_path} does not exist; write the token file with tokenize_to_file() first")
        self.meta = json.loads(meta_path.read_text(encoding="utf-8"))
        self._tokens = self._offsets = None

    @property
    def tokens(self) -> np.ndarray:
        if self._tokens is None:
            self._tokens = np.memmap(self.stem.with_suffix(".bin"), dtype=self.meta["dtype"], mode="r")
        return self._tokens

    @property
    def offsets(self) -> np.ndarray:
        if self._offsets is None:
            self._offsets = np.memmap(self.stem.with_suffix(".idx"), dtype=np.int64, mode="r")
        return self._offsets

    def __len__(self) -> int:
        return self.meta["documents"]

    def document(self, i: int) -> np.ndarray:
        """The tokens of document ``i``, its end-of-text token included (a view of the map)."""
        return self.tokens[self.offsets[i]:self.offsets[i + 1]]

    def __getstate__(self):
        # Pickled into DataLoader workers: the path and metadata only; each worker maps the files.
        return {"stem": self.stem, "meta": self.meta, "_tokens": None, "_offsets": None}


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
