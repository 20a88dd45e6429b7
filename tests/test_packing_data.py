"""The token file (parallel tokenization, memory maps) and the torch datasets that read it."""

import pickle

import numpy as np
import pytest
import torch

from tokbook import packing
from tokbook.encodings import get_encoding
from tokbook.packing.data import PackedRows, RandomWindows
from tokbook.packing.tokenfile import TokenFile, token_dtype, tokenize_to_file

WORDS = "packing rows of tokens keeps every document whole and wastes almost no padding naïve café".split()


def corpus(n=120, seed=0):
    """Documents we make up: a numbered opening and a random run of words, 1 to 200 words long."""
    rng = np.random.default_rng(seed)
    return [f"Document {i}: " + " ".join(rng.choice(WORDS, size=int(rng.integers(1, 200)))) for i in range(n)]


@pytest.fixture(scope="module")
def gpt2_file(tmp_path_factory):
    return tokenize_to_file(corpus(), tmp_path_factory.mktemp("tok") / "corpus", encoding="gpt2", batch_size=16)


def test_token_file_holds_every_document_with_its_end_of_text(gpt2_file):
    enc = get_encoding("gpt2")
    texts = corpus()
    assert len(gpt2_file) == len(texts) and gpt2_file.meta["dtype"] == "uint16"
    assert gpt2_file.tokens.dtype == np.uint16 and isinstance(gpt2_file.tokens, np.memmap)
    assert gpt2_file.offsets[0] == 0 and gpt2_file.offsets[-1] == gpt2_file.meta["tokens"] == gpt2_file.tokens.size
    for i, text in enumerate(texts):
        doc = gpt2_file.document(i).tolist()
        assert doc == enc.encode_ordinary(text) + [enc.eot_token]
        assert enc.decode(doc[:-1]) == text


def test_two_workers_write_the_same_files_as_one(tmp_path, gpt2_file):
    two = tokenize_to_file(corpus(), tmp_path / "two", encoding="gpt2", workers=2, batch_size=7)
    for suffix in (".bin", ".idx"):
        assert two.stem.with_suffix(suffix).read_bytes() == gpt2_file.stem.with_suffix(suffix).read_bytes()


def test_the_dtype_follows_the_vocabulary_size(tmp_path):
    assert token_dtype(2**16) is np.uint16 and token_dtype(2**16 + 1) is np.uint32
    big = tokenize_to_file(corpus(5), tmp_path / "cl100k", encoding="cl100k_base")
    assert big.meta["dtype"] == "uint32" and big.meta["vocab_size"] == 100277
    assert big.document(0).tolist()[-1] == get_encoding("cl100k_base").eot_token


def test_datasets_pickle_without_their_tokens(gpt2_file):
    windows = RandomWindows(gpt2_file, 64, n_samples=10)
    rows = PackedRows(gpt2_file, 64, pad_id=50257 - 2)
    gpt2_file.tokens.sum()                    # the maps are open in this process ...
    for dataset in (windows, rows):
        copy = pickle.loads(pickle.dumps(dataset))
        assert copy.file._tokens is None      # ... but a worker gets only the path and reopens them
        assert len(pickle.dumps(dataset.file)) < 2000 < gpt2_file.tokens.nbytes
        assert torch.equal(copy[3]["input_ids"], dataset[3]["input_ids"])


def test_random_windows_are_slices_of_the_stream_with_document_ids(gpt2_file):
    dataset = RandomWindows(gpt2_file, 48, n_samples=50, seed=1)
    stream, offsets = np.asarray(gpt2_file.tokens), np.asarray(gpt2_file.offsets)
    for i in range(len(dataset)):
        item = dataset[i]
        ids, doc_ids = item["input_ids"].numpy(), item["document_ids"].numpy()
        start = next(s for s in range(len(stream) - 47) if (stream[s:s + 48] == ids).all()
                     and offsets[doc_ids[0]] <= s < offsets[doc_ids[0] + 1])
        assert (doc_ids == np.searchsorted(offsets, np.arange(start, start + 48), side="right") - 1).all()
        assert (item["labels"].numpy() == packing.labels(ids, doc_ids)).all()
        assert (item["position_ids"].numpy() == packing.position_ids(doc_ids)).all()
    assert torch.equal(dataset[7]["input_ids"], dataset[7]["input_ids"])   # a sample is always the same
    batch = next(iter(torch.utils.data.DataLoader(dataset, batch_size=8)))
    assert batch["input_ids"].shape == (8, 48) and batch["input_ids"].dtype == torch.int64


def test_packed_rows_hold_every_document_once_and_split_only_long_ones(gpt2_file):
    max_length = 64
    pad_id = 50257 - 2                        # an id the made-up text never produces
    dataset = PackedRows(gpt2_file, max_length, pad_id=pad_id)
    seen = {i: [] for i in range(len(gpt2_file))}
    for r in range(len(dataset)):
        row = dataset[r]
        doc_ids = row["document_ids"].numpy()
        assert (row["input_ids"].numpy()[doc_ids == -1] == pad_id).all()
        for d in np.unique(doc_ids[doc_ids >= 0]):
            seen[int(d)].append(row["input_ids"].numpy()[doc_ids == d].tolist())
    lengths = np.diff(np.asarray(gpt2_file.offsets))
    for i, pieces in seen.items():
        assert len(pieces) == -(-lengths[i] // max_length)        # split only when longer than a row
        assert sorted(t for p in pieces for t in p) == sorted(gpt2_file.document(i).tolist())
    pieces = np.concatenate([np.full(n // max_length, max_length) for n in lengths] +
                            [lengths[lengths % max_length > 0] % max_length])
    assert len(dataset) == packing.n_rows(packing.histogram_best_fit(pieces, max_length))
    assert len(dataset) <= 1.05 * packing.lower_bound(pieces, max_length)
    batch = next(iter(torch.utils.data.DataLoader(dataset, batch_size=4)))
    assert batch["labels"].shape == (4, max_length)


def test_bad_input_to_the_data_pipeline(tmp_path, gpt2_file):
    with pytest.raises(ValueError, match="encoding must be one of"):
        tokenize_to_file(["a"], tmp_path / "x", encoding="gpt5")
    with pytest.raises(TypeError, match="not one string"):
        tokenize_to_file("one long string", tmp_path / "x")
    with pytest.raises(TypeError, match=r"documents\[2\] is bytes"):
        tokenize_to_file(["a", "b", b"c"], tmp_path / "x")
    with pytest.raises(FileNotFoundError, match="tokenize_to_file"):
        TokenFile(tmp_path / "missing")
    enc = get_encoding("gpt2")
    with pytest.raises(ValueError, match="end-of-text token"):
        PackedRows(gpt2_file, 64, pad_id=enc.eot_token)
    dataset = PackedRows(gpt2_file, 64, pad_id=enc.encode_ordinary("Document")[0])
    with pytest.raises(ValueError, match="is a real token of row"):
        for r in range(len(dataset)):
            dataset[r]
    with pytest.raises(IndexError):
        RandomWindows(gpt2_file, 64, n_samples=3)[3]
