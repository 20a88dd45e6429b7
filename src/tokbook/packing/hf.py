"""The token-file pipeline again, with Hugging Face ``datasets``: what most users reach for.

:func:`tokenize_with_datasets` builds a :class:`datasets.Dataset` of documents (from strings with
``Dataset.from_dict``, or from local text files with ``load_dataset("text", ...,
sample_by="document")``, one file per document), encodes them with ``map(batched=True,
num_proc=...)`` and returns it in torch format (``with_format("torch")``): row ``i`` holds
``input_ids``, the same ids as ``TokenFile.document(i)`` of :func:`tokbook.packing.tokenfile.
tokenize_to_file`, end-of-text included. Only local data is read; the hub is never asked
(``HF_DATASETS_OFFLINE`` and ``HF_HUB_OFFLINE`` are set before ``datasets`` is imported).

:func:`shard_bounds` says which documents each of ``num_shards`` machines takes: the contiguous
split ``Dataset.shard(num_shards, index, contiguous=True)`` makes, so machine ``k`` reads a
range of document offsets and the shards, in order, are the whole corpus.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from tokbook.packing import _checks

__all__ = ["shard_bounds", "tokenize_with_datasets"]


def _import_datasets():
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import datasets

    return datasets


def _encode(batch: dict, encoding_name: str) -> dict:
    """One batch of documents (in a ``map`` process): their ids, each ended by end-of-text."""
    from tokbook.encodings import get_encoding

    enc = get_encoding(encoding_name)
    return {"input_ids": [enc.encode_ordinary(text) + [enc.eot_token] for text in batch["text"]]}


def tokenize_with_datasets(documents, encoding: str = "gpt2", *, num_proc: int = 1, batch_size: int = 256,
                           cache_dir=None):
    """Encode ``documents`` with ``datasets``: a list of strings, or of local text-file paths.

    Returns a torch-format :class:`datasets.Dataset` with one column, ``input_ids``. With paths,
    each file is one document and ``cache_dir`` is where ``load_dataset`` keeps its Arrow files
    (its default is ``~/.cache/huggingface/datasets``).
    """
    from tokbook.encodings import ENCODING_NAMES

    if isinstance(documents, (str, bytes, Path)) or not isinstance(documents, Sequence):
        raise TypeError("documents must be a list of strings (one per document) or of text-file paths, "
                        f"not {type(documents).__name__}")
    if not documents:
        raise ValueError("documents is empty; there is nothing to tokenize")
    if encoding not in ENCODING_NAMES:
        raise ValueError(f"encoding must be one of {', '.join(ENCODING_NAMES)}, got {encoding!r}")
    num_proc = _checks.check_int(num_proc, "num_proc", minimum=1)
    batch_size = _checks.check_int(batch_size, "batch_size", minimum=1)
    datasets = _import_datasets()
    if all(isinstance(d, Path) for d in documents):
        missing = [str(p) for p in documents if not p.is_file()]
        if missing:
            raise FileNotFoundError(f"these text files do not exist: {', '.join(missing[:3])}")
        data = datasets.load_dataset("text", data_files=[str(p) for p in documents], sample_by="document",
                                     split="train", cache_dir=None if cache_dir is None else str(cache_dir))
    elif all(isinstance(d, str) for d in documents):
        data = datasets.Dataset.from_dict({"text": list(documents)})
    else:
        kinds = sorted({type(d).__name__ for d in documents})
        raise TypeError(f"documents must be all strings or all pathlib.Path, got {', '.join(kinds)}")
    tokens = data.map(_encode, batched=True, batch_size=batch_size, num_proc=num_proc if num_proc > 1 else None,
                      remove_columns=data.column_names, fn_kwargs={"encoding_name": encoding})
    return tokens.with_format("torch")


def shard_bounds(n_documents: int, num_shards: int) -> list[tuple[int, int]]:
    """The document range ``[start, stop)`` of each contiguous shard, as ``datasets`` cuts them.

    The first ``n_documents % num_shards`` shards take one document more than the others.

    >>> shard_bounds(10, 3)
    [(0, 4), (4, 7), (7, 10)]
    """
    n_documents = _checks.check_int(n_documents, "n_documents", minimum=0)
    num_shards = _checks.check_int(num_shards, "num_shards", minimum=1)
    size, extra = divmod(n_documents, num_shards)
    bounds, start = [], 0
    for k in range(num_shards):
        stop = start + size + (k < extra)
        bounds.append((start, stop))
        start = stop
    return bounds
