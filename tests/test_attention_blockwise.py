"""tokbook.attention.blockwise_attention: equal to SDPA, and no tensor of size T x T."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode

from tokbook.attention import blockwise_attention, scaled_dot_product_attention

B, nh, T, hs = 2, 3, 23, 8


def randn(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def assert_equals_sdpa(q, k, v, **kwargs):
    expected = F.scaled_dot_product_attention(q, k, v, **kwargs)
    for block_size in (1, 5, 8, 64):                 # dividing T or not, smaller and larger than T
        out = blockwise_attention(q, k, v, block_size=block_size, **kwargs)
        torch.testing.assert_close(out, expected, rtol=0, atol=1e-10)


@pytest.mark.parametrize("L, S", [(T, T), (7, T), (T, 9)])
def test_causal_and_unmasked_equal_sdpa(L, S):
    q, k, v = randn(B, nh, L, hs), randn(B, nh, S, hs, seed=1), randn(B, nh, S, hs + 2, seed=2)
    assert_equals_sdpa(q, k, v)
    assert_equals_sdpa(q, k, v, is_causal=True)
    assert_equals_sdpa(q, k, v, scale=0.2)


def test_masks_with_fully_masked_rows_and_bias():
    q, k, v = randn(3, B, nh, T, hs, seed=3)
    document_ids = torch.tensor([[0] * 10 + [1] * 13, [0] * 20 + [1] * 3])
    allowed = (document_ids[:, :, None] == document_ids[:, None, :]) & torch.ones(T, T, dtype=torch.bool).tril()
    allowed = allowed[:, None].clone()                                 # (B, 1, T, T)
    allowed[1, :, 4] = False                                           # a query that may attend to nothing
    assert_equals_sdpa(q, k, v, attn_mask=allowed)
    bias = -torch.arange(T, dtype=torch.float64)[:, None].sub(torch.arange(T)).abs() / 4   # (T, T)
    assert_equals_sdpa(q, k, v, attn_mask=bias.masked_fill(~allowed, -math.inf))
    out = blockwise_attention(q, k, v, attn_mask=allowed, block_size=4)
    assert torch.equal(out[1, :, 4], torch.zeros(nh, hs))


def test_no_keys_or_no_queries():
    q, k, v = randn(3, B, nh, T, hs, seed=7)
    assert_equals_sdpa(q, k[:, :, :0], v[:, :, :0])
    assert_equals_sdpa(q[:, :, :0], k, v)


def test_gqa_and_broadcast_batch():
    q, k, v = randn(B, 6, T, hs), randn(B, 2, T, hs, seed=4), randn(1, 2, T, hs, seed=5)
    assert_equals_sdpa(q, k, v, is_causal=True, enable_gqa=True)
    assert_equals_sdpa(q[:1], k[:, :1].expand(B, 6, T, hs), v[:, :1].expand(B, 6, T, hs))


class LargestTensor(TorchDispatchMode):
    """Records the number of elements of the largest tensor any torch operation returns."""

    def __init__(self):
        super().__init__()
        self.largest = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for x in out if isinstance(out, (tuple, list)) else (out,):
            if isinstance(x, torch.Tensor):
                self.largest = max(self.largest, x.numel())
        return out


def largest_tensor(attend, T, **kwargs):
    q, k, v = randn(3, 1, 2, T, 16, seed=6)
    with LargestTensor() as tracker:
        attend(q, k, v, is_causal=True, **kwargs)
    return tracker.largest


def test_extra_memory_is_linear_in_T_not_quadratic():
    block = 32
    for T_ in (256, 512):
        blockwise = largest_tensor(blockwise_attention, T_, block_size=block)
        assert blockwise <= 2 * max(block * T_, T_ * 16)               # (B, nh) x block x T at most
        assert blockwise < 2 * T_ * T_ / 8                             # far below one T x T per head
        # the same tracker sees the readable path build the whole (B, nh, T, T) score tensor
        assert largest_tensor(scaled_dot_product_attention, T_) >= 2 * T_ * T_
    # doubling T doubles the largest blockwise tensor and quadruples the readable path's
    assert largest_tensor(blockwise_attention, 1024, block_size=block) == 2 * largest_tensor(
        blockwise_attention, 512, block_size=block)
    assert largest_tensor(scaled_dot_product_attention, 512) == 4 * largest_tensor(scaled_dot_product_attention, 256)


def test_bad_input():
    q, k, v = randn(3, B, nh, T, hs)
    with pytest.raises(TypeError, match="takes torch tensors"):
        blockwise_attention(q.numpy(), k.numpy(), v.numpy())
    with pytest.raises(ValueError, match="block_size must be a positive integer, got 0"):
        blockwise_attention(q, k, v, block_size=0)
    with pytest.raises(ValueError, match=r"query \(2, 3, 23, 8\) has 3 heads, key \(2, 2, 23, 8\) has 2"):
        blockwise_attention(q, k[:, :2], v[:, :2], enable_gqa=True)
    with pytest.raises(ValueError, match=r"attn_mask of shape \(23, 5\) does not broadcast"):
        blockwise_attention(q, k, v, attn_mask=torch.ones(T, 5, dtype=torch.bool))
