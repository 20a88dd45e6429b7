"""tokbook.attention.embeddings: the lookup, the cost table, nearest-row decoding."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from tokbook.attention import embedding_costs, nearest_rows, one_hot_lookup, openai_vocabulary_sizes


def test_lookup_equals_one_hot_times_the_matrix():
    torch.manual_seed(0)
    wte = nn.Embedding(50, 8)
    ids = torch.randint(0, 50, (3, 11))                                  # (B, T)
    torch.testing.assert_close(one_hot_lookup(ids, wte.weight), wte(ids))
    # and the gradient reaches exactly the rows that were looked up, as nn.Embedding's does
    one_hot_lookup(ids, wte.weight).sum().backward()
    touched = wte.weight.grad.abs().sum(-1) > 0
    assert set(touched.nonzero().flatten().tolist()) == set(ids.flatten().tolist())
    with pytest.raises(ValueError, match=r"\[0, 50\) for a table of shape \(50, 8\), got ids from 0 to 50"):
        one_hot_lookup(torch.tensor([0, 50]), wte.weight)


def test_openai_vocabulary_sizes_come_from_the_real_files():
    assert openai_vocabulary_sizes() == {"gpt2": 50257, "cl100k_base": 100277, "o200k_base": 200019}


def test_embedding_costs_tied_untied_fp32_bf16():
    rows = embedding_costs({"gpt2": 50257, "mistral": 32000}, [768, 4096])
    assert len(rows) == 2 * 2 * 2
    by_key = {(r.name, r.C, r.tied): r for r in rows}
    gpt2 = by_key["gpt2", 768, True]
    assert gpt2.parameters == 50257 * 768 == 38_597_376                  # GPT-2 small's wte
    assert gpt2.bytes_fp32 == 4 * gpt2.parameters and gpt2.bytes_bf16 == 2 * gpt2.parameters
    assert by_key["mistral", 4096, False].parameters == 2 * 32000 * 4096
    with pytest.raises(ValueError, match="vocabulary size of 'x' must be a positive integer, got 0"):
        embedding_costs({"x": 0}, [8])
    with pytest.raises(ValueError, match="widths must be positive integers, got -8"):
        embedding_costs({"x": 10}, [-8])


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_nearest_row_decodes_stored_embeddings_and_small_perturbations(metric):
    torch.manual_seed(1)
    weight = torch.randn(1000, 32)
    ids = torch.randint(0, 1000, (4, 16))
    assert torch.equal(nearest_rows(weight[ids], weight, metric=metric), ids)
    assert torch.equal(nearest_rows(weight[ids] + 0.01 * torch.randn(4, 16, 32), weight, metric=metric), ids)
    # a vector moved far from its row (here: a large position vector added) no longer decodes to it
    moved = weight[ids] + 3 * torch.randn(4, 16, 32)
    assert (nearest_rows(moved, weight, metric=metric) != ids).float().mean() > 0.5


def test_identical_rows_make_the_lookup_not_invertible():
    weight = torch.randn(10, 4)
    weight[7] = weight[3]
    assert nearest_rows(weight[7], weight).item() == 3                  # id 7 comes back as 3


def test_nearest_rows_bad_input():
    with pytest.raises(ValueError, match=r"vectors \(2, 5\) must end with the width C .* \(10, 4\)"):
        nearest_rows(torch.zeros(2, 5), torch.zeros(10, 4))
    with pytest.raises(ValueError, match="metric must be 'euclidean' or 'cosine', got 'dot'"):
        nearest_rows(torch.zeros(2, 4), torch.zeros(10, 4), metric="dot")
