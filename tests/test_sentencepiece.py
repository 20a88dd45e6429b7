"""tokbook.sentencepiece: reading .model files, normalization and BPE, id for id with sentencepiece.

The real models are Mistral's (from the installed mistral-common package); the others are trained
here by sentencepiece itself, in about a second each, on Python's own documentation and on the
multilingual sentences of tokbook.sentencepiece.texts.
"""

from __future__ import annotations

import io
import struct
import unicodedata
from dataclasses import replace

import numpy as np
import pytest
import sentencepiece as spm
from hypothesis import given, settings
from hypothesis import strategies as st
from pydoc_data.topics import topics

from tokbook.sentencepiece import Model, ModelFileError, SentencePieceProcessor, mistral_model_file, read_model
from tokbook.sentencepiece.bpe import bpe_segment
from tokbook.sentencepiece.charsmap import CharsMap
from tokbook.sentencepiece.model import MISTRAL_MODELS, PIECE_TYPES, parse_model
from tokbook.sentencepiece.texts import SENTENCES, all_texts

TEXTS = all_texts()
ENGLISH_LINES = [line for k in sorted(topics) for line in topics[k].splitlines() if line.strip()][:3000]
TRAINING_LINES = ENGLISH_LINES + list(SENTENCES.values()) * 20

# Each trained model: sentencepiece trainer options (identity normalization unless they say
# otherwise; nmt_nfkc is sentencepiece's default, nfkc_cf also folds case).
TRAINED = {
    "bpe-bytes-digits": dict(byte_fallback=True, split_digits=True, remove_extra_whitespaces=False),
    "bpe-unk-coverage": dict(character_coverage=0.98, user_defined_symbols=["<tool>", "@@", "ab"],
                             control_symbols=["<ctl>"]),
    "bpe-nmt-nfkc": dict(normalization_rule_name="nmt_nfkc", byte_fallback=True),
    "bpe-nfkc-cf": dict(normalization_rule_name="nfkc_cf", split_digits=True),
    "bpe-whitespace-suffix": dict(treat_whitespace_as_suffix=True, byte_fallback=True),
    "bpe-no-dummy-prefix": dict(add_dummy_prefix=False, byte_fallback=True, allow_whitespace_only_pieces=True,
                                remove_extra_whitespaces=False),
}


def train(**options) -> bytes:
    """Train a small BPE model with sentencepiece, in memory, and return the .model bytes."""
    out = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(TRAINING_LINES), model_writer=out, model_type="bpe", vocab_size=800,
        num_threads=1, minloglevel=2, **{"normalization_rule_name": "identity", **options},
    )
    return out.getvalue()


@pytest.fixture(scope="module", params=[*MISTRAL_MODELS, *TRAINED])
def pair(request):
    """(ours, sentencepiece's) processors for one model."""
    name = request.param
    if name in MISTRAL_MODELS:
        data = mistral_model_file(name).read_bytes()
    else:
        data = train(**TRAINED[name])
    return SentencePieceProcessor(model_proto=data), spm.SentencePieceProcessor(model_proto=data)


def test_reader_gives_the_same_pieces_scores_and_types_as_sentencepiece(pair):
    ours, real = pair
    assert ours.vocab_size() == real.vocab_size()
    for i in range(real.vocab_size()):
        assert ours.id_to_piece(i) == real.id_to_piece(i)
        assert ours.get_score(i) == real.get_score(i)
        assert (ours.is_control(i), ours.is_unknown(i), ours.is_byte(i), ours.is_unused(i)) == (
            real.is_control(i), real.is_unknown(i), real.is_byte(i), real.is_unused(i))
        assert ours.piece_to_id(real.id_to_piece(i)) == real.piece_to_id(real.id_to_piece(i))
    assert (ours.unk_id(), ours.bos_id(), ours.eos_id(), ours.pad_id()) == (
        real.unk_id(), real.bos_id(), real.eos_id(), real.pad_id())
    assert ours.piece_to_id("no such piece") == real.piece_to_id("no such piece") == real.unk_id()


def test_normalized_text_is_sentencepieces(pair):
    ours, real = pair
    for text in TEXTS:
        assert ours.normalize(text) == real.normalize(text), repr(text)


