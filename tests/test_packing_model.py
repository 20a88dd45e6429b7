"""The proof: a packed batch with its masks and position ids computes exactly what each document
alone computes, and leaving out the block mask or the position reset changes the numbers."""

import numpy as np
import pytest
import torch
from transformers.loss.loss_utils import ForCausalLMLoss

from tokbook import packing
from tokbook.packing.tiny_lm import TinyCausalLM, causal_lm_loss

VOCAB, MAX_LENGTH = 64, 24


@pytest.fixture(scope="module")
def packed():
    rng = np.random.default_rng(0)
    docs = [rng.integers(1, VOCAB, size=int(n)) for n in rng.integers(2, 13, size=9)]
    rows = packing.best_fit_decreasing([len(d) for d in docs], MAX_LENGTH)
    batch = packing.pack(docs, rows, MAX_LENGTH, pad_id=0)
    assert (np.bincount(rows) > 1).any()      # some row really holds several documents
    return docs, batch


def run(model, batch, *, mask=None, positions=None):
    """Logits and loss of the packed batch, with its own mask and positions unless others are given."""
    mask = packing.block_causal_mask(batch["document_ids"]) if mask is None else mask
    positions = batch["position_ids"] if positions is None else positions
    with torch.no_grad():
        logits = model(*(torch.tensor(np.array(a)) for a in (batch["input_ids"], positions, mask)))
    return logits, causal_lm_loss(logits, torch.as_tensor(batch["labels"]))


def run_alone(model, docs):
    """Each document in a batch of its own: its logits, and the loss over all documents' tokens."""
    logits, total, count = [], 0.0, 0
    for doc in docs:
        T = len(doc)
        with torch.no_grad():
            out = model(torch.as_tensor(doc)[None], torch.arange(T)[None], torch.ones(1, T, T).tril().bool())
        logits.append(out[0])
        total = total + causal_lm_loss(out, torch.as_tensor(doc)[None], reduction="sum")
        count += T - 1
    return logits, total / count


def per_document(logits, batch, n_docs):
    """The packed logits of each document, cut out of its row."""
    out = []
    for i in range(n_docs):
        rows, cols = np.nonzero(batch["document_ids"] == i)
        out.append(logits[rows, cols])
    return out


@pytest.mark.parametrize("positions", ["learned", "rope"])
def test_packed_batch_gives_the_same_logits_and_loss_as_each_document_alone(packed, positions):
    docs, batch = packed
    model = TinyCausalLM(VOCAB, MAX_LENGTH, positions=positions)
    assert next(model.parameters()).dtype == torch.float64
    logits, loss = run(model, batch)
    alone_logits, alone_loss = run_alone(model, docs)
    for got, want in zip(per_document(logits, batch, len(docs)), alone_logits):
        assert torch.allclose(got, want, rtol=0, atol=1e-5)
    assert abs(float(loss) - float(alone_loss)) < 1e-5
    assert torch.isfinite(logits).all()       # padding queries are not left with an empty mask


def biggest_gap(model, docs, batch, **change):
    logits, loss = run(model, batch, **change)
    alone_logits, alone_loss = run_alone(model, docs)
    gap = max(float((got - want).abs().max())
              for got, want in zip(per_document(logits, batch, len(docs)), alone_logits))
    return gap, abs(float(loss) - float(alone_loss))


def test_without_the_block_mask_documents_see_each_other(packed):
    docs, batch = packed
    model = TinyCausalLM(VOCAB, MAX_LENGTH)
    plain = np.broadcast_to(packing.causal_mask(MAX_LENGTH), (len(batch["input_ids"]), MAX_LENGTH, MAX_LENGTH))
    logit_gap, loss_gap = biggest_gap(model, docs, batch, mask=plain)
    assert logit_gap > 0.05 and loss_gap > 1e-3


def test_without_the_position_reset_learned_positions_change_the_result(packed):
    docs, batch = packed
    model = TinyCausalLM(VOCAB, MAX_LENGTH)
    running = np.broadcast_to(np.arange(MAX_LENGTH), batch["input_ids"].shape)
    logit_gap, loss_gap = biggest_gap(model, docs, batch, positions=running)
    assert logit_gap > 0.05 and loss_gap > 1e-3


def test_rotary_positions_need_the_mask_but_not_the_reset(packed):
    """Rotary attention depends only on i - j, which is the same inside a document however its
    positions are offset; so with the block mask the reset changes nothing, without it everything."""
    docs, batch = packed
    model = TinyCausalLM(VOCAB, MAX_LENGTH, positions="rope")
    running = np.broadcast_to(np.arange(MAX_LENGTH), batch["input_ids"].shape)
    logit_gap, loss_gap = biggest_gap(model, docs, batch, positions=running)
    assert logit_gap < 1e-9 and loss_gap < 1e-9
    plain = np.broadcast_to(packing.causal_mask(MAX_LENGTH), (len(batch["input_ids"]), MAX_LENGTH, MAX_LENGTH))
    logit_gap, loss_gap = biggest_gap(model, docs, batch, mask=plain)
    assert logit_gap > 0.05 and loss_gap > 1e-3


def test_the_model_loss_is_transformers_loss():
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 7, 11, generator=generator, dtype=torch.float64)
    labels = torch.randint(0, 11, (2, 7), generator=generator)
    labels[0, :2] = packing.IGNORE_INDEX
    hf = ForCausalLMLoss(logits, labels, vocab_size=11)
    assert float(causal_lm_loss(logits, labels)) == pytest.approx(float(hf), rel=1e-6)


def test_the_model_refuses_a_float_mask():
    model = TinyCausalLM(VOCAB, MAX_LENGTH)
    with pytest.raises(TypeError, match="boolean"):
        model(torch.tensor([[1, 2]]), torch.tensor([[0, 1]]), torch.ones(1, 2, 2).tril())


def greedy(model, input_ids, attention_mask, steps):
    """Greedy generation from a padded batch, reading each next token from the last column.

    The padding is one more "document" (id -1), so the block mask keeps real tokens off it and
    the position ids count each prompt from 0 wherever its real tokens start.
    """
    ids, mask = np.array(input_ids), np.array(attention_mask)
    for _ in range(steps):
        doc_ids = np.where(mask, 0, -1)
        with torch.no_grad():
            logits = model(torch.tensor(ids), torch.tensor(packing.position_ids(doc_ids)),
                           torch.tensor(packing.block_causal_mask(doc_ids)))
        next_token = logits[:, -1].argmax(-1).numpy()
        ids = np.concatenate([ids, next_token[:, None]], axis=1)
        mask = np.concatenate([mask, np.ones((len(ids), 1), dtype=bool)], axis=1)
    return ids[:, -steps:]


def test_batched_generation_needs_left_padding():
    model = TinyCausalLM(VOCAB, 32)
    prompts = [[5, 6, 7, 8, 9, 10], [11, 12], [13, 14, 15, 16]]
    alone = [greedy(model, [p], [[True] * len(p)], 5)[0].tolist() for p in prompts]
    left = packing.pad(prompts, 0, side="left")
    assert greedy(model, left["input_ids"], left["attention_mask"], 5).tolist() == alone
    # Right padding puts pads in the last column of the shorter prompts: their first new token
    # is predicted from a pad, and what follows is generated after a gap of pads.
    right = packing.pad(prompts, 0, side="right")
    wrong = greedy(model, right["input_ids"], right["attention_mask"], 5).tolist()
    assert wrong[0] == alone[0]                      # the longest prompt has no padding
    assert wrong[1] != alone[1] and wrong[2] != alone[2]
