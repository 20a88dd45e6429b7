"""tokbook.bpe: the teaching helpers, tiktoken parity, special tokens, streaming, save/load (training: test_bpe_training.py)."""

from __future__ import annotations

import inspect
import json
import random
import re

import pytest
import regex
from hypothesis import given, settings
from hypothesis import strategies as st
from pydoc_data.topics import topics

from tokbook import bpe
from tokbook.bpe import Tokenizer, get_stats, merge, pretokenize
from tokbook.encodings import ENCODING_NAMES, get_encoding

ENGLISH = "\n\n".join(topics[k] for k in sorted(topics))[:300_000]
CODE = "".join(inspect.getsource(m) for m in (json, random, inspect))[:300_000]
SCRIPTS = (
    "Ünïcödé façade naïve — “quotes” ‘single’ … • € £ ¥ ₹\n"
    "Быстрая бурая лиса. Γρήγορη καφέ αλεπού. שועל חום מהיר. الثعلب البني السريع.\n"
    "तेज़ भूरी लोमड़ी। விரைவான பழுப்பு நரி. จิ้งจอกสีน้ำตาล 快速的棕色狐狸。素早い茶色の狐。빠른 갈색 여우.\n"
    "Emoji: 👩‍👩‍👧‍👦 🇫🇷🇯🇵 👍🏽 ❤️ 🤗🤖 ✈︎ 1️⃣ 🏳️‍🌈\n"
)
EDGES = (
    "Numbers 1234567890 3.14159 1,000,000 0x1F600 2024-11-23 +44 20 7946 0958\n"
    "Whitespace:   \t\t  \n\n\n    trailing   \r\n\r\nmixed \u00a0nbsp\u200bzero\ufeffbom\n"
    "Contractions: I'm you're we've they'll she'd it's DON'T Y'ALL 'quoted'\n"
    "    def f(x):\n        return x  # indented\n\t\ttabbed\n" + " " * 50 + "x" + "\n" * 7
)
CORPUS = ENGLISH + CODE + SCRIPTS * 20 + EDGES * 20


# ----------------------------------------------------------------------------------------------
# the two teaching helpers

def test_get_stats_counts_overlapping_pairs_and_accumulates():
    assert get_stats([5, 5, 5]) == {(5, 5): 2}
    counts = get_stats([1, 2])
    assert get_stats([1, 2, 1, 2], counts) is counts and counts == {(1, 2): 3, (2, 1): 1}
    assert get_stats([]) == {} and get_stats([9]) == {}


def test_merge_is_left_to_right_and_does_not_touch_its_input():
    ids = [1, 1, 1, 1, 1]
    assert merge(ids, (1, 1), 9) == [9, 9, 1]
    assert ids == [1, 1, 1, 1, 1]
    assert merge([1, 2, 1, 3], (1, 2), 7) == [7, 1, 3]


# ----------------------------------------------------------------------------------------------
# parity with tiktoken

@pytest.fixture(scope="module", params=ENCODING_NAMES)
def pair(request):
    return Tokenizer.from_tiktoken(request.param), get_encoding(request.param)


def test_same_ids_as_tiktoken_on_a_varied_corpus(pair):
    ours, theirs = pair
    for text in (ENGLISH, CODE, SCRIPTS, EDGES):
        assert ours.encode_ordinary(text) == theirs.encode_ordinary(text)


@settings(max_examples=300, deadline=None)
@given(text=st.text(alphabet=st.characters(codec="utf-8"), max_size=80))
def test_same_ids_as_tiktoken_on_arbitrary_text(text):
    for name in ENCODING_NAMES:
        ours, theirs = _tokenizer(name), get_encoding(name)
        ids = ours.encode_ordinary(text)
        assert ids == theirs.encode_ordinary(text)
        assert ours.decode(ids) == text


def _tokenizer(name, _cache={}):
    if name not in _cache:
        _cache[name] = Tokenizer.from_tiktoken(name)
    return _cache[name]


@settings(max_examples=400, deadline=None)
@given(text=st.text(alphabet=st.characters(max_codepoint=127), max_size=60))
def test_the_fast_ascii_patterns_split_ascii_text_like_the_originals(text):
    for pattern in bpe.PATTERNS.values():
        assert re.findall(pretokenize.ascii_pattern(pattern), text) == regex.findall(pattern, text)


@settings(max_examples=300, deadline=None)
@given(text=st.lists(st.sampled_from(list("aZ1² .'s\n\r\t é😀\u0301") + ["\n\n", "'ll", "  "]), max_size=40).map("".join))
def test_cutting_before_a_newline_after_a_letter_or_digit_changes_no_pre_token(text):
    for pattern in bpe.PATTERNS.values():
        pieces = [p for part in pretokenize.cut_at_line_ends(text) for p in regex.findall(pattern, part)]
        assert pieces == regex.findall(pattern, text)


def test_merges_are_recovered_from_ranks(pair):
    ours, theirs = pair
    # Replaying the merges in order rebuilds every multi-byte token exactly.
    for (a, b), idx in ours.merges.items():
        assert ours.vocab[a] + ours.vocab[b] == ours.vocab[idx]
    assert len(ours.merges) == len(ours.vocab) - 256
    assert ours.n_vocab == theirs.n_vocab


