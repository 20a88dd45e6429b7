"""Memory-efficient attention: the softmax computed online, one block of keys at a time.

The readable path materialises every score, ``(B, nh, T, T)``: at T = 4096 with B = 8 and 8 heads
that is 4 GiB in float32, for one layer. But a softmax row can be built in pieces. Keep, for each
query, the largest score seen so far ``m``, the sum ``total`` of ``exp(score - m)`` and the weighted sum
``acc`` of the values. A new block of scores with a larger maximum ``m'`` only rescales both by
``exp(m - m')``. After the last block, ``acc / total`` is exactly the softmax-weighted sum of the values.
This is the idea of FlashAttention (Dao et al. 2022), here in plain torch: the largest tensor it
allocates is one block of scores, ``(B, nh, block_size, block_size)``, the output (and, with
``enable_gqa``, the keys and values repeated per head); nothing of size T x T, so the extra memory grows linearly with T.
"""

from __future__ import annotations

import math

import torch

from tokbook.attention.sdpa import _check_query_key, _check_value, _repeat_heads


def blockwise_attention(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                        attn_mask: torch.Tensor | None = None, is_causal: bool = False,
                        scale: float | None = None, enable_gqa: bool = False, *,
                        block_size: int = 128) -> torch.Tensor:
    """``scaled_dot_product_attention`` (no dropout), block by block with an online softmax.

    Same arguments, masks, causal alignment and fully-masked-row zeros as torch's function.
    With ``is_causal``, key blocks entirely in a query block's future are skipped.

    >>> q = k = v = torch.randn(1, 2, 10, 4, dtype=torch.float64)
    >>> expected = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
    >>> torch.allclose(blockwise_attention(q, k, v, is_causal=True, block_size=3), expected)
    True
    """
    if not all(isinstance(x, torch.Tensor) for x in (query, key, value)):
        raise TypeError("blockwise_attention takes torch tensors; for numpy arrays use "
                        "tokbook.attention.scaled_dot_product_attention")
    _check_query_key(query, key, attn_mask, is_causal, enable_gqa)
    _check_value(query, key, value, enable_gqa)
    if isinstance(block_size, bool) or not isinstance(block_size, int) or block_size < 1:
        raise ValueError(f"block_size must be a positive integer, got {block_size!r}")
    L, S, E = query.shape[-2], key.shape[-2], query.shape[-1]
    scale = 1.0 / math.sqrt(E) if scale is None else scale
    key = _repeat_heads(key, query.shape, enable_gqa)                        # (..., S, E)
    value = _repeat_heads(value, query.shape, enable_gqa)                    # (..., S, Ev)
    batch = torch.broadcast_shapes(query.shape[:-2], key.shape[:-2], value.shape[:-2])
    Ev = value.shape[-1]
    N = math.prod(batch)                                                     # B * nh
    q = (query * scale).expand(*batch, L, E).reshape(N, L, E)               # (..., L, E) -> (N, L, E)
    k = key.expand(*batch, S, E).reshape(N, S, E)                           # (..., S, E) -> (N, S, E)
    v = value.expand(*batch, S, Ev).reshape(N, S, Ev)                       # (..., S, Ev) -> (N, S, Ev)
    if attn_mask is not None:
        attn_mask = attn_mask.expand(*batch, L, S)                           # a view: nothing copied
    out = q.new_empty(N, L, Ev)                                              # (N, L, Ev)
    for q0 in range(0, L, block_size):
        q1 = min(q0 + block_size, L)
        m = q.new_full((N, q1 - q0, 1), -math.inf)                           # running row maximum
        total = q.new_zeros((N, q1 - q0, 1))                                 # running sum of exp
        acc = q.new_zeros((N, q1 - q0, Ev))                                  # running sum of exp * value
        k_end = min(q1, S) if is_causal else S                               # later keys are all in the future
        for k0 in range(0, k_end, block_size):
            k1 = min(k0 + block_size, k_end)
            s = torch.bmm(q[:, q0:q1], k[:, k0:k1].transpose(1, 2))         # (N, bq, bk)
            if is_causal and k1 - 1 > q0:                                    # the block crosses the diagonal
                future = torch.arange(k0, k1)[None, :] > torch.arange(q0, q1)[:, None]   # (bq, bk)
                s.masked_fill_(future, -math.inf)
            if attn_mask is not None:
                block = attn_mask[..., q0:q1, k0:k1].reshape(N, q1 - q0, k1 - k0)   # (..., bq, bk) -> (N, bq, bk)
                if block.dtype == torch.bool:
                    s.masked_fill_(~block, -math.inf)
                else:
                    s.add_(block.to(s.dtype))
            m_new = torch.maximum(m, s.amax(dim=-1, keepdim=True))           # (N, bq, 1)
            shift = torch.where(torch.isneginf(m_new), 0.0, m_new)           # no allowed key yet: exp(-inf) = 0
            p = s.sub_(shift).exp_()                                         # (N, bq, bk), in place
            correction = (m - shift).exp_()                                  # rescales the old sums to m_new
            total.mul_(correction).add_(p.sum(dim=-1, keepdim=True))
            acc.mul_(correction).baddbmm_(p, v[:, k0:k1])                    # acc * correction + p @ v
            m = m_new
        out[:, q0:q1] = torch.where(total > 0, acc / total.clamp_min(torch.finfo(total.dtype).tiny), 0.0)
    return out.view(*batch, L, Ev)                                           # (N, L, Ev) -> (..., L, Ev)
