"""Hugging Face ``datasets`` builds the same token ids as the token file, and shards by offset."""

from pathlib import Path

import pytest
import torch
from pydoc_data.topics import topics

from tokbook.packing.hf import shard_bounds, tokenize_with_datasets
from tokbook.packing.tokenfile import tokenize_to_file

# Python's help topics: real English with code, shipped with Python, so nothing is downloaded.
TEXTS = [topics[k] for k in sorted(topics)][:60]


@pytest.fixture(scope="module")
def token_file(tmp_path_factory):
    return tokenize_to_file(TEXTS, tmp_path_factory.mktemp("tok") / "topics", encoding="gpt2", batch_size=16)


@pytest.mark.parametrize("num_proc", [1, 2])
def test_datasets_ids_equal_the_token_file_document_for_document(token_file, num_proc):
    data = tokenize_with_datasets(TEXTS, "gpt2", num_proc=num_proc, batch_size=16)
    assert len(data) == len(token_file) == len(TEXTS)
    for i in range(len(data)):
        ids = data[i]["input_ids"]
        assert isinstance(ids, torch.Tensor)
        assert ids.tolist() == token_file.document(i).tolist()


def test_local_text_files_give_the_same_ids(token_file, tmp_path):
    paths = []
    for i, text in enumerate(TEXTS[:12]):
        paths.append(tmp_path / f"doc{i:02d}.txt")
        paths[-1].write_text(text, encoding="utf-8")
    data = tokenize_with_datasets(paths, "gpt2", num_proc=2, cache_dir=tmp_path / "cache")
    assert [data[i]["input_ids"].tolist() for i in range(12)] == [token_file.document(i).tolist() for i in range(12)]


@pytest.mark.parametrize("num_shards", [1, 3, 7])
def test_contiguous_shards_are_document_ranges_whose_union_is_the_whole(token_file, num_shards):
    data = tokenize_with_datasets(TEXTS, "gpt2")
    bounds = shard_bounds(len(data), num_shards)
    assert bounds[0][0] == 0 and bounds[-1][1] == len(data)
    pieces = []
    for k, (start, stop) in enumerate(bounds):
        shard = data.shard(num_shards, k, contiguous=True)
        ids = [shard[j]["input_ids"].tolist() for j in range(len(shard))]
        assert len(ids) == stop - start
        # Machine k's tokens are one slice of the token file, from its first document's offset.
        flat = [t for doc in ids for t in doc]
        assert flat == token_file.tokens[token_file.offsets[start]:token_file.offsets[stop]].tolist()
        pieces += ids
    assert pieces == [token_file.document(i).tolist() for i in range(len(data))]


def test_bad_input_says_what_to_pass(tmp_path):
    with pytest.raises(TypeError, match="list of strings"):
        tokenize_with_datasets("one long string")
    with pytest.raises(TypeError, match="all strings or all pathlib.Path"):
        tokenize_with_datasets(["text", Path("file.txt")])
    with pytest.raises(ValueError, match="empty"):
        tokenize_with_datasets([])
    with pytest.raises(ValueError, match="encoding must be one of"):
        tokenize_with_datasets(["text"], "gpt5")
    with pytest.raises(FileNotFoundError, match="do not exist"):
        tokenize_with_datasets([tmp_path / "missing.txt"])
    with pytest.raises(ValueError, match="num_shards"):
        shard_bounds(10, 0)
