"""Token embeddings: a trainable table with one row per token id, and what the table costs.

The lookup ``weight[ids]`` is the same as multiplying a one-hot vector by the table, which is why
the table can be trained like any other matrix; but nobody computes the product, because a (T, V)
one-hot matrix is V times larger than the T ids it encodes and all but T of its entries are zero.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping

import torch
import torch.nn.functional as F

BYTES_PER_PARAMETER = {"fp32": 4, "bf16": 2}


def one_hot_lookup(ids: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """The readable path: ``one_hot(ids) @ weight``, equal to ``weight[ids]`` (``nn.Embedding``).

    >>> weight = torch.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])    # V = 3, C = 2
    >>> one_hot_lookup(torch.tensor([2, 0]), weight)
    tensor([[5., 6.],
            [1., 2.]])
    """
    V = weight.shape[0]
    if ids.numel() and not (0 <= int(ids.min()) and int(ids.max()) < V):
        raise ValueError(f"token ids must lie in [0, {V}) for a table of shape {tuple(weight.shape)}, "
                         f"got ids from {int(ids.min())} to {int(ids.max())}")
    one_hot = F.one_hot(ids, V).to(weight.dtype)                      # (..., T) -> (..., T, V)
    return one_hot @ weight                                           # (..., T, V) @ (V, C) -> (..., T, C)


def openai_vocabulary_sizes() -> dict[str, int]:
    """``n_vocab`` of the three tiktoken encodings, read from the real vocabulary files (offline)."""
    from tokbook.encodings import get_encoding

    return {name: get_encoding(name).n_vocab for name in ("gpt2", "cl100k_base", "o200k_base")}


@dataclass(frozen=True)
class EmbeddingCost:
    """Parameters and memory of the token embedding table (and the output layer, if untied)."""

    name: str
    n_vocab: int
    C: int
    tied: bool
    parameters: int
    bytes_fp32: int
    bytes_bf16: int


def embedding_costs(vocab_sizes: Mapping[str, int], widths: Iterable[int]) -> list[EmbeddingCost]:
    """One row per vocabulary, width C and tying: ``V * C`` parameters when the output layer reuses the
    embedding table (tied, as GPT-2 does), ``2 * V * C`` when it has its own ``(V, C)`` matrix (untied,
    as Llama and Mistral do). Memory counts the weights only, at 4 bytes (fp32) or 2 (bf16) each.

    >>> [(c.tied, c.parameters, c.bytes_bf16) for c in embedding_costs({"gpt2": 50257}, [768])]
    [(True, 38597376, 77194752), (False, 77194752, 154389504)]
    """
    widths = list(widths)
    for name, V in vocab_sizes.items():
        if isinstance(V, bool) or not isinstance(V, int) or V < 1:
            raise ValueError(f"the vocabulary size of {name!r} must be a positive integer, got {V!r}")
    for C in widths:
        if isinstance(C, bool) or not isinstance(C, int) or C < 1:
            raise ValueError(f"model widths must be positive integers, got {C!r}")
    rows = []
    for name, V in vocab_sizes.items():
        for C in widths:
            for tied in (True, False):
                parameters = V * C * (1 if tied else 2)
                rows.append(EmbeddingCost(name, V, C, tied, parameters,
                                          parameters * BYTES_PER_PARAMETER["fp32"],
                                          parameters * BYTES_PER_PARAMETER["bf16"]))
    return rows


def nearest_rows(vectors: torch.Tensor, weight: torch.Tensor, *, metric: str = "euclidean") -> torch.Tensor:
    """Decode vectors to the ids of the nearest table rows: ``(..., C) -> (...)``.

    An embedding that came straight out of the table decodes to its id exactly when no other row is
    identical; once a vector has been moved (a position added, attention mixed it), the nearest row
    is only a guess. ``metric`` is ``"euclidean"`` or ``"cosine"``; ties go to the smaller id.

    >>> weight = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    >>> nearest_rows(torch.tensor([[0.1, 0.9], [-2.0, 0.1]]), weight)
    tensor([1, 2])
    """
    if weight.ndim != 2 or vectors.shape[-1:] != weight.shape[-1:]:
        raise ValueError(f"vectors {tuple(vectors.shape)} must end with the width C of the table "
                         f"(V, C) = {tuple(weight.shape)}")
    if metric == "euclidean":
        flat = vectors.reshape(-1, weight.shape[1]).to(weight.dtype)                            # (N, C)
        # exact differences, not the faster |a|^2 - 2ab + |b|^2 that can put a row's own distance above 0
        distance = torch.cdist(flat, weight, compute_mode="donot_use_mm_for_euclid_dist")       # (N, V)
    elif metric == "cosine":
        v = F.normalize(vectors.reshape(-1, weight.shape[1]).to(weight.dtype), dim=-1)          # (N, C)
        distance = -(v @ F.normalize(weight, dim=-1).T)                                         # (N, V)
    else:
        raise ValueError(f"metric must be 'euclidean' or 'cosine', got {metric!r}")
    return distance.argmin(dim=-1).reshape(vectors.shape[:-1])       # (N,) -> (...)
