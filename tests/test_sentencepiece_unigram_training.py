"""Our Unigram EM trainer: its E-step against exact enumeration, its loss, and its compression
against sentencepiece's Unigram trainer at the same vocabulary size."""

from __future__ import annotations

import io
import math
from collections import Counter

import pytest
import sentencepiece as spm
from pydoc_data.topics import topics

from tokbook.sentencepiece import SentencePieceProcessor
from tokbook.sentencepiece.texts import SENTENCES
from tokbook.sentencepiece.unigram_training import _e_step, _model, digamma, train_unigram

ENGLISH = [line for k in sorted(topics) for line in topics[k].splitlines() if line.strip()]
LINES = ENGLISH[:3000] + list(SENTENCES.values()) * 20
HELD_OUT = ENGLISH[3000:4500]


def test_digamma():
    assert math.isclose(digamma(1.0), -0.5772156649015329, rel_tol=1e-9)
    for x in (0.3, 1.7, 12.5, 400.0):
        assert math.isclose(digamma(x + 1), digamma(x) + 1 / x, rel_tol=1e-9)


def test_e_step_gives_the_expected_counts_of_exact_enumeration():
    scores = {"a": -1.0, "b": -2.0, "ab": -2.5, "ba": -2.2, "aba": -3.0}
    words = Counter({"abab": 3, "aba": 2})
    expected, loss = _e_step(scores, words)
    model = _model(scores)
    want, want_loss = Counter(), 0.0
    for word, n in words.items():
        paths = list(model.segmentations(word))
        z = sum(math.exp(score) for _, score in paths)
        want_loss -= n * math.log(z)
        for path, score in paths:
            for node in path:
                want[node.piece] += n * math.exp(score) / z
    assert all(math.isclose(expected[p], want[p], rel_tol=1e-9) for p in scores)
    assert math.isclose(loss, want_loss / sum(words.values()), rel_tol=1e-9)


@pytest.fixture(scope="module")
def trained():
    out = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(LINES), model_writer=out, model_type="unigram", vocab_size=2000,
        normalization_rule_name="identity", num_threads=1, minloglevel=2,
    )
    return train_unigram(LINES, vocab_size=2000), SentencePieceProcessor(model_proto=out.getvalue())


def test_em_lowers_the_loss_between_prunings(trained):
    ours, _ = trained
    losses = ours.trainer_options["losses"]
    # two EM steps per round; pruning raises the loss, EM lowers it again
    rounds = [losses[i : i + 2] for i in range(0, len(losses), 2)]
    assert len(rounds) >= 2
    assert all(second < first for first, second in rounds)


def test_compression_within_3_percent_of_sentencepiece(trained):
    ours, real = trained
    mine = SentencePieceProcessor.from_model(ours)
    assert mine.vocab_size() == real.vocab_size() == 2000
    n_bytes = sum(len(line.encode("utf-8")) for line in HELD_OUT)
    ours_bpt = n_bytes / sum(len(mine.encode(line)) for line in HELD_OUT)
    real_bpt = n_bytes / sum(len(real.encode(line)) for line in HELD_OUT)
    assert abs(ours_bpt / real_bpt - 1) < 0.03, (ours_bpt, real_bpt)
    # every character sentencepiece keeps, we keep
    singles = {p.piece for p in real.model.pieces if len(p.piece) == 1 and p.type == "normal"}
    assert singles <= {p.piece for p in ours.pieces}


def test_bad_options():
    with pytest.raises(ValueError, match="shrinking_factor"):
        train_unigram(LINES, vocab_size=2000, shrinking_factor=1.5)
