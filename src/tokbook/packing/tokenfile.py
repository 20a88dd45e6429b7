"""A corpus too big for memory, tokenized once into a flat, memory-mapped token file.

:func:`tokenize_to_file` encodes documents in worker processes with a real encoding
(:func:`tokbook.encodings.get_encoding`) and writes three files next to each other:

- ``<stem>.bin``: every token of every document, end to end, each followed by the encoding's
  end-of-text token, as ``uint16`` if the vocabulary fits in 16 bits (GPT-2) and ``uint32``
  otherwise (:func:`token_dtype`);
- ``<stem>.idx``: ``int64`` offsets, document ``i`` being ``tokens[offsets[i]:offsets[i + 1]]``;
- ``<stem>.json``: the encoding, dtype and counts.

:class:`TokenFile` opens them as memory maps, so reading a document touches only its pages;
:mod:`tokbook.packing.data` streams them into torch batches. Work splits across machines the
same way: give each one a shard of the documents and its own output stem, and read the shards
one after another. This module does not import torch, so the workers stay small.
"""

from __future__ import annotations

import json
import multiprocessing
from collections import deque
from collections.abc import Iterable, Iterator
from itertools import chain, islice
from pathlib import Path

import numpy as np

from tokbook.packing import _checks

__all__ = ["TokenFile", "token_dtype", "tokenize_to_file"]


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
    lengths = np.array([len(d) for d in docs], dtype=np.int64)
    return np.fromiter(chain.from_iterable(docs), dtype=dtype, count=int(lengths.sum())), lengths


def _batches(documents: Iterable[str], size: int) -> Iterator[tuple[int, list[str]]]:
    """Batches of documents, each with the index of its first document."""
    iterator, first = iter(documents), 0
    while batch := list(islice(iterator, size)):
        yield first, batch
        first += len(batch)


def tokenize_to_file(documents: Iterable[str], stem, *, encoding: str = "gpt2", workers: int = 1,
                     batch_size: int = 256) -> "TokenFile":
    """Encode ``documents`` (any iterable of strings, read lazily) into ``<stem>.bin/.idx/.json``.

    ``workers`` processes encode batches of ``batch_size`` documents; the parent reads ahead at
    most two batches per worker and writes the results in order, so the files are the same for
    any number of workers and memory holds a few batches, not the corpus.
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

        def write(result) -> None:
            nonlocal n_docs, n_tokens
            tokens, lengths = result.get()
            tokens_out.write(tokens.tobytes())
            index_out.write((n_tokens + np.cumsum(lengths)).tobytes())
            n_docs += len(lengths)
            n_tokens += int(lengths.sum())

        # At most two batches per worker in flight (Pool.imap would read the whole corpus ahead),
        # written in the order they were read.
        in_flight: deque = deque()
        for batch in _batches(documents, batch_size):
            in_flight.append(pool.apply_async(_encode_batch, (batch,)))
            if len(in_flight) >= 2 * workers:
                write(in_flight.popleft())
        while in_flight:
            write(in_flight.popleft())
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