def test_cl100k_single_bytes_are_not_identity_ids():
    tok = _tokenizer("cl100k_base")
    assert tok.encode_ordinary("!") == [0] and tok.vocab[0] == b"!"


def test_from_ranks_rejects_what_is_not_a_bpe_vocabulary():
    ranks = {bytes([i]): i for i in range(256)}
    with pytest.raises(ValueError, match="256 single bytes"):
        Tokenizer.from_ranks({b"a": 0}, pattern=None)
    with pytest.raises(ValueError, match="not the merge of two lower-ranked tokens"):
        Tokenizer.from_ranks(ranks | {b"abc": 256}, pattern=None)


# ----------------------------------------------------------------------------------------------
# special tokens, the tiktoken way

def test_special_tokens_like_tiktoken(pair):
    ours, theirs = pair
    text = "a<|endoftext|>b <|endoftext|>"
    for kwargs in ({"allowed_special": "all"}, {"disallowed_special": ()},
                   {"allowed_special": {"<|endoftext|>"}}):
        assert ours.encode(text, **kwargs) == theirs.encode(text, **kwargs)
    with pytest.raises(ValueError, match="allowed_special") as err:
        ours.encode(text)
    assert "disallowed_special=()" in str(err.value)


def test_a_special_token_is_never_merged_with_its_neighbours():
    tok = Tokenizer(pattern="gpt2", special_tokens=["<|endoftext|>"])
    tok.train("hello world<|endoftext|>" * 50, 262)
    eot = tok.special_tokens["<|endoftext|>"]
    assert len(tok.vocab) == eot == 262  # special ids come right after the regular vocabulary
    assert not any(b"<|" in token for token in tok.vocab.values())
    assert tok.encode("ab<|endoftext|>", allowed_special="all")[-1] == eot


def test_decoding_a_partial_character():
    tok = _tokenizer("cl100k_base")
    ids = tok.encode("🤗")
    assert tok.decode(ids[:1]) == "\ufffd"
    with pytest.raises(UnicodeDecodeError):
        tok.decode(ids[:1], errors="strict")
    with pytest.raises(ValueError, match="not a token id"):
        tok.decode([10**9])


# ----------------------------------------------------------------------------------------------
# streaming

@settings(max_examples=200, deadline=None)
@given(
    text=st.lists(st.sampled_from(list("ab 'lsv\n\r\t1234.,!é😀") + ["<|endoftext|>", "'ll", "   ", "()\n"]),
                  max_size=60).map("".join),
    cuts=st.lists(st.integers(0, 120), max_size=8),
)
def test_encode_iterable_equals_encode_for_any_chunking(text, cuts):
    chunks, last = [], 0
    for c in sorted(set(cuts)):
        chunks.append(text[last:c])
        last = max(last, c)
    chunks.append(text[last:])
    for name in ENCODING_NAMES:
        tok = _tokenizer(name)
        assert list(tok.encode_iterable(chunks, allowed_special="all")) == tok.encode(text, allowed_special="all")


def test_encode_iterable_over_the_lines_of_real_text():
    for name in ENCODING_NAMES:
        tok = _tokenizer(name)
        for text in (ENGLISH[:100_000], CODE[:100_000], SCRIPTS + EDGES):
            lines = text.splitlines(keepends=True)
            assert list(tok.encode_iterable(lines)) == tok.encode(text), name


def test_encode_iterable_refuses_disallowed_special_tokens_split_across_chunks():
    tok = _tokenizer("gpt2")
    with pytest.raises(ValueError, match="disallowed"):
        list(tok.encode_iterable(["ok <|endof", "text|> more"]))


# ----------------------------------------------------------------------------------------------
# saving and loading

def test_save_load_round_trip(tmp_path):
    tok = Tokenizer(pattern="gpt2", special_tokens=["<|endoftext|>"])
    tok.train(ENGLISH[:50_000], 400)
    path = tmp_path / "tok.json"
    tok.save(path)
    again = Tokenizer.load(path)
    assert again.vocab == tok.vocab and again.merges == tok.merges
    assert again.special_tokens == tok.special_tokens and again.pattern == tok.pattern
    text = ENGLISH[50_000:52_000] + "<|endoftext|>"
    assert again.encode(text, allowed_special="all") == tok.encode(text, allowed_special="all")
    assert '"format": "tokbook-bpe"' in path.read_text()


def test_save_load_keeps_non_identity_byte_ids(tmp_path):
    tok = _tokenizer("cl100k_base")
    path = tmp_path / "cl100k.json"
    tok.save(path)
    again = Tokenizer.load(path)
    assert again.encode(CODE[:5000]) == tok.encode(CODE[:5000])


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda d: d.update(version=99), "version 99"),
        (lambda d: d.update(format="other"), "not a tokbook tokenizer"),
        (lambda d: d["merges"].append([5, 10**6, 999]), "damaged"),
        (lambda d: d.pop("byte_ids"), "damaged"),
    ],
)
def test_load_explains_damaged_files(tmp_path, edit, message):
    tok = Tokenizer()
    tok.train("abcabcabd", 260)
    path = tmp_path / "tok.json"
    tok.save(path)
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=message):
        Tokenizer.load(path)
    path.write_text("{ not json")
    with pytest.raises(ValueError, match="not a tokbook tokenizer"):
        Tokenizer.load(path)
