"""From token streams to training batches: padding, windows, packing, masks and labels.

Names follow the ecosystem (Hugging Face ``transformers``, PyTorch, FlashAttention):
``input_ids``, ``attention_mask``, ``position_ids``, ``labels``, :data:`IGNORE_INDEX` (-100),
``cu_seqlens``, and ``document_ids`` (-1 on padding). Boolean masks mean True = may attend.

- :mod:`~tokbook.packing.padding`: :func:`pad`, :func:`truncate`, :func:`sliding_windows`.
- :mod:`~tokbook.packing.binpack`: documents into rows without cutting any
  (:func:`first_fit`, :func:`first_fit_decreasing`, :func:`best_fit_decreasing`,
  :func:`histogram_best_fit`), judged against :func:`lower_bound`; :func:`documents_cut` counts
  what concatenate-and-chunk cuts.
- :mod:`~tokbook.packing.rows`: the rows themselves (:func:`pack`, :func:`concat_chunk`) and
  what is computed from ``document_ids``: :func:`position_ids`, :func:`block_causal_mask`,
  :func:`labels`, :func:`shift_labels`, :func:`cu_seqlens`.

Four modules are imported on their own: :mod:`tokbook.packing.tokenfile` tokenizes a corpus in
parallel into a memory-mapped token file, and :mod:`tokbook.packing.hf` builds the same ids with
Hugging Face ``datasets``; :mod:`tokbook.packing.data` (torch) reads the token file back as
datasets of random windows or packed rows; :mod:`tokbook.packing.tiny_lm` (torch) is a tiny
causal language model that shows packed rows compute what separate documents do.

>>> docs = [[5, 6, 7, 8], [9, 10], [11, 12, 13]]
>>> rows = histogram_best_fit([len(d) for d in docs], 6)
>>> batch = pack(docs, rows, 6, pad_id=0)
>>> batch["input_ids"].tolist()
[[5, 6, 7, 8, 9, 10], [11, 12, 13, 0, 0, 0]]
>>> batch["position_ids"].tolist()
[[0, 1, 2, 3, 0, 1], [0, 1, 2, 0, 1, 2]]
"""

from tokbook.packing.binpack import (
    best_fit_decreasing,
    documents_cut,
    efficiency,
    first_fit,
    first_fit_decreasing,
    histogram_best_fit,
    lower_bound,
    n_rows,
)
from tokbook.packing.padding import Window, pad, sliding_windows, truncate
from tokbook.packing.rows import (
    IGNORE_INDEX,
    block_causal_mask,
    causal_mask,
    concat_chunk,
    cu_seqlens,
    labels,
    pack,
    position_ids,
    shift_labels,
)

__all__ = [
    "IGNORE_INDEX", "Window", "best_fit_decreasing", "block_causal_mask", "causal_mask",
    "concat_chunk", "cu_seqlens", "documents_cut", "efficiency", "first_fit",
    "first_fit_decreasing", "histogram_best_fit", "labels", "lower_bound", "n_rows", "pack", "pad",
    "position_ids", "shift_labels", "sliding_windows", "truncate",
]