def test_ids_and_pieces_match_sentencepiece_on_multilingual_text(pair):
    ours, real = pair
    for text in TEXTS:
        assert ours.encode(text) == real.encode(text), repr(text)
        assert ours.encode(text, out_type=str) == real.encode(text, out_type=str), repr(text)
    text = TEXTS[0]
    assert ours.encode(text, add_bos=True, add_eos=True) == real.encode(text, add_bos=True, add_eos=True)


def test_decode_matches_sentencepiece(pair):
    ours, real = pair
    for text in TEXTS:
        ids = real.encode(text)
        assert ours.decode(ids) == real.decode(ids), repr(text)
        pieces = real.encode(text, out_type=str)
        assert ours.decode(pieces) == real.decode(pieces), repr(text)
    # Control pieces vanish, <unk> is shown as " ⁇ ", a broken byte run as U+FFFD per byte.
    byte_ids = [i for i in range(real.vocab_size()) if real.is_byte(i)]
    odd = [real.bos_id(), real.unk_id(), *byte_ids[0xE2:0xE3], *byte_ids[0x41:0x42], real.eos_id(),
           real.piece_to_id("▁the")]
    assert ours.decode(odd) == real.decode(odd)


# hypothesis: text from every plane (no lone surrogates, which UTF-8 cannot hold), and text made
# of pieces of our sentences with extra spaces.
ANY_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=60)
WORDS = st.sampled_from(" ".join(TEXTS).split(" ") + ["", " ", "  ", "\t", "\n", "😀", "\U00020000"])
WORDY_TEXT = st.lists(WORDS, max_size=12).map(" ".join)


@settings(max_examples=150, deadline=None)
@given(text=st.one_of(ANY_TEXT, WORDY_TEXT))
def test_hypothesis_text_matches_sentencepiece(pair, text):
    ours, real = pair
    assert ours.encode(text) == real.encode(text)
    assert ours.encode(text, out_type=str) == real.encode(text, out_type=str)
    assert ours.decode(real.encode(text)) == real.decode(real.encode(text))


# ------------------------------------------------------------------ round trips

@pytest.fixture(scope="module")
def mistral():
    return SentencePieceProcessor(model_file=mistral_model_file("v1"))


@settings(max_examples=200, deadline=None)
@given(text=st.one_of(ANY_TEXT, WORDY_TEXT))
def test_mistral_round_trips_every_text_without_the_space_symbol(mistral, text):
    # Identity normalization, no space removal and byte fallback: nothing is lost, except that a
    # ▁ typed in the text is read back as a space (next test).
    text = text.replace("\u2581", "_")
    assert mistral.decode(mistral.encode(text)) == text


def test_a_typed_space_symbol_comes_back_as_a_space(mistral):
    real = spm.SentencePieceProcessor(model_file=str(mistral_model_file("v1")))
    assert mistral.encode("a▁b") == mistral.encode("a b") == real.encode("a▁b")
    assert mistral.decode(mistral.encode("a▁b")) == real.decode(real.encode("a▁b")) == "a b"


def test_where_round_trips_lose_text():
    """With remove_extra_whitespaces, spaces collapse; without byte fallback, unknowns are lost."""
    data = train(**TRAINED["bpe-unk-coverage"])
    ours, real = SentencePieceProcessor(model_proto=data), spm.SentencePieceProcessor(model_proto=data)
    text = "  two  spaces \U00020000\U00020001 end "
    assert ours.decode(ours.encode(text)) == real.decode(real.encode(text)) == "two spaces  \u2047  end"
    # A run of unknown characters is one <unk> id, whose piece is the run itself.
    assert ours.encode("\U00020000\U00020001", out_type=str)[-1] == "\U00020000\U00020001"
    assert ours.encode("\U00020000\U00020001")[-1] == ours.unk_id()


# ------------------------------------------------------------------ the merge rule

def test_highest_score_wins_not_leftmost_or_longest():
    scores = {"a": 0.0, "b": 0.0, "c": 0.0, "d": 0.0, "ab": -2.0, "bc": -1.0, "abcd": 5.0, "cd": -3.0}
    assert bpe_segment("abc", scores) == ["a", "bc"]
    # "abcd" scores best of all but is never reached: merges only join neighbours.
    assert bpe_segment("abcd", scores) == ["a", "bc", "d"]


