"""Our code-point BPE trainer against sentencepiece's: the same pieces, in the same order."""

from __future__ import annotations

import io
from collections import Counter

import pytest
import sentencepiece as spm
from pydoc_data.topics import topics

from tokbook.sentencepiece import SentencePieceProcessor
from tokbook.sentencepiece.normalize import normalize
from tokbook.sentencepiece.texts import SENTENCES
from tokbook.sentencepiece.training import character_coverage, script, train_bpe

ENGLISH = [line for k in sorted(topics) for line in topics[k].splitlines() if line.strip()]
# A few tab-separated lines: sentencepiece 0.2.3 treats the tab as an ordinary character.
LINES = ENGLISH[:3000] + list(SENTENCES.values()) * 20 + ["name\tvalue\tunit", "x\t1\tkg"] * 40


def sentencepiece_model(lines, **options) -> SentencePieceProcessor:
    out = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines), model_writer=out, model_type="bpe", normalization_rule_name="identity",
        num_threads=1, minloglevel=2, **options,
    )
    return SentencePieceProcessor(model_proto=out.getvalue())


OPTIONS = [
    dict(vocab_size=800),
    dict(vocab_size=1000, byte_fallback=True, split_digits=True),
    dict(vocab_size=600, character_coverage=0.98),
    dict(vocab_size=700, max_sentencepiece_length=4, remove_extra_whitespaces=False),
    dict(vocab_size=900, split_by_unicode_script=False, add_dummy_prefix=False),
]


@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()))
def test_same_pieces_scores_and_types_as_sentencepiece(options):
    real = sentencepiece_model(LINES, **options).model
    ours = train_bpe(LINES, **options)
    assert [p.piece for p in ours.pieces] == [p.piece for p in real.pieces]
    assert [(p.score, p.type) for p in ours.pieces] == [(p.score, p.type) for p in real.pieces]
    # and so the same ids on text
    a, b = SentencePieceProcessor.from_model(ours), SentencePieceProcessor.from_model(real)
    text = " ".join(SENTENCES.values()) + " " + ENGLISH[5000]
    assert a.encode(text) == b.encode(text)


def test_character_coverage_is_a_share_of_occurrences():
    counts = Counter()
    for line in LINES:
        counts.update(normalize(line))
    for coverage in (0.9, 0.98, 0.99, 0.995, 0.9995, 1.0):
        report = character_coverage(counts, coverage)
        total = sum(counts.values())
        assert report.covered >= coverage - 1e-7
        # the smallest such set: without its rarest character it would fall short
        rarest = list(report.kept.values())[-1]
        assert (sum(report.kept.values()) - rarest) / total < coverage
        assert set(report.kept) | set(report.dropped) == set(counts)
        # sentencepiece keeps exactly these characters (its single-character pieces); it
        # accepts coverages from 0.98 up only
        if coverage < 0.98:
            continue
        real = sentencepiece_model(LINES, vocab_size=len(report.kept) + 200, character_coverage=coverage)
        singles = {p.piece for p in real.model.pieces[-len(report.kept):]}
        assert singles == set(report.kept), coverage


def test_scripts_keep_pieces_apart():
    assert script("a") == "Latin" and script("я") == "Cyrillic" and script("1") == "Common"
    assert script("か") == script("カ") == script("漢") == script("ー") == "Han"
    assert script("\u0301") == "Inherited"
    model = train_bpe(LINES, vocab_size=800)
    for piece in (p.piece for p in model.pieces if p.type == "normal"):
        letters = [c for c in piece if c != "▁" and script(c) != "Inherited"]
        assert len({script(c) for c in letters}) <= 1, piece


def test_bad_training_options():
    with pytest.raises(ValueError, match="raise vocab_size or lower character_coverage"):
        train_bpe(LINES, vocab_size=50)
    with pytest.raises(ValueError, match="share of character occurrences"):
        train_bpe(LINES, vocab_size=800, character_coverage=1.5)
    with pytest.raises(TypeError, match="lines of text"):
        train_bpe([b"bytes"], vocab_size=800)
