"""Scaled dot-product attention in numpy and in torch, with torch's signature and semantics.

Shapes follow torch: ``query`` is ``(..., L, E)``, ``key`` ``(..., S, E)``, ``value``
``(..., S, Ev)`` and the output ``(..., L, Ev)``, where ``...`` is usually ``(B, nh)`` and L = S = T
for self-attention. The leading (batch) dimensions broadcast against each other.

- ``attn_mask`` boolean: True means the query may attend to that key; float: added to the scores
  (0 keeps a score, ``-inf`` removes it, anything else biases it, as ALiBi does). It must broadcast
  to ``(..., L, S)``.
- ``is_causal=True``: query i attends to keys 0..i (top-left aligned, as torch does when L != S).
- ``enable_gqa=True``: key and value may have fewer heads (dimension -3) than query; query head h
  uses key head ``h // (Hq // Hk)`` (grouped-query attention; one key head is multi-query).
- A query that may attend to no key at all (its whole row masked) gets an output of zeros, not NaN:
  torch 2.13's ``scaled_dot_product_attention`` does exactly this on CPU, for boolean and for
  all-``-inf`` float masks, so we do the same.

>>> import numpy as np
>>> q = k = np.eye(2)                         # two queries and two keys, E = 2
>>> v = np.array([[1.0, 0.0], [0.0, 1.0]])
>>> scaled_dot_product_attention(q, k, v, is_causal=True).round(2)
array([[1.  , 0.  ],
       [0.33, 0.67]])
"""

from __future__ import annotations

import math

import numpy as np
import torch

Array = np.ndarray | torch.Tensor


def scaled_dot_product_attention(query: Array, key: Array, value: Array, attn_mask: Array | None = None,
                                 dropout_p: float = 0.0, is_causal: bool = False,
                                 scale: float | None = None, enable_gqa: bool = False) -> Array:
    """softmax(query @ key.T * scale + mask) @ value, for numpy arrays or for torch tensors.

    The readable path: the scores are materialised, ``(..., L, S)``. For torch tensors the fast
    path is ``torch.nn.functional.scaled_dot_product_attention``; the tests prove both agree.
    Dropout (``dropout_p`` > 0) zeroes each weight with probability ``dropout_p`` and scales the
    rest by ``1 / (1 - dropout_p)``; torch tensors draw from torch's generator exactly as torch's
    function does, numpy arrays from a fresh ``numpy.random.default_rng()``.
    """
    _check_query_key(query, key, attn_mask, is_causal, enable_gqa)
    _check_value(query, key, value, enable_gqa)
    if not 0.0 <= dropout_p <= 1.0:
        raise ValueError(f"dropout_p must be between 0 and 1, got {dropout_p}")
    weights = _weights(query, key, attn_mask, is_causal, scale, enable_gqa)   # (..., L, S)
    value = _repeat_heads(value, query.shape, enable_gqa)                     # (..., S, Ev)
    if isinstance(query, torch.Tensor):
        if dropout_p > 0:
            weights = torch.dropout(weights, dropout_p, train=True)
        return weights @ value                                                # (..., L, Ev)
    if dropout_p > 0:
        keep = np.random.default_rng().random(weights.shape) >= dropout_p
        weights = np.where(keep, weights / (1.0 - dropout_p), 0.0) if dropout_p < 1 else 0.0 * weights
    return weights @ value                                                    # (..., L, Ev)


def attention_weights(query: Array, key: Array, attn_mask: Array | None = None, *, is_causal: bool = False,
                      scale: float | None = None, enable_gqa: bool = False) -> Array:
    """The attention probabilities ``(..., L, S)``: each row sums to 1, or is all 0 if fully masked.

    >>> import numpy as np
    >>> attention_weights(np.zeros((3, 4)), np.zeros((3, 4)), is_causal=True)
    array([[1.        , 0.        , 0.        ],
           [0.5       , 0.5       , 0.        ],
           [0.33333333, 0.33333333, 0.33333333]])
    """
    _check_query_key(query, key, attn_mask, is_causal, enable_gqa)
    return _weights(query, key, attn_mask, is_causal, scale, enable_gqa)