def test_ties_go_to_the_leftmost_pair():
    scores = {"a": 0.0, "aa": -1.0}
    assert bpe_segment("aaa", scores) == ["aa", "a"]
    assert bpe_segment("aaaaa", scores) == ["aa", "aa", "a"]


def test_tie_rule_matches_sentencepiece_on_a_model_with_equal_scores():
    # Every merge piece has the same score, so only the tie rule decides.
    pieces = ["<unk>", "<s>", "</s>", "▁", "a", "b", "aa", "ab", "ba", "▁a", "aaa", "bab"]
    scores = [0.0, 0.0, 0.0] + [-1.0] * (len(pieces) - 3)
    ours = SentencePieceProcessor.from_pieces(pieces, scores, remove_extra_whitespaces=False)
    real = spm.SentencePieceProcessor(model_proto=model_bytes(ours.model))
    for text in ["aaaa", "abab", "babab", "a aab", "bbaaba", "aaaaaaa"]:
        assert ours.encode(text, out_type=str) == real.encode(text, out_type=str), text


def model_bytes(model: Model) -> bytes:
    """Serialize a Model as a ModelProto (pieces, model type, byte fallback, normalizer flags).

    The test's own protobuf writer, so that sentencepiece can load vocabularies we make up.
    """
    def varint(n):
        out = bytearray()
        while True:
            out.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
            n >>= 7
            if not n:
                return bytes(out)

    def field(number, wire, payload):
        key = varint(number << 3 | wire)
        return key + (varint(len(payload)) + payload if wire == 2 else payload)

    numbers = {name: number for number, name in PIECE_TYPES.items()}
    body = b""
    for p in model.pieces:
        entry = (field(1, 2, p.piece.encode()) + field(2, 5, struct.pack("<f", p.score))
                 + field(3, 0, varint(numbers[p.type])))
        body += field(1, 2, entry)
    model_type = {"unigram": 1, "bpe": 2}[model.model_type]
    body += field(2, 2, field(3, 0, varint(model_type)) + field(35, 0, varint(model.byte_fallback)))
    body += field(3, 2, field(1, 2, b"identity") + field(3, 0, varint(model.add_dummy_prefix))
                  + field(4, 0, varint(model.remove_extra_whitespaces)))
    return body


def test_unused_pieces_are_split_back_like_sentencepiece():
    """Mark Mistral's long pieces unused: merges still pass through them, the output may not."""
    text = " ".join(SENTENCES.values())
    model = read_model(mistral_model_file("v1"))
    model = replace(model, pieces=[replace(p, type="unused") if p.type == "normal" and len(p.piece) >= 4
                                   else p for p in model.pieces])
    ours = SentencePieceProcessor.from_model(model)
    real = spm.SentencePieceProcessor(model_proto=model_bytes(model))
    assert sum(real.is_unused(i) for i in range(real.vocab_size())) > 10000
    for t in TEXTS:
        assert ours.encode(t, out_type=str) == real.encode(t, out_type=str), t
        assert ours.encode(t) == real.encode(t), t
    assert all(len(p) < 4 for p in ours.encode(text, out_type=str) if not p.startswith("<0x"))


def test_user_defined_pieces_are_cut_out_and_control_pieces_are_not():
    v3 = SentencePieceProcessor(model_file=mistral_model_file("v3"))
    pieces = v3.encode("see [REFERENCE_DOC_1] and [INST]", out_type=str)
    assert "[REFERENCE_DOC_1]" in pieces  # user-defined: one piece
    assert "[INST]" not in pieces  # control: never made from text
    assert v3.piece_to_id("[INST]") == 3 and v3.is_control(3)


# ------------------------------------------------------------------ bad input

def test_missing_and_corrupt_model_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="no SentencePiece model at"):
        SentencePieceProcessor(model_file=tmp_path / "nope.model")
    bad = tmp_path / "tokenizer.json"
    bad.write_text('{"model": {"type": "BPE"}}')
    with pytest.raises(ModelFileError, match="not a SentencePiece model"):
        SentencePieceProcessor(model_file=bad)
    data = mistral_model_file("v1").read_bytes()
    with pytest.raises(ModelFileError, match="not a SentencePiece model"):
        parse_model(data[: len(data) // 2])
    with pytest.raises(ModelFileError, match="holds no pieces"):
        parse_model(b"")
    with pytest.raises(TypeError, match="exactly one of"):
        SentencePieceProcessor()
    with pytest.raises(ValueError, match="pass one of"):
        mistral_model_file("v9")


def test_a_changed_mistral_file_is_refused(tmp_path, monkeypatch):
    import importlib.util
    from types import SimpleNamespace

    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "tokenizer.model.v1").write_bytes(b"not the model")
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: SimpleNamespace(submodule_search_locations=[str(tmp_path)]))
    with pytest.raises(ModelFileError, match="pip install mistral-common==1.9.1"):
        mistral_model_file("v1")


