"""Sampling: special and unused ids masked out of the logits, and what goes wrong without it."""

import pytest
import torch
import torch.nn.functional as F

from tokbook.special_tokens import special_tokens
from tokbook.special_tokens.sampling import banned_ids, generate, mask_logits, sample_next
from tokbook.special_tokens.templates import IGNORE_INDEX
from tokbook.special_tokens.vocab import TinyLM

VOCAB, PAD = 40, 0


def padded_batch(generator):
    """16 sequences of 4-12 ordinary ids (1..39), right-padded with PAD to length 16."""
    rows = []
    for _ in range(16):
        n = int(torch.randint(4, 13, (1,), generator=generator))
        row = torch.randint(1, VOCAB, (n,), generator=generator)
        rows.append(torch.cat([row, torch.full((16 - n,), PAD)]))
    return torch.stack(rows)  # (16, 16)


def train(ignore_pad: bool) -> TinyLM:
    model = TinyLM(VOCAB, seed=0)
    optimiser = torch.optim.Adam(model.parameters(), lr=0.05)
    generator = torch.Generator().manual_seed(0)
    for _ in range(60):
        batch = padded_batch(generator)
        inputs, targets = batch[:, :-1], batch[:, 1:].clone()
        if ignore_pad:
            targets[targets == PAD] = IGNORE_INDEX
        loss = F.cross_entropy(model(inputs).reshape(-1, VOCAB), targets.reshape(-1), ignore_index=IGNORE_INDEX)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return model


@pytest.fixture(scope="module")
def pad_in_loss():
    return train(ignore_pad=False)


def test_a_model_that_learned_pad_samples_pad_unless_it_is_masked(pad_in_loss):
    unmasked = generate(pad_in_loss, [5], 200, generator=torch.Generator().manual_seed(1))
    masked = generate(pad_in_loss, [5], 200, [PAD], generator=torch.Generator().manual_seed(1))
    assert unmasked.count(PAD) > 20  # PAD was a fifth of the targets it learned from
    assert PAD not in masked


def test_ignoring_pad_in_the_loss_leaves_it_little_probability(pad_in_loss):
    ignored = train(ignore_pad=True)
    ids = torch.arange(1, VOCAB).reshape(1, -1)
    with torch.no_grad():
        p_pad_learned = pad_in_loss(ids).softmax(-1)[..., PAD].mean().item()
        p_pad_ignored = ignored(ids).softmax(-1)[..., PAD].mean().item()
    assert p_pad_learned > 0.1
    assert p_pad_ignored < p_pad_learned / 5


def test_masked_ids_get_exactly_zero_probability_and_the_rest_renormalise():
    logits = torch.randn(3, 50, generator=torch.Generator().manual_seed(0))
    probs = mask_logits(logits, [0, 7, 49]).softmax(-1)
    assert torch.all(probs[:, [0, 7, 49]] == 0)
    assert torch.allclose(probs.sum(-1), torch.ones(3))
    keep = [i for i in range(50) if i not in (0, 7, 49)]
    assert torch.allclose(probs[:, keep], logits[:, keep].softmax(-1))


def test_cl100k_unused_ids_cannot_even_be_decoded():
    from tokbook.encodings import get_encoding

    enc = get_encoding("cl100k_base")
    table = special_tokens("cl100k_base")
    with pytest.raises(KeyError):
        enc.decode([table.unused_ids[0]])
    banned = banned_ids(table)
    assert set(table.unused_ids) <= set(banned) and enc.eot_token not in banned
    logits = torch.zeros(enc.n_vocab)
    logits[banned] = 20.0  # a model that loves the wrong ids
    drawn = sample_next(logits.expand(200, -1), banned, generator=torch.Generator().manual_seed(0))
    assert not set(drawn.tolist()) & set(banned)
    enc.decode(drawn.tolist())  # decodes without error


def test_banned_ids_of_every_family():
    assert banned_ids(special_tokens("gpt2")) == []
    assert banned_ids(special_tokens("gpt2"), allow_roles=()) == [50256]
    v3 = banned_ids(special_tokens("mistral_v3_instruct"))
    assert 2 not in v3 and {0, 1, 3, 4} <= set(v3) and len(v3) == 750


def test_bad_sampling_input():
    with pytest.raises(ValueError, match="out of range for logits with 10 columns"):
        mask_logits(torch.zeros(10), [10])
    with pytest.raises(ValueError, match="every id is banned"):
        mask_logits(torch.zeros(3), [0, 1, 2])
    with pytest.raises(TypeError, match="floating-point"):
        mask_logits(torch.zeros(3, dtype=torch.long), [])
    with pytest.raises(ValueError, match="temperature must be a positive"):
        sample_next(torch.zeros(3), temperature=0)
    with pytest.raises(ValueError, match="allow_roles must be a list of roles"):
        banned_ids(special_tokens("gpt2"), allow_roles=["END"])
