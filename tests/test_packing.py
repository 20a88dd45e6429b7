"""tokbook.packing against Hugging Face tokenizers / transformers and against plain definitions."""

import numpy as np
import pytest
import tokenizers
import torch
import transformers
from hypothesis import given, settings
from hypothesis import strategies as st
from transformers.loss.loss_utils import ForCausalLMLoss

from tokbook import packing


def word_tokenizer(n_words=50):
    """A Hugging Face tokenizer over words w0..w{n-1} with id i, plus [PAD] = n and [UNK] = n + 1."""
    vocab = {f"w{i}": i for i in range(n_words)}
    vocab["[PAD]"], vocab["[UNK]"] = n_words, n_words + 1
    tok = tokenizers.Tokenizer(tokenizers.models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = tokenizers.pre_tokenizers.WhitespaceSplit()
    return tok


def text_of(ids):
    return " ".join(f"w{i}" for i in ids)


# --- padding, truncation, windows, checked against Hugging Face tokenizers ---------------------

@pytest.mark.parametrize("side", ["right", "left"])
@pytest.mark.parametrize("max_length, multiple", [(None, None), (None, 4), (9, None), (9, 4)])
def test_pad_matches_hf_tokenizers(side, max_length, multiple):
    batch = [[1, 2, 3], [4], [5, 6, 7, 8, 9, 10], [11, 12]]
    tok = word_tokenizer()
    tok.enable_padding(direction=side, pad_id=50, pad_token="[PAD]", length=max_length,
                       pad_to_multiple_of=multiple)
    expected = tok.encode_batch([text_of(ids) for ids in batch])
    out = packing.pad(batch, 50, side=side, max_length=max_length, pad_to_multiple_of=multiple)
    assert out["input_ids"].tolist() == [e.ids for e in expected]
    assert out["attention_mask"].astype(int).tolist() == [e.attention_mask for e in expected]
    assert out["attention_mask"].dtype == bool


def test_pad_left_puts_every_last_token_in_the_last_column():
    batch = [[1, 2, 3], [4], [5, 6]]
    out = packing.pad(batch, 0, side="left")
    assert out["input_ids"][:, -1].tolist() == [3, 4, 6]
    right = packing.pad(batch, 0, side="right")
    assert right["input_ids"][:, -1].tolist() == [3, 0, 0]


@pytest.mark.parametrize("side", ["right", "left"])
def test_truncate_matches_hf_tokenizers(side):
    ids = list(range(13))
    tok = word_tokenizer()
    for max_length in (1, 5, 13, 20):
        tok.enable_truncation(max_length=max_length, direction=side)
        assert packing.truncate(ids, max_length, side=side).tolist() == tok.encode(text_of(ids)).ids


def test_truncate_middle_keeps_head_and_tail():
    ids = np.arange(100, 120)
    out = packing.truncate(ids, 7, side="middle", head=3)
    assert out.tolist() == [100, 101, 102, 116, 117, 118, 119]
    assert packing.truncate(ids, 6, side="middle").tolist() == [100, 101, 102, 117, 118, 119]
    assert packing.truncate(ids, 25, side="middle").tolist() == ids.tolist()


@settings(max_examples=150, deadline=None)
@given(n=st.integers(1, 40), max_length=st.integers(1, 12), stride=st.integers(0, 11))
def test_sliding_windows_match_hf_overflowing_and_cover_every_token(n, max_length, stride):
    if stride >= max_length:
        with pytest.raises(ValueError, match="stride"):
            packing.sliding_windows(range(n), max_length, stride=stride)
        return
    ids = np.arange(n)
    windows = packing.sliding_windows(ids, max_length, stride=stride)
    tok = word_tokenizer(n_words=40)
    tok.enable_truncation(max_length=max_length, stride=stride)
    encoding = tok.encode(text_of(ids))
    assert [w.input_ids.tolist() for w in windows] == [e.ids for e in [encoding, *encoding.overflowing]]
    covered = np.zeros(n, dtype=int)
    for w in windows:
        assert 1 <= len(w.input_ids) <= max_length
        assert w.input_ids.tolist() == ids[w.positions].tolist()   # the mapping back is right
        covered[w.positions] += 1
    assert covered.min() >= 1                                      # every token, the tail included
    assert windows[-1].positions[-1] == n - 1
    for a, b in zip(windows, windows[1:]):
        assert a.positions[-1] - b.positions[0] + 1 == stride       # consecutive windows share `stride`


# --- bin packing --------------------------------------------------------------------------------

def naive_first_fit(lengths, max_length):
    rooms, rows = [], []
    for length in lengths:
        row = next((r for r, room in enumerate(rooms) if room >= length), len(rooms))
        if row == len(rooms):
            rooms.append(max_length)
        rooms[row] -= length
        rows.append(row)
    return rows


def naive_best_fit_decreasing_fills(lengths, max_length):
    rooms = []
    for length in sorted(lengths, reverse=True):
        fitting = [r for r, room in enumerate(rooms) if room >= length]
        if fitting:
            rooms[min(fitting, key=lambda r: rooms[r])] -= length
        else:
            rooms.append(max_length - length)
    return sorted(max_length - room for room in rooms)


def fills(lengths, row_of_doc):
    return sorted(np.bincount(row_of_doc, weights=lengths).astype(int).tolist())


PACKERS = [packing.first_fit, packing.first_fit_decreasing, packing.best_fit_decreasing, packing.histogram_best_fit]

lengths_and_max = st.integers(1, 64).flatmap(
    lambda max_length: st.tuples(st.lists(st.integers(1, max_length), min_size=1, max_size=120), st.just(max_length))
)


@settings(max_examples=200, deadline=None)
@given(case=lengths_and_max)
def test_packers_are_valid_and_match_their_plain_definitions(case):
    lengths, max_length = case
    lengths_array = np.array(lengths)
    for packer in PACKERS:
        rows = packer(lengths, max_length)
        assert rows.shape == (len(lengths),) and rows.dtype == np.int64
        used = np.bincount(rows, weights=lengths_array)
        assert used.max() <= max_length                            # nothing overflows
        assert (used > 0).all()                                    # rows 0..R-1, none empty
        assert packing.n_rows(rows) >= packing.lower_bound(lengths, max_length)
    assert packing.first_fit(lengths, max_length).tolist() == naive_first_fit(lengths, max_length)
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    ffd = packing.first_fit_decreasing(lengths, max_length)
    assert ffd[order].tolist() == naive_first_fit([lengths[i] for i in order], max_length)
    best = naive_best_fit_decreasing_fills(lengths, max_length)
    assert fills(lengths_array, packing.best_fit_decreasing(lengths, max_length)) == best
    assert fills(lengths_array, packing.histogram_best_fit(lengths, max_length)) == best


def test_histogram_best_fit_is_near_the_lower_bound_on_many_documents():
    rng = np.random.default_rng(0)
    lengths = np.clip(rng.lognormal(np.log(200), 1.0, 50_000).round(), 1, 1024).astype(np.int64)
    rows = packing.histogram_best_fit(lengths, 1024)
    assert fills(lengths, rows) == fills(lengths, packing.best_fit_decreasing(lengths, 1024))
    assert packing.lower_bound(lengths, 1024) / packing.n_rows(rows) > 0.999
    assert packing.efficiency(lengths, rows, 1024) > 0.999


@settings(max_examples=100, deadline=None)
@given(lengths=st.lists(st.integers(1, 30), min_size=1, max_size=30), max_length=st.integers(1, 40))
def test_documents_cut_counts_documents_that_span_two_rows(lengths, max_length):
    docs = [np.full(n, 1) for n in lengths]
    out = packing.concat_chunk(docs, max_length, eos_id=2, pad_id=0)
    rows_of = [set(np.nonzero(out["document_ids"] == i)[0].tolist()) for i in range(len(docs))]
    assert packing.documents_cut([n + 1 for n in lengths], max_length) == sum(len(r) > 1 for r in rows_of)


def test_concat_chunk_keeps_every_token_and_puts_eos_after_each_document():
    docs = [[1, 2, 3], [4, 5, 6, 7, 8], [9]]
    out = packing.concat_chunk(docs, 4, eos_id=99, pad_id=0)
    real = out["input_ids"][out["attention_mask"]]
    assert real.tolist() == [1, 2, 3, 99, 4, 5, 6, 7, 8, 99, 9, 99]
    assert out["input_ids"].shape == (3, 4)
    assert packing.documents_cut([4, 6, 2], 4) == 1


# --- packed rows: positions, masks, labels, cu_seqlens ------------------------------------------

def random_documents(rng, n, max_length, vocab=1000):
    return [rng.integers(1, vocab, size=int(rng.integers(1, max_length + 1))) for _ in range(n)]


@pytest.mark.parametrize("packer", PACKERS)
def test_pack_puts_every_document_whole_in_one_row(packer):
    rng = np.random.default_rng(1)
    docs = random_documents(rng, 40, 16)
    rows = packer([len(d) for d in docs], 32)
    batch = packing.pack(docs, rows, 32, pad_id=0)
    ids, doc_ids = batch["input_ids"], batch["document_ids"]
    for i, doc in enumerate(docs):
        where_row, where_col = np.nonzero(doc_ids == i)
        assert set(where_row.tolist()) == {rows[i]}
        assert ids[where_row, where_col].tolist() == doc.tolist()
        assert batch["position_ids"][where_row, where_col].tolist() == list(range(len(doc)))
    assert (ids[~batch["attention_mask"]] == 0).all()
    assert batch["attention_mask"].sum() == sum(len(d) for d in docs)
    # cu_seqlens cuts input_ids[attention_mask] into the documents, row after row.
    flat, cu = ids[batch["attention_mask"]], batch["cu_seqlens"]
    assert cu.dtype == np.int32 and cu[0] == 0 and cu[-1] == flat.size
    in_row_order = np.argsort(rows, kind="stable")
    assert [flat[a:b].tolist() for a, b in zip(cu, cu[1:])] == [docs[i].tolist() for i in in_row_order]


def test_block_causal_mask_is_the_plain_definition_and_never_leaves_a_query_empty():
    doc_ids = np.array([[3, 3, 3, 7, 7, 1, -1, -1], [0, 0, 0, 0, 0, 0, 0, 0]])
    mask = packing.block_causal_mask(doc_ids)
    assert mask.shape == (2, 8, 8)
    for b in range(2):
        for i in range(8):
            for j in range(8):
                assert mask[b, i, j] == (j <= i and doc_ids[b, i] == doc_ids[b, j])
    assert mask.any(axis=-1).all()
    assert (mask[1] == packing.causal_mask(8)).all()


def test_labels_and_positions_match_transformers_flattening_collator():
    docs = [[5, 6, 7], [8, 9], [10, 11, 12, 13], [14]]
    collator = transformers.DataCollatorWithFlattening(return_flash_attn_kwargs=True, return_seq_idx=True)
    hf = collator([{"input_ids": d} for d in docs], return_tensors="np")
    ours = packing.pack(docs, [0, 0, 0, 0], 10, pad_id=0)
    assert ours["input_ids"].tolist() == hf["input_ids"].tolist()
    assert ours["labels"].tolist() == hf["labels"].tolist()
    assert ours["position_ids"].tolist() == hf["position_ids"].tolist()
    assert ours["document_ids"].tolist() == hf["seq_idx"].tolist()
    assert ours["cu_seqlens"].tolist() == hf["cu_seq_lens_q"].tolist()


def test_shifted_labels_ignore_exactly_the_targets_in_another_document():
    docs = [[5, 6, 7], [8, 9], [10]]
    batch = packing.pack(docs, [0, 0, 0], 8, pad_id=0)
    target = packing.shift_labels(batch["labels"])[0]
    doc_ids = batch["document_ids"][0]
    for t in range(8):
        same_document_next = t + 1 < 8 and doc_ids[t] != -1 and doc_ids[t + 1] == doc_ids[t]
        assert (target[t] != packing.IGNORE_INDEX) == same_document_next
        if same_document_next:
            assert target[t] == batch["input_ids"][0, t + 1]
    assert (target != packing.IGNORE_INDEX).sum() == sum(len(d) - 1 for d in docs)


def test_labels_convention_against_transformers_loss_and_plain_cross_entropy():
    rng = np.random.default_rng(2)
    docs = random_documents(rng, 12, 10, vocab=50)
    rows = packing.first_fit_decreasing([len(d) for d in docs], 16)
    batch = packing.pack(docs, rows, 16, pad_id=0)
    logits = torch.tensor(rng.normal(size=(*batch["input_ids"].shape, 50)))
    hf = ForCausalLMLoss(logits, torch.tensor(batch["labels"]), vocab_size=50)
    targets = torch.tensor(packing.shift_labels(batch["labels"]))
    ours = torch.nn.functional.cross_entropy(logits.reshape(-1, 50), targets.reshape(-1))
    # And by hand: the mean over documents' own next tokens of -log softmax.
    log_probs = torch.log_softmax(logits, dim=-1).numpy()
    picked = [-log_probs[b, t, targets[b, t]] for b, t in zip(*np.nonzero(targets.numpy() != -100))]
    assert len(picked) == sum(len(d) - 1 for d in docs)
    assert float(hf) == pytest.approx(float(ours), rel=1e-6)   # transformers computes in float32
    assert float(ours) == pytest.approx(float(np.mean(picked)), abs=1e-12)
    # Unshifted labels fed straight to cross_entropy give another number: the shift matters.
    unshifted = torch.nn.functional.cross_entropy(logits.reshape(-1, 50), torch.tensor(batch["labels"]).reshape(-1))
    assert abs(float(unshifted) - float(ours)) > 1e-3


# --- bad input: clear errors, nothing dropped ---------------------------------------------------

@pytest.mark.parametrize("call, error, message", [
    (lambda: packing.pad([[1, 2], [0, 3]], 0), ValueError, "pad_id=0 is a real token of batch\\[1\\]"),
    (lambda: packing.pad([[1, 2, 3]], 9, max_length=2), ValueError, "more than max_length=2"),
    (lambda: packing.pad([[1, 2]], 9, side="middle"), ValueError, "side must be"),
    (lambda: packing.pad([[1.0, 2.0]], 9), TypeError, "integer token ids"),
    (lambda: packing.pad([[[1, 2]]], 9), ValueError, "1-D"),
    (lambda: packing.pad([], 9), ValueError, "empty"),
    (lambda: packing.pad([[1, -2]], 9), ValueError, "negative"),
    (lambda: packing.pad([[1]], True), TypeError, "pad_id must be an int"),
    (lambda: packing.pad("some text", 9), TypeError, "encode the text first"),
    (lambda: packing.truncate([1, 2], 0), ValueError, "max_length must be at least 1"),
    (lambda: packing.truncate([1, 2], 3, head=1), ValueError, "side='middle'"),
    (lambda: packing.sliding_windows([], 3), ValueError, "empty"),
    (lambda: packing.histogram_best_fit([3, 9, 2], 8), ValueError, "lengths\\[1\\] is 9, longer than max_length=8"),
    (lambda: packing.first_fit([3, 0, 2], 8), ValueError, "lengths\\[1\\] is 0"),
    (lambda: packing.best_fit_decreasing([3, -4], 8), ValueError, "at least one token"),
    (lambda: packing.first_fit_decreasing([3.5, 2], 8), TypeError, "integers"),
    (lambda: packing.histogram_best_fit([], 8), ValueError, "empty"),
    (lambda: packing.pack([[1, 2], [3]], [0], 4, pad_id=0), ValueError, "one row per document"),
    (lambda: packing.pack([[1, 2], [3]], [0, 2], 4, pad_id=0), ValueError, "row 1 gets no document"),
    (lambda: packing.pack([[1, 2, 3], [3, 4]], [0, 0], 4, pad_id=0), ValueError, "5 tokens"),
    (lambda: packing.pack([[1, 2], [3, 0]], [0, 1], 4, pad_id=0), ValueError, "real token"),
    (lambda: packing.pack([[1, 2], []], [0, 1], 4, pad_id=0), ValueError, "empty"),
    (lambda: packing.concat_chunk([[1, 2]], 4, eos_id=5, pad_id=5), ValueError, "both 5"),
    (lambda: packing.labels([1, 2, 3], [0, 0]), ValueError, "must match"),
    (lambda: packing.position_ids([0.0, 1.0]), TypeError, "integers"),
    (lambda: packing.block_causal_mask([0, -2]), ValueError, "-1 marks padding"),
])
def test_bad_input_gets_a_clear_error(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_the_numpy_part_and_the_token_file_do_not_import_torch():
    """Importing torch takes seconds: the numpy part and the tokenizing workers never pay for it
    (only tokbook.packing.tiny_lm and .data import torch)."""
    import subprocess
    import sys

    code = "import sys, tokbook.packing, tokbook.packing.tokenfile; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