def _weights(query, key, attn_mask, is_causal, scale, enable_gqa):
    L, S, E = query.shape[-2], key.shape[-2], query.shape[-1]
    scale = 1.0 / math.sqrt(E) if scale is None else scale
    key = _repeat_heads(key, query.shape, enable_gqa)
    if isinstance(query, torch.Tensor):
        scores = query @ key.transpose(-2, -1) * scale                      # (..., L, S)
        if is_causal:
            attn_mask = torch.ones(L, S, dtype=torch.bool).tril()            # (L, S)
        if attn_mask is not None and attn_mask.dtype == torch.bool:
            scores = scores.masked_fill(~attn_mask, -math.inf)
        elif attn_mask is not None:
            scores = scores + attn_mask.to(scores.dtype)
        return _softmax_torch(scores)
    scores = query @ np.swapaxes(key, -2, -1) * scale                       # (..., L, S)
    if is_causal:
        attn_mask = np.tril(np.ones((L, S), dtype=bool))                    # (L, S)
    if attn_mask is not None and attn_mask.dtype == np.bool_:
        scores = np.where(attn_mask, scores, -np.inf)
    elif attn_mask is not None:
        scores = scores + attn_mask.astype(scores.dtype)
    return _softmax_numpy(scores)


def _softmax_numpy(scores: np.ndarray) -> np.ndarray:
    """Softmax over the last axis; a row of only -inf becomes a row of zeros."""
    row_max = scores.max(axis=-1, keepdims=True, initial=-np.inf)   # no key at all (S = 0) counts as masked
    row_max = np.where(np.isneginf(row_max), 0.0, row_max)   # fully masked row: exp(-inf) = 0
    e = np.exp(scores - row_max)
    total = e.sum(axis=-1, keepdims=True)
    return np.divide(e, total, out=np.zeros_like(e), where=total > 0)


def _softmax_torch(scores: torch.Tensor) -> torch.Tensor:
    """Softmax over the last dimension; a row of only -inf becomes a row of zeros."""
    if scores.shape[-1] == 0:                                # no key at all (S = 0): nothing to weigh
        return scores
    row_max = scores.amax(dim=-1, keepdim=True)
    row_max = torch.where(torch.isneginf(row_max), 0.0, row_max)
    e = torch.exp(scores - row_max)
    total = e.sum(dim=-1, keepdim=True)
    return torch.where(total > 0, e / total.clamp_min(torch.finfo(e.dtype).tiny), 0.0)


def _repeat_heads(x: Array, query_shape: tuple, enable_gqa: bool) -> Array:
    """Grouped-query attention: repeat each key/value head for the query heads that share it."""
    if not enable_gqa or x.shape[-3] == query_shape[-3]:
        return x
    group = query_shape[-3] // x.shape[-3]
    if isinstance(x, torch.Tensor):
        return x.repeat_interleave(group, dim=-3)   # (..., Hk, S, E) -> (..., Hq, S, E)
    return np.repeat(x, group, axis=-3)             # (..., Hk, S, E) -> (..., Hq, S, E)


def _is_float(x: Array) -> bool:
    return x.is_floating_point() if isinstance(x, torch.Tensor) else np.issubdtype(x.dtype, np.floating)


def _is_bool(x: Array) -> bool:
    return x.dtype == (torch.bool if isinstance(x, torch.Tensor) else np.bool_)


def _batch_shape(query_shape: tuple, other_shape: tuple, name: str, enable_gqa: bool) -> tuple:
    """The leading dimensions of ``other`` as they must broadcast with the query's."""
    batch = tuple(other_shape[:-2])
    if not enable_gqa:
        return batch
    hq, hk = query_shape[-3], other_shape[-3]
    if hq % hk:
        raise ValueError(f"enable_gqa=True needs the heads of {name} (dimension -3) to divide the query's: "
                         f"query {tuple(query_shape)} has {hq} heads, {name} {tuple(other_shape)} has {hk}")
    return batch[:-1] + (hq,)


