"""The fast path (tiktoken's Rust core) gives the pure-Python path's ids, for every kind of tokenizer."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tokbook.bpe import Tokenizer
from tokbook.bpe import tokenizer as tokenizer_module
from tokbook.encodings import ENCODING_NAMES, get_encoding
from test_bpe import CODE, EDGES, ENGLISH, SCRIPTS, _tokenizer

TEXTS = (ENGLISH, CODE, SCRIPTS, EDGES, "x" * 5000 + " " * 3000 + "👍" * 500)


def _same_ids(tok: Tokenizer, texts=TEXTS, **special):
    fast = tok.to_tiktoken()
    for text in texts:
        pure = tok.encode(text, **special)
        assert fast.encode(text, **special) == pure
        assert list(tok.encode_iterable(text.splitlines(keepends=True), **special)) == pure
    assert tok.encode_batch(list(texts), **special) == [tok.encode(t, **special) for t in texts]


@pytest.mark.parametrize("name", ENCODING_NAMES)
def test_fast_and_pure_paths_agree_on_the_real_encodings(name, monkeypatch):
    monkeypatch.setattr(tokenizer_module, "_STREAM_BATCH", 10_000)
    tok = _tokenizer(name)
    _same_ids(tok)
    _same_ids(tok, texts=["a<|endoftext|>b", ENGLISH[:3000] + "<|endoftext|>" + SCRIPTS], allowed_special="all")


def test_the_fast_path_of_a_real_encoding_is_tiktokens_own():
    tok = Tokenizer.from_tiktoken("o200k_base")
    assert tok.to_tiktoken() is get_encoding("o200k_base")


@pytest.fixture(scope="module")
def trained():
    tok = Tokenizer("cl100k_base", special_tokens=["<|endoftext|>", "<|pad|>"])
    tok.train(ENGLISH[:100_000] + SCRIPTS * 10, 700)
    return tok


def test_fast_and_pure_paths_agree_on_a_trained_tokenizer(trained):
    fast = trained.to_tiktoken()
    assert fast.n_vocab == trained.n_vocab == 702 and fast.special_tokens_set == {"<|endoftext|>", "<|pad|>"}
    _same_ids(trained)
    _same_ids(trained, texts=["x<|pad|>y<|endoftext|>", SCRIPTS + "<|pad|>"], allowed_special="all")


def test_fast_and_pure_paths_agree_on_a_loaded_tokenizer(trained, tmp_path):
    trained.save(tmp_path / "t.json")
    loaded = Tokenizer.load(tmp_path / "t.json")
    _same_ids(loaded, allowed_special="all")
    assert loaded.encode_batch(TEXTS[:2]) == trained.encode_batch(TEXTS[:2])


def test_fast_and_pure_paths_agree_without_a_split_pattern():
    tok = Tokenizer(special_tokens=["<s>"])
    tok.train(ENGLISH[:20_000], 400)
    fast = tok.to_tiktoken()
    for text in (ENGLISH[20_000:40_000], SCRIPTS, EDGES, "a<s>b", ""):
        assert fast.encode(text, allowed_special="all") == tok.encode(text, allowed_special="all")
    assert tok.encode_batch(["hello world", "a<s>b"], allowed_special="all") == [
        tok.encode("hello world"), tok.encode("a<s>b", allowed_special="all")]


def test_fast_and_pure_paths_agree_with_a_custom_pattern():
    ranks = get_encoding("gpt2")._mergeable_ranks
    tok = Tokenizer.from_ranks(ranks, pat_str=r"\w+|[^\w\s]+|\s+", special_tokens={"<|endoftext|>": 50256})
    _same_ids(tok, texts=(ENGLISH[:50_000], CODE[:50_000], SCRIPTS, EDGES), allowed_special="all")


@settings(max_examples=200, deadline=None)
@given(text=st.text(alphabet=st.characters(codec="utf-8"), max_size=80))
def test_fast_and_pure_paths_agree_on_arbitrary_text(text):
    for name in ENCODING_NAMES:
        tok = _tokenizer(name)
        assert tok.encode_batch([text]) == [tok.encode_ordinary(text)]


def test_encode_batch_refuses_what_encode_refuses():
    tok = _tokenizer("gpt2")
    with pytest.raises(ValueError, match="allowed_special"):
        tok.encode_batch(["fine", "not <|endoftext|> fine"])
    assert tok.encode_batch(["<|endoftext|>"], disallowed_special=()) == [tok.encode_ordinary("<|endoftext|>")]
    with pytest.raises(TypeError, match="list of strings"):
        tok.encode_batch("one string")
    with pytest.raises(TypeError, match="list of strings"):
        tok.encode_batch([b"bytes"])


def test_a_pattern_tiktoken_cannot_compile_is_explained():
    tok = Tokenizer(pat_str=r"\X")  # grapheme clusters: the regex module has them, fancy-regex not
    assert tok.encode("ab") == [97, 98]
    with pytest.raises(ValueError, match="fast path needs a pattern"):
        tok.to_tiktoken()
