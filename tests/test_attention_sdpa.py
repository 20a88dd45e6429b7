"""tokbook.attention.scaled_dot_product_attention (numpy and torch) against torch's own function."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from tokbook.attention import attention_weights, scaled_dot_product_attention
from tokbook.packing import block_causal_mask

B, nh, T, hs = 2, 3, 7, 5


def qkv(seed: int = 0, *, Hk: int = nh, L: int = T, S: int = T):
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(B, nh, L, hs, generator=g, dtype=torch.float64)
    k = torch.randn(B, Hk, S, hs, generator=g, dtype=torch.float64)
    v = torch.randn(B, Hk, S, hs + 1, generator=g, dtype=torch.float64)
    return q, k, v


def assert_all_paths_equal(q, k, v, **kwargs):
    """Our torch path and our numpy path both equal torch's SDPA to 1e-10 in float64."""
    expected = F.scaled_dot_product_attention(q, k, v, **kwargs)
    ours = scaled_dot_product_attention(q, k, v, **kwargs)
    torch.testing.assert_close(ours, expected, rtol=0, atol=1e-10)
    np_kwargs = {name: (x.numpy() if isinstance(x, torch.Tensor) else x) for name, x in kwargs.items()}
    ours_np = scaled_dot_product_attention(q.numpy(), k.numpy(), v.numpy(), **np_kwargs)
    assert isinstance(ours_np, np.ndarray) and ours_np.dtype == np.float64
    np.testing.assert_allclose(ours_np, expected.numpy(), rtol=0, atol=1e-10)
    return expected


def test_no_mask_and_scale():
    q, k, v = qkv()
    assert_all_paths_equal(q, k, v)
    assert_all_paths_equal(q, k, v, scale=0.3)


def test_causal():
    q, k, v = qkv(1)
    out = assert_all_paths_equal(q, k, v, is_causal=True)
    # the first query sees only the first key, so its output is the first value
    torch.testing.assert_close(out[:, :, 0], v[:, :, 0])


def test_causal_with_fewer_queries_is_top_left_aligned_like_torch():
    q, k, v = qkv(2, L=3, S=T)
    assert_all_paths_equal(q, k, v, is_causal=True)


def test_padding_mask():
    q, k, v = qkv(3)
    attention_mask = torch.tensor([[1] * T, [1] * 4 + [0] * (T - 4)])   # (B, T): row 1 padded
    mask = attention_mask.bool()[:, None, None, :]                      # (B, 1, 1, T) keys
    assert_all_paths_equal(q, k, v, attn_mask=mask)
    causal_padded = mask & torch.ones(T, T, dtype=torch.bool).tril()    # (B, 1, T, T)
    assert_all_paths_equal(q, k, v, attn_mask=causal_padded)


def block_causal(document_ids: torch.Tensor) -> torch.Tensor:
    """(B, T) document ids -> (B, 1, T, T): tokbook.packing's mask, with a heads dimension."""
    return torch.from_numpy(block_causal_mask(document_ids.numpy()))[:, None]


def test_packed_block_diagonal_mask_equals_each_document_alone():
    q, k, v = qkv(4)
    document_ids = torch.tensor([[0, 0, 0, 1, 1, 2, 2], [0, 0, 0, 0, 0, 0, 1]])
    out = assert_all_paths_equal(q, k, v, attn_mask=block_causal(document_ids))
    # the second document of row 0 (positions 3, 4) attends as if it were alone
    alone = F.scaled_dot_product_attention(q[:1, :, 3:5], k[:1, :, 3:5], v[:1, :, 3:5], is_causal=True)
    torch.testing.assert_close(out[:1, :, 3:5], alone)


def test_float_mask_alibi_bias_with_causal_and_document_masks():
    q, k, v = qkv(5)
    slopes = torch.tensor([2.0 ** -(8 * (h + 1) / nh) for h in range(nh)], dtype=torch.float64)
    i = torch.arange(T)
    bias = -slopes[:, None, None] * (i[:, None] - i[None, :]).abs()     # (nh, T, T)
    assert_all_paths_equal(q, k, v, attn_mask=bias)
    document_ids = torch.tensor([[0, 0, 0, 1, 1, 2, 2], [0, 0, 0, 0, 0, 0, 1]])
    allowed = block_causal(document_ids)                                # (B, 1, T, T)
    float_mask = bias.masked_fill(~allowed, -math.inf)                  # (B, nh, T, T)
    assert_all_paths_equal(q, k, v, attn_mask=float_mask)