def _check_query_key(query, key, attn_mask, is_causal: bool, enable_gqa: bool) -> None:
    arrays = {"query": query, "key": key}
    kinds = {type(x).__name__ for x in arrays.values()}
    if not all(isinstance(x, (np.ndarray, torch.Tensor)) for x in arrays.values()) or len(kinds) > 1:
        raise TypeError(f"query and key must both be numpy arrays or both torch tensors, got {sorted(kinds)}")
    for name, x in arrays.items():
        if x.ndim < 2:
            raise ValueError(f"{name} must have at least 2 dimensions (..., T, E), got shape {tuple(x.shape)}")
        if not _is_float(x):
            raise TypeError(f"{name} must be floating point, got dtype {x.dtype}")
    if query.dtype != key.dtype:
        raise TypeError(f"query and key must have the same dtype, got {query.dtype} and {key.dtype}")
    if enable_gqa and (query.ndim < 3 or key.ndim < 3):
        raise ValueError(f"enable_gqa=True needs a heads dimension (-3): query {tuple(query.shape)}, "
                         f"key {tuple(key.shape)}")
    if query.shape[-1] != key.shape[-1]:
        raise ValueError(f"query {tuple(query.shape)} and key {tuple(key.shape)} must have the same "
                         "last dimension E (the query-key dot product runs over it)")
    key_batch = _batch_shape(query.shape, key.shape, "key", enable_gqa)
    try:
        batch = np.broadcast_shapes(tuple(query.shape[:-2]), key_batch)
    except ValueError:
        hint = "" if enable_gqa else "; if key has fewer heads than query, pass enable_gqa=True"
        raise ValueError(f"the batch dimensions of query {tuple(query.shape)} and key {tuple(key.shape)} "
                         f"do not broadcast{hint}") from None
    if attn_mask is None:
        return
    if is_causal:
        raise ValueError("pass either attn_mask or is_causal=True, not both (as torch requires); "
                         "to combine them, put the causal rule into the mask")
    if not isinstance(attn_mask, type(query)):
        raise TypeError(f"attn_mask must be a {type(query).__name__} like query, got {type(attn_mask).__name__}")
    if not (_is_bool(attn_mask) or _is_float(attn_mask)):
        raise TypeError(f"attn_mask has dtype {attn_mask.dtype}: pass a boolean mask (True = may attend) "
                        "or a float mask that is added to the scores (0 or -inf)")
    scores_shape = tuple(batch) + (query.shape[-2], key.shape[-2])
    try:
        fits = np.broadcast_shapes(tuple(attn_mask.shape), scores_shape) == scores_shape
    except ValueError:
        fits = False
    if not fits:
        raise ValueError(f"attn_mask of shape {tuple(attn_mask.shape)} does not broadcast to the scores' "
                         f"shape {scores_shape} (..., L, S) of query {tuple(query.shape)} and key "
                         f"{tuple(key.shape)}")


def _check_value(query, key, value, enable_gqa: bool) -> None:
    if type(value) is not type(query):
        raise TypeError(f"value must be a {type(query).__name__} like query, got {type(value).__name__}")
    if value.ndim < 2 or value.dtype != query.dtype:
        raise TypeError(f"value must have at least 2 dimensions and query's dtype {query.dtype}, "
                        f"got shape {tuple(value.shape)} and dtype {value.dtype}")
    if value.shape[-2] != key.shape[-2]:
        raise ValueError(f"key {tuple(key.shape)} and value {tuple(value.shape)} must have the same "
                         "number of positions S (dimension -2)")
    if enable_gqa and value.ndim < 3:
        raise ValueError(f"enable_gqa=True needs a heads dimension (-3): value {tuple(value.shape)}")
    value_batch = _batch_shape(query.shape, value.shape, "value", enable_gqa)
    try:
        np.broadcast_shapes(tuple(query.shape[:-2]), value_batch)
    except ValueError:
        hint = "" if enable_gqa else "; if value has fewer heads than query, pass enable_gqa=True"
        raise ValueError(f"the batch dimensions of query {tuple(query.shape)} and value "
                         f"{tuple(value.shape)} do not broadcast{hint}") from None
