"""WordPiece: identical tokens and ids to Hugging Face tokenizers on a vocabulary it trains here."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydoc_data.topics import topics
from tokenizers import Tokenizer, models, pre_tokenizers, trainers

from tokbook.sentencepiece.texts import SENTENCES, all_texts
from tokbook.sentencepiece.wordpiece import WordPiece, first_merge_candidates, pre_tokenize

TEXTS = all_texts() + ["[CLS] a [SEP][SEP]x[UNK]y [CLS"]
SPECIAL = ["[UNK]", "[CLS]", "[SEP]"]
TRAINING_LINES = [line for k in sorted(topics) for line in topics[k].splitlines() if line.strip()][:3000]
TRAINING_LINES += list(SENTENCES.values()) * 20


def hf_wordpiece(max_input_chars_per_word: int = 100) -> Tokenizer:
    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]", max_input_chars_per_word=max_input_chars_per_word))
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(vocab_size=2000, special_tokens=SPECIAL,
                                        show_progress=False)
    tokenizer.train_from_iterator(TRAINING_LINES, trainer)
    return tokenizer


@pytest.fixture(scope="module", params=[100, 8])
def pair(request):
    real = hf_wordpiece(request.param)
    ours = WordPiece(real.get_vocab(), max_input_chars_per_word=request.param, special_tokens=SPECIAL)
    return ours, real


def test_pre_tokenizer_matches_bert_pre_tokenizer():
    bert = pre_tokenizers.BertPreTokenizer()
    for text in TEXTS + ["a\x1cb", "x\u3000y\u2028z", "¿Qué? ¡Sí! «non» 1+1=2 $5 ~a^b`c|d"]:
        assert pre_tokenize(text) == [word for word, _ in bert.pre_tokenize_str(text)], repr(text)


def test_tokens_and_ids_match_hugging_face(pair):
    ours, real = pair
    for text in TEXTS:
        encoding = real.encode(text, add_special_tokens=False)
        assert ours.tokenize(text) == encoding.tokens, repr(text)
        assert ours.encode(text) == encoding.ids, repr(text)


@settings(max_examples=200, deadline=None)
@given(text=st.one_of(st.text(st.characters(blacklist_categories=("Cs",)), max_size=40),
                      st.lists(st.sampled_from(" ".join(TEXTS).split(" ")), max_size=10).map(" ".join)))
def test_hypothesis_text_matches_hugging_face(pair, text):
    ours, real = pair
    assert ours.tokenize(text) == real.encode(text, add_special_tokens=False).tokens


def test_whole_word_becomes_unk_and_long_words_are_unk(pair):
    ours, _ = pair
    assert ours.tokenize("the\U00020000") == ["[UNK]"]  # one unknown character loses the word
    word = "abcdefghij" * 20  # 200 characters
    assert ours.tokenize(word) == ["[UNK]"]
    assert ours.tokenize("abcdefghij" * 20 + " x") == ["[UNK]", "x"]
    # A word of 8 characters or fewer that the vocabulary splits: ## marks all pieces but the first.
    split = [ours.tokenize(w) for w in ("tokenize", "Tokens", "Straßen", "quickly") if len(ours.tokenize(w)) > 1]
    assert split
    for pieces in split:
        assert not pieces[0].startswith("##") and all(p.startswith("##") for p in pieces[1:])


def test_longest_match_first_is_not_the_fewest_pieces():
    wp = WordPiece({"[UNK]": 0, "ab": 1, "a": 2, "##bcd": 3, "##c": 4, "##d": 5, "##b": 6})
    # Greedy takes "ab" first and then must use ##c ##d: three pieces, although a ##bcd is two.
    assert wp.tokenize("abcd") == ["ab", "##c", "##d"]


def test_bad_input():
    with pytest.raises(ValueError, match="has no '\\[UNK\\]'"):
        WordPiece({"a": 0})
    with pytest.raises(TypeError, match="a dict"):
        WordPiece(["[UNK]", "a"])
    wp = WordPiece({"[UNK]": 0})
    with pytest.raises(TypeError, match="takes a str"):
        wp.tokenize(b"abc")
    with pytest.raises(IndexError, match="not in this vocabulary"):
        wp.id_to_token(5)
    with pytest.raises(ValueError, match="at least 1"):
        WordPiece({"[UNK]": 0}, max_input_chars_per_word=0)


def test_hugging_face_wordpiece_trainer_merges_by_count_not_by_the_wordpiece_score():
    """On "aaaaaaaa xy" the most frequent pair is (##a, ##a) and the best-scoring one is (x, ##y);
    HF's WordPieceTrainer learns ##aa first."""
    lines = ["aaaaaaaa xy"] * 10
    candidates = first_merge_candidates(Counter(word for line in lines for word in line.split()))
    by_count = candidates[0]
    by_score = max(candidates, key=lambda c: c[3])
    assert by_count[:2] == ("##a", "##a") and by_score[:2] == ("x", "##y")
    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    # [UNK], a, x, y, ##a, ##y, and room for two merges
    trainer = trainers.WordPieceTrainer(vocab_size=8, special_tokens=["[UNK]"], show_progress=False)
    tokenizer.train_from_iterator(lines, trainer)
    vocab = tokenizer.get_vocab()
    learned = [t for t in sorted(vocab, key=vocab.get) if t != "[UNK]" and len(t.removeprefix("##")) > 1]
    assert learned[0] == "##aa" and "x##y" not in vocab and "xy" not in vocab