def test_bad_ids_texts_and_out_types(mistral):
    with pytest.raises(IndexError, match="run from 0 to 31999"):
        mistral.id_to_piece(32000)
    with pytest.raises(IndexError, match="out of range"):
        mistral.decode([1, -1])
    with pytest.raises(TypeError, match="ids are int"):
        mistral.decode([1.5])
    assert mistral.decode(np.array([22557, 1526])) == mistral.decode([22557, 1526]) == "Hello world"
    with pytest.raises(TypeError, match="decode bytes to str first"):
        mistral.encode(b"hello")
    with pytest.raises(TypeError, match="encode each one"):
        mistral.encode(["a", "b"])
    with pytest.raises(ValueError, match="lone surrogate"):
        mistral.encode("a\ud800b")
    with pytest.raises(ValueError, match="out_type must be int or str"):
        mistral.encode("a", out_type=bytes)
    with pytest.raises(TypeError, match="list of ids or of pieces"):
        mistral.decode("hello")


def test_vocabularies_without_the_pieces_an_option_needs():
    with pytest.raises(ModelFileError, match="no unknown piece"):
        SentencePieceProcessor.from_pieces(["a", "b"], [0, 0])
    with pytest.raises(ModelFileError, match="256 byte pieces"):
        SentencePieceProcessor.from_pieces(["<unk>", "<0x00>", "a"], [0, 0, 0], byte_fallback=True)
    with pytest.raises(ModelFileError, match="byte_fallback is off"):
        SentencePieceProcessor.from_pieces(["<unk>", "<0x00>"], [0, 0], types=["unknown", "byte"])
    with pytest.raises(ModelFileError, match="defined twice"):
        SentencePieceProcessor.from_pieces(["<unk>", "a", "a"], [0, 0, 0])
    with pytest.raises(ValueError, match="no '<s>' control piece"):
        SentencePieceProcessor.from_pieces(["<unk>", "a"], [0, 0]).encode("a", add_bos=True)
    with pytest.raises(ValueError, match="one score per piece"):
        SentencePieceProcessor.from_pieces(["<unk>", "a"], [0])
    with pytest.raises(ModelFileError, match="has type 'nromal'"):
        SentencePieceProcessor.from_pieces(["<unk>", "a"], [0, 0], types=["unknown", "nromal"])
    with pytest.raises(TypeError, match="unknown option"):
        SentencePieceProcessor.from_pieces(["<unk>"], [0], byte_fallbak=True)
    assert isinstance(read_model(mistral_model_file("v3")), Model)


# ------------------------------------------------------------------ nmt_nfkc vs unicodedata

def test_where_nmt_nfkc_differs_from_unicodedata_nfkc():
    """Character by character over all of Unicode, sentencepiece's nmt_nfkc map against
    unicodedata.normalize("NFKC"): besides characters this Python's Unicode tables do not yet
    assign (category Cn), the differences are exactly the NMT rules below."""
    charsmap = CharsMap(parse_model(train(normalization_rule_name="nmt_nfkc")).precompiled_charsmap)
    differences = {}
    for code in range(0x110000):
        char = chr(code)
        if 0xD800 <= code < 0xE000 or unicodedata.category(char) == "Cn":
            continue
        rule = charsmap.rewrite(char, 0)
        mapped = rule[0] if rule else char
        if mapped != unicodedata.normalize("NFKC", char):
            differences[char] = mapped
    controls = [chr(c) for c in [*range(0x01, 0x09), 0x0B, *range(0x0E, 0x20), 0x7F, 0x8F, 0x9F]]
    spaces = "\t\n\x0c\r\u061c\u1680\u200b\u200c\u200e\u200f\u2028\u2029\u2581\ufeff\ufffd"
    expected = {c: "" for c in controls} | {c: " " for c in spaces} | {"\uff5e": "\uff5e"}
    assert differences == expected