def test_float_mask_of_another_float_dtype_is_cast_like_torch():
    q, k, v = qkv(6)
    assert_all_paths_equal(q, k, v, attn_mask=torch.randn(T, T, dtype=torch.float32))


def test_fully_masked_row_gives_zeros_like_torch():
    q, k, v = qkv(7)
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    mask[2] = False                                                     # query 2 may attend to nothing
    out = assert_all_paths_equal(q, k, v, attn_mask=mask)
    assert torch.equal(out[:, :, 2], torch.zeros_like(out[:, :, 2]))    # what torch 2.13 does on CPU
    assert torch.isfinite(out).all()
    float_mask = torch.zeros(T, T, dtype=torch.float64).masked_fill(~mask, -math.inf)
    assert_all_paths_equal(q, k, v, attn_mask=float_mask)
    weights = attention_weights(q.numpy(), k.numpy(), mask.numpy())
    assert (weights[..., 2, :] == 0).all()
    np.testing.assert_allclose(np.delete(weights, 2, axis=-2).sum(-1), 1.0)


@pytest.mark.parametrize("Hk", [1, 3])   # multi-query (one key head) and grouped-query (2 heads per group)
def test_grouped_query_attention(Hk):
    q = torch.randn(B, 6, T, hs, dtype=torch.float64)
    k, v = torch.randn(2, B, Hk, T, hs, dtype=torch.float64)
    assert_all_paths_equal(q, k, v, is_causal=True, enable_gqa=True)
    # query head h uses key/value head h // (6 // Hk)
    out = scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
    h = 5
    alone = F.scaled_dot_product_attention(q[:, h], k[:, h // (6 // Hk)], v[:, h // (6 // Hk)], is_causal=True)
    torch.testing.assert_close(out[:, h], alone)


def test_broadcast_batch_dimensions_and_unbatched_inputs():
    q, k, v = qkv(8)
    assert_all_paths_equal(q, k[:1], v[:, :1])
    assert_all_paths_equal(q[0, 0], k[0, 0], v[0, 0], is_causal=True)


def test_no_keys_or_no_queries_like_torch():
    q, k, v = qkv(13)
    out = assert_all_paths_equal(q, k[:, :, :0], v[:, :, :0])            # S = 0: zeros, as torch
    assert out.shape == (B, nh, T, hs + 1) and not out.any()
    assert assert_all_paths_equal(q[:, :, :0], k, v).shape == (B, nh, 0, hs + 1)


def test_torch_path_readable_equals_fast_in_float32():
    q, k, v = (x.float() for x in qkv(9))
    torch.testing.assert_close(scaled_dot_product_attention(q, k, v, is_causal=True),
                               F.scaled_dot_product_attention(q, k, v, is_causal=True))


def test_dropout_torch_draws_like_torch():
    q, k, v = qkv(10)
    torch.manual_seed(3)
    expected = F.scaled_dot_product_attention(q, k, v, dropout_p=0.3)
    torch.manual_seed(3)
    torch.testing.assert_close(scaled_dot_product_attention(q, k, v, dropout_p=0.3), expected)
    assert scaled_dot_product_attention(q, k, v, dropout_p=1.0).abs().max() == 0


def test_dropout_numpy_zeroes_or_rescales_each_weight():
    q, k, _ = (x.numpy() for x in qkv(11))
    identity = np.broadcast_to(np.eye(T), (B, nh, T, T))    # value = I, so the output is the weights
    weights = attention_weights(q, k, is_causal=True)
    dropped = scaled_dot_product_attention(q, k, identity, dropout_p=0.25, is_causal=True)
    kept = dropped != 0
    np.testing.assert_allclose(dropped[kept], weights[kept] / 0.75)
    assert 0.5 < kept[weights > 0].mean() < 0.95             # about 3/4 of the 168 allowed weights survive
    assert not scaled_dot_product_attention(q, k, identity, dropout_p=1.0).any()


def test_weights_rows_sum_to_one_and_respect_the_mask():
    q, k, _ = qkv(12)
    w = attention_weights(q, k, is_causal=True)
    torch.testing.assert_close(w.sum(-1), torch.ones(B, nh, T, dtype=torch.float64))
    assert (w.triu(1) == 0).all()


@pytest.mark.parametrize("make, message", [
    (lambda q, k, v: (q, k[..., :4], v), r"query \(2, 3, 7, 5\) and key \(2, 3, 7, 4\) must have the same last"),
    (lambda q, k, v: (q, k, v[:, :, :6]), r"key \(2, 3, 7, 5\) and value \(2, 3, 6, 6\) .* positions S"),
    (lambda q, k, v: (q, k[:, :2], v[:, :2]), r"query \(2, 3, 7, 5\) and key \(2, 2, 7, 5\) do not broadcast.*enable_gqa"),
    (lambda q, k, v: (q[0, 0, 0], k, v), r"at least 2 dimensions .* got shape \(5,\)"),
])
def test_bad_shapes_name_the_shapes(make, message):
    for convert in (lambda x: x, lambda x: x.numpy()):
        q, k, v = (convert(x) for x in make(*qkv()))
        with pytest.raises(ValueError, match=message):
            scaled_dot_product_attention(q, k, v)


def test_gqa_heads_not_divisible():
    q, k, v = qkv(Hk=2)
    with pytest.raises(ValueError, match=r"query \(2, 3, 7, 5\) has 3 heads, key \(2, 2, 7, 5\) has 2"):
        scaled_dot_product_attention(q, k, v, enable_gqa=True)


def test_bad_masks():
    q, k, v = qkv()
    with pytest.raises(TypeError, match="dtype torch.int64: pass a boolean mask"):
        scaled_dot_product_attention(q, k, v, attn_mask=torch.ones(T, T, dtype=torch.int64))
    with pytest.raises(TypeError, match="dtype int64: pass a boolean mask"):
        scaled_dot_product_attention(q.numpy(), k.numpy(), v.numpy(), attn_mask=np.ones((T, T), dtype=np.int64))
    with pytest.raises(ValueError, match=r"attn_mask of shape \(7, 6\) does not broadcast .* \(2, 3, 7, 7\)"):
        scaled_dot_product_attention(q, k, v, attn_mask=torch.ones(T, 6, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"attn_mask of shape \(4, 3, 7, 7\) does not broadcast"):
        scaled_dot_product_attention(q, k, v, attn_mask=torch.ones(4, nh, T, T, dtype=torch.bool))
    with pytest.raises(ValueError, match="either attn_mask or is_causal"):
        scaled_dot_product_attention(q, k, v, attn_mask=torch.ones(T, T, dtype=torch.bool), is_causal=True)
    with pytest.raises(TypeError, match="attn_mask must be a Tensor like query, got ndarray"):
        scaled_dot_product_attention(q, k, v, attn_mask=np.ones((T, T), dtype=bool))


def test_bad_types_and_dropout():
    q, k, v = qkv()
    with pytest.raises(TypeError, match="must both be numpy arrays or both torch tensors"):
        scaled_dot_product_attention(q, k.numpy(), v)
    with pytest.raises(TypeError, match="same dtype"):
        scaled_dot_product_attention(q, k.float(), v)
    with pytest.raises(TypeError, match="floating point, got dtype int64"):
        scaled_dot_product_attention(q.numpy().astype(np.int64), k.numpy().astype(np.int64), v.numpy())
    with pytest.raises(ValueError, match="dropout_p must be between 0 and 1, got 1.5"):
        scaled_dot_product_attention(q, k, v, dropout_p=1.5)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 2), st.integers(1, 3), st.integers(1, 6), st.integers(1, 6), st.integers(1, 4),
       st.sampled_from(["none", "causal", "bool", "float"]), st.integers(0, 2**16))
def test_random_shapes_and_masks_equal_torch(b, h, L, S, E, kind, seed):
    """Any shape, any mask (fully masked rows included): numpy, our torch and torch's SDPA agree."""
    g = torch.Generator().manual_seed(seed)
    q, k = torch.randn(b, h, L, E, generator=g, dtype=torch.float64), torch.randn(b, h, S, E, generator=g, dtype=torch.float64)
    v = torch.randn(b, h, S, E + 1, generator=g, dtype=torch.float64)
    allowed = torch.rand(b, 1, L, S, generator=g) < 0.6
    kwargs = {"none": {}, "causal": {"is_causal": True}, "bool": {"attn_mask": allowed},
              "float": {"attn_mask": torch.randn(L, S, generator=g, dtype=torch.float64).masked_fill(~allowed, -math.inf)}}
    assert_all_paths_equal(q, k, v, **kwargs[kind])
