"""tokbook.positions: learned, sinusoidal, RoPE (two forms) and ALiBi."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from tokbook.attention import scaled_dot_product_attention
from tokbook.packing import block_causal_mask
from tokbook.packing import position_ids as packed_position_ids
from tokbook.positions import (LearnedPositions, alibi_bias, alibi_slopes, apply_rope, apply_rope_complex,
                               interleaved_to_half, rotate_half, sinusoidal_positions)

B, nh, T, hs = 2, 4, 9, 8


def randn(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_learned_positions_are_rows_of_an_embedding_and_reject_positions_past_the_table():
    wpe = LearnedPositions(max_positions=6, C=3)
    ids = torch.tensor([[0, 1, 2, 0, 1]])
    assert torch.equal(wpe(ids)[0, 3], wpe.wpe.weight[0])   # a restarted position reuses row 0
    assert wpe.wpe.weight.requires_grad
    with pytest.raises(ValueError, match=r"\[0, 6\).*position 6"):
        wpe(torch.tensor([5, 6]))
    with pytest.raises(ValueError, match=r"\[0, 6\).*position -1"):
        wpe(torch.tensor([-1, 2]))


def test_sinusoidal_matches_the_formula_and_has_unit_pairs():
    pe = sinusoidal_positions(torch.arange(50), 16)
    p, i = 37, 3
    assert pe[p, 2 * i] == pytest.approx(math.sin(p / 10000 ** (2 * i / 16)))
    assert pe[p, 2 * i + 1] == pytest.approx(math.cos(p / 10000 ** (2 * i / 16)))
    torch.testing.assert_close(pe[:, 0::2] ** 2 + pe[:, 1::2] ** 2, torch.ones(50, 8, dtype=torch.float64))
    with pytest.raises(ValueError, match="width C of sinusoidal positions must be even.*got 5"):
        sinusoidal_positions(torch.arange(3), 5)


def test_rope_rotate_half_and_complex_forms_are_equal_up_to_the_pair_layout():
    x = randn(B, nh, T, hs)
    position_ids = torch.arange(T).expand(B, T)
    torch.testing.assert_close(apply_rope(interleaved_to_half(x), position_ids),
                               interleaved_to_half(apply_rope_complex(x, position_ids)))
    # without the reordering they differ: the pairs are different dimensions
    assert not torch.allclose(apply_rope(x, position_ids), apply_rope_complex(x, position_ids))


def test_rope_keeps_lengths_and_position_zero_is_identity():
    x = randn(T, hs, seed=1)
    torch.testing.assert_close(apply_rope(x, torch.zeros(T, dtype=torch.long)), x)
    torch.testing.assert_close(apply_rope(x, torch.arange(T)).norm(dim=-1), x.norm(dim=-1))
    torch.testing.assert_close(rotate_half(rotate_half(x)), -x)


@pytest.mark.parametrize("rope", [apply_rope, apply_rope_complex])
def test_rope_score_depends_only_on_the_distance(rope):
    q, k = randn(hs, seed=2), randn(hs, seed=3)

    def score(m, n):
        return (rope(q[None], torch.tensor([m]))[0] @ rope(k[None], torch.tensor([n]))[0]).item()

    assert score(5, 2) == pytest.approx(score(105, 102), abs=1e-10)
    assert score(5, 2) == pytest.approx(score(3, 0), abs=1e-10)
    assert score(5, 2) != pytest.approx(score(5, 3), abs=1e-3)          # another distance, another score


def test_rope_position_ids_restart_for_each_packed_document():
    x = randn(1, nh, T, hs, seed=4)
    position_ids = torch.tensor([[0, 1, 2, 3, 0, 1, 0, 1, 2]])        # three documents in one row
    packed = apply_rope(x, position_ids)
    second = apply_rope(x[:, :, 4:6], torch.arange(2)[None])          # the second document alone
    torch.testing.assert_close(packed[:, :, 4:6], second)
    assert not torch.allclose(apply_rope(x, torch.arange(T)[None])[:, :, 4:6], second)


def test_rope_shapes_and_float32():
    x = randn(B, T, hs, seed=5).float()
    out = apply_rope(x, torch.arange(T))
    assert out.dtype == torch.float32 and out.shape == x.shape
    torch.testing.assert_close(apply_rope(x[None], torch.arange(T)[None])[0], out)


def test_rope_bad_input():
    with pytest.raises(ValueError, match=r"head size of x \(9, 7\) for RoPE must be even.*got 7"):
        apply_rope(randn(T, 7), torch.arange(T))
    with pytest.raises(ValueError, match=r"head size of x \(9, 7\) for RoPE must be even"):
        apply_rope_complex(randn(T, 7), torch.arange(T))
    with pytest.raises(ValueError, match=r"position_ids \(8,\) do not fit x \(9, 8\)"):
        apply_rope(randn(T, hs), torch.arange(8))
    with pytest.raises(ValueError, match=r"position_ids \(3, 9\) do not fit x \(2, 4, 9, 8\).*batch sizes"):
        apply_rope(randn(B, nh, T, hs), torch.zeros(3, T, dtype=torch.long))
    with pytest.raises(TypeError, match="position_ids must be integers"):
        apply_rope(randn(T, hs), torch.arange(T, dtype=torch.float32))


def test_alibi_slopes_powers_of_two_and_others():
    assert alibi_slopes(8).tolist() == [2.0 ** -h for h in range(1, 9)]
    assert alibi_slopes(16).tolist() == pytest.approx([2.0 ** -(h / 2) for h in range(1, 17)])
    # 12 heads: the 8 slopes of 8 heads, then 2**-0.5, 2**-1.5, 2**-2.5, 2**-3.5 from 16 heads
    expected_12 = [2.0 ** -h for h in range(1, 9)] + [2.0 ** -(h / 2) for h in (1, 3, 5, 7)]
    assert alibi_slopes(12).tolist() == pytest.approx(expected_12)
    assert alibi_slopes(1).tolist() == [2.0 ** -8]
    for bad in (0, -3, 2.5, True):
        with pytest.raises(ValueError, match="positive integer"):
            alibi_slopes(bad)


def test_alibi_bias_with_causal_and_document_masks_in_sdpa():
    q, k, v = randn(3, B, nh, T, hs, seed=6)
    document_ids = torch.tensor([[0, 0, 0, 0, 1, 1, 2, 2, 2], [0] * T])
    position_ids = torch.from_numpy(packed_position_ids(document_ids.numpy()))     # restart per document
    assert position_ids[0].tolist() == [0, 1, 2, 3, 0, 1, 0, 1, 2]
    bias = alibi_bias(alibi_slopes(nh), position_ids)                  # (B, nh, T, T)
    assert bias.shape == (B, nh, T, T)
    assert bias[0, 0, 3, 1] == -alibi_slopes(nh)[0] * 2                # 2 positions back
    allowed = torch.from_numpy(block_causal_mask(document_ids.numpy()))[:, None]   # (B, 1, T, T)
    mask = bias.masked_fill(~allowed, -math.inf)
    out = scaled_dot_product_attention(q, k, v, attn_mask=mask)
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v, attn_mask=mask), rtol=0, atol=1e-10)
    # the third document of row 0 behaves exactly as if it were alone with its own ALiBi bias
    alone_mask = alibi_bias(alibi_slopes(nh), torch.arange(3)).masked_fill(
        ~torch.ones(3, 3, dtype=torch.bool).tril(), -math.inf)
    alone = F.scaled_dot_product_attention(q[:1, :, 6:], k[:1, :, 6:], v[:1, :, 6:], attn_mask=alone_mask)
    torch.testing.assert_close(out[:1, :, 6:], alone)
    with pytest.raises(ValueError, match=r"slopes must have one dimension \(nh,\), got shape \(2, 2\)"):
        alibi_bias(torch.ones(2, 2), torch.arange(T))
