"""tokbook.attention.multihead against torch.nn.MultiheadAttention; GQA, MQA and the KV cache."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from tokbook.attention import MODEL_SHAPES, KVCache, MultiHeadAttention, kv_cache_bytes

B, T, C, nh = 2, 9, 16, 4


def x_(seed=0):
    return torch.randn(B, T, C, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


@pytest.mark.parametrize("flash", [True, False])
@pytest.mark.parametrize("bias", [True, False])
def test_equals_torch_multihead_attention_with_the_same_weights(flash, bias):
    torch.manual_seed(0)
    theirs = nn.MultiheadAttention(C, nh, bias=bias, batch_first=True, dtype=torch.float64).eval()
    ours = MultiHeadAttention.from_torch(theirs, flash=flash).eval()
    x = x_()
    expected, _ = theirs(x, x, x, need_weights=False)
    torch.testing.assert_close(ours(x), expected, rtol=0, atol=1e-12)
    # causal: torch's boolean attn_mask is inverted (True = may NOT attend)
    causal = torch.ones(T, T, dtype=torch.bool).tril()
    expected, _ = theirs(x, x, x, attn_mask=~causal, need_weights=False)
    torch.testing.assert_close(ours(x, is_causal=True), expected, rtol=0, atol=1e-12)
    torch.testing.assert_close(ours(x, attn_mask=causal), expected, rtol=0, atol=1e-12)
    # padding: torch's key_padding_mask is True at padded keys
    keep = torch.tensor([[True] * T, [True] * 5 + [False] * (T - 5)])   # (B, T)
    expected, _ = theirs(x, x, x, key_padding_mask=~keep, need_weights=False)
    torch.testing.assert_close(ours(x, attn_mask=keep[:, None, None, :]), expected, rtol=0, atol=1e-12)


def test_readable_and_fast_paths_agree():
    torch.manual_seed(1)
    fast = MultiHeadAttention(C, nh, n_kv_heads=2).double()
    readable = MultiHeadAttention(C, nh, n_kv_heads=2, flash=False).double()
    readable.load_state_dict(fast.state_dict())
    torch.testing.assert_close(readable(x_(1), is_causal=True), fast(x_(1), is_causal=True))


@pytest.mark.parametrize("n_kv_heads", [2, 1])   # grouped-query, multi-query
def test_gqa_equals_mha_with_each_kv_head_repeated_for_its_group(n_kv_heads):
    torch.manual_seed(2)
    gqa = MultiHeadAttention(C, nh, n_kv_heads=n_kv_heads).double()
    assert gqa.k_proj.weight.shape == (n_kv_heads * C // nh, C)          # fewer key/value parameters
    mha = MultiHeadAttention(C, nh).double()
    hs, group = C // nh, nh // n_kv_heads
    with torch.no_grad():
        mha.q_proj.load_state_dict(gqa.q_proj.state_dict())
        mha.out_proj.load_state_dict(gqa.out_proj.state_dict())
        for name in ("k_proj", "v_proj"):
            small, big = getattr(gqa, name), getattr(mha, name)
            # (nkv*hs, C) -> (nkv, hs, C) -> (nh, hs, C) -> (nh*hs, C): head h uses kv head h // group
            big.weight.copy_(small.weight.view(n_kv_heads, hs, C).repeat_interleave(group, 0).reshape(C, C))
            big.bias.copy_(small.bias.view(n_kv_heads, hs).repeat_interleave(group, 0).reshape(C))
    torch.testing.assert_close(gqa(x_(2), is_causal=True), mha(x_(2), is_causal=True))


@pytest.mark.parametrize("n_kv_heads", [4, 2, 1])
@pytest.mark.parametrize("chunks", [[1] * T, [4, 1, 1, 3]])
def test_kv_cache_decoding_equals_full_recomputation(n_kv_heads, chunks):
    torch.manual_seed(3)
    mha = MultiHeadAttention(C, nh, n_kv_heads=n_kv_heads).double().eval()
    x = x_(3)
    full = mha(x, is_causal=True)
    cache = KVCache(B, n_kv_heads, max_T=T, hs=C // nh, dtype=torch.float64)
    outputs, start = [], 0
    for n in chunks:   # a prompt, then tokens one at a time, each seeing only what came before
        outputs.append(mha(x[:, start:start + n], is_causal=True, cache=cache))
        start += n
    torch.testing.assert_close(torch.cat(outputs, dim=1), full, rtol=0, atol=1e-12)
    assert cache.length == T and cache.k.shape == (B, n_kv_heads, T, C // nh)


def test_kv_cache_and_layer_errors():
    cache = KVCache(B=1, n_kv_heads=2, max_T=4, hs=3)
    cache.update(torch.zeros(1, 2, 3, 3), torch.zeros(1, 2, 3, 3))
    with pytest.raises(ValueError, match="holds 4 positions: 3 are used and 2 more do not fit"):
        cache.update(torch.zeros(1, 2, 2, 3), torch.zeros(1, 2, 2, 3))
    with pytest.raises(ValueError, match=r"keys \(1, 4, 1, 3\) and values \(1, 4, 1, 3\) must both be .*\(1, 2, T, 3\)"):
        cache.update(torch.zeros(1, 4, 1, 3), torch.zeros(1, 4, 1, 3))
    with pytest.raises(ValueError, match="C=10 must be divisible by the number of heads nh=4"):
        MultiHeadAttention(10, 4)
    with pytest.raises(ValueError, match="n_kv_heads=3 must divide nh=4"):
        MultiHeadAttention(16, 4, n_kv_heads=3)
    with pytest.raises(ValueError, match=r"x must be \(B, T, C\) with C=16, got \(9, 16\)"):
        MultiHeadAttention(16, 4)(torch.zeros(9, 16))
    with pytest.raises(ValueError, match="kdim = vdim = embed_dim"):
        MultiHeadAttention.from_torch(nn.MultiheadAttention(16, 4, kdim=8, vdim=8))


def test_kv_cache_sizes_of_published_shapes():
    shapes = {s.name: s for s in MODEL_SHAPES}
    # Llama-2-7B: 2 (k and v) * 32 layers * 32 heads * 128 * 2 bytes = 0.5 MiB per token
    assert kv_cache_bytes(shapes["Llama-2-7B"], 1) == 2 * 32 * 32 * 128 * 2 == 512 * 1024
    # Mistral 7B's 8 key-value heads make its cache 4 times smaller at the same length
    assert kv_cache_bytes(shapes["Llama-2-7B"], 8192) == 4 * kv_cache_bytes(shapes["Mistral 7B"], 8192)
    assert kv_cache_bytes(shapes["GPT-2 small"], 1024, B=8, bytes_per_value=4) == 2 * 12 * 12 * 64 * 1024 * 8 * 4
    with pytest.raises(ValueError, match="T must be a positive integer, got 0"):
        kv_cache_bytes(shapes["Mistral 7B"], 0)
