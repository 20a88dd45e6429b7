"""Unigram models: Viterbi, n-best and sampling, checked against sentencepiece and by enumeration.

The models are trained here by sentencepiece (model_type=unigram), in about a second each.
"""

from __future__ import annotations

import io
import math
import random
from collections import Counter

import pytest
import sentencepiece as spm
from hypothesis import given, settings
from hypothesis import strategies as st
from pydoc_data.topics import topics

from tokbook.sentencepiece import SentencePieceProcessor, mistral_model_file
from tokbook.sentencepiece.model import _fields
from tokbook.sentencepiece.texts import SENTENCES, all_texts
from tokbook.sentencepiece.unigram import UnigramModel

TEXTS = all_texts()
TRAINING_LINES = [line for k in sorted(topics) for line in topics[k].splitlines() if line.strip()][:3000]
TRAINING_LINES += list(SENTENCES.values()) * 20

TRAINED = {
    "unigram-bytes": dict(byte_fallback=True, split_digits=True, remove_extra_whitespaces=False),
    "unigram-nmt-nfkc": dict(normalization_rule_name="nmt_nfkc"),
    "unigram-unk": dict(character_coverage=0.98, user_defined_symbols=["<tool>", "@@", "ab"]),
}


def train(**options) -> bytes:
    out = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(TRAINING_LINES), model_writer=out, model_type="unigram", vocab_size=800,
        num_threads=1, minloglevel=2, **{"normalization_rule_name": "identity", **options},
    )
    return out.getvalue()


@pytest.fixture(scope="module", params=list(TRAINED))
def pair(request):
    data = train(**TRAINED[request.param])
    return SentencePieceProcessor(model_proto=data), spm.SentencePieceProcessor(model_proto=data)


def test_viterbi_matches_sentencepiece(pair):
    ours, real = pair
    assert ours.model.model_type == "unigram"
    for text in TEXTS:
        assert ours.encode(text, out_type=str) == real.encode(text, out_type=str), repr(text)
        assert ours.encode(text) == real.encode(text), repr(text)
        assert ours.decode(real.encode(text)) == real.decode(real.encode(text)), repr(text)


@settings(max_examples=150, deadline=None)
@given(text=st.one_of(st.text(st.characters(blacklist_categories=("Cs",)), max_size=40),
                      st.lists(st.sampled_from(" ".join(TEXTS).split(" ")), max_size=10).map(" ".join)))
def test_hypothesis_viterbi_matches_sentencepiece(pair, text):
    ours, real = pair
    assert ours.encode(text) == real.encode(text)


def real_nbest(real, text: str, size: int) -> list[tuple[tuple[str, ...], float]]:
    """sentencepiece's n-best with scores, read from its serialized NBestSentencePieceText."""
    results = []
    for number, nbest in _fields(real.nbest_encode(text, nbest_size=size, return_type="serialized_proto")):
        pieces, score = [], 0.0
        for field, value in _fields(nbest):
            if field == 2:  # SentencePiece: piece = 1
                pieces.append(next(v.decode() for f, v in _fields(value) if f == 1))
            elif field == 3:
                score = value
        results.append((tuple(pieces), score))
    return results


def test_nbest_matches_sentencepiece(pair):
    """The same paths with the same scores, best first.

    Paths whose 32-bit scores are equal or within a rounding error (1e-6 relative) of each other
    may come in either order: the search compares rounded partial sums, and which of two such
    paths it finishes first depends on the internals of sentencepiece's std::priority_queue. So
    paths compare as sets within such groups, and the group cut by the size limit is left out.
    """
    ours, real = pair
    compared = 0
    for text in [*SENTENCES.values(), "a", "the", "Hello world", "\U00020000 x"]:
        for size in (2, 5, 20):
            mine = [(tuple(p for p, _ in ours._resolve(pairs)), score)
                    for pairs, score in ours._unigram.nbest(ours.normalize(text), size)]
            theirs = real_nbest(real, text, size)
            assert len(mine) == len(theirs)
            for (_, a), (_, b) in zip(mine, theirs):
                assert math.isclose(a, b, rel_tol=1e-6), (text, size)
            last = theirs[-1][1]

            def settled(paths):
                return {(p, round(score, 3)) for p, score in paths if not math.isclose(score, last, rel_tol=1e-6)}

            assert settled(mine) == settled(theirs), (text, size)
            compared += len(settled(theirs))
        assert ours.nbest_encode(text, 1) == [real.encode(text)]
    assert compared > 100


def test_nbest_is_sorted_and_its_first_is_viterbi(pair):
    ours, _ = pair
    normalized = ours.normalize("tokenization")
    results = ours._unigram.nbest(normalized, 10)
    scores = [score for _, score in results]
    assert scores == sorted(scores, reverse=True) and len(set(map(str, results))) == 10
    assert results[0][0] == ours._unigram.viterbi(normalized)
    # The scores are the sums of the pieces' scores.
    for pairs, score in results:
        assert math.isclose(score, sum(ours.get_score(i) for _, i in pairs), rel_tol=1e-5)


# ------------------------------------------------------------------ sampling

def exact_distribution(model: UnigramModel, text: str, alpha: float) -> dict[tuple[str, ...], float]:
    """P(path) = exp(alpha * score(path)) / Z over every path of the lattice."""
    paths = {tuple(node.piece for node in path): score for path, score in model.segmentations(text)}
    z = sum(math.exp(alpha * s) for s in paths.values())
    return {p: math.exp(alpha * s) / z for p, s in paths.items()}


def total_variation(p: dict, q: dict) -> float:
    return 0.5 * sum(abs(p.get(k, 0.0) - q.get(k, 0.0)) for k in set(p) | set(q))


BOUND = 0.04  # on the total variation between sampled frequencies and exact probabilities


@pytest.mark.parametrize("alpha", [0.05, 0.1, 0.3])
def test_sampling_frequencies_match_the_lattice_path_probabilities(pair, alpha):
    ours, real = pair
    text = "returned"
    normalized = ours.normalize(text)
    exact = exact_distribution(ours._unigram, normalized, alpha)
    assert len(exact) >= 8 and math.isclose(sum(exact.values()), 1.0)
    # The bound below can tell: sampling uniformly over paths, or always taking the best one,
    # would be much further from the exact distribution.
    uniform = {path: 1 / len(exact) for path in exact}
    best = {tuple(ours.encode(text, out_type=str)): 1.0}
    assert min(total_variation(uniform, exact), total_variation(best, exact)) > 2 * BOUND
    n = 6000
    rng = random.Random(1234)
    ours_counts = Counter(tuple(ours.encode(text, out_type=str, enable_sampling=True, alpha=alpha, rng=rng))
                          for _ in range(n))
    spm.set_random_generator_seed(1234)
    real_counts = Counter(tuple(real.encode(text, out_type=str, enable_sampling=True, alpha=alpha, nbest_size=-1))
                          for _ in range(n))
    ours_freq = {k: v / n for k, v in ours_counts.items()}
    real_freq = {k: v / n for k, v in real_counts.items()}
    # With 6000 draws over a dozen paths, sampling noise alone gives a total variation of
    # about 0.01 to 0.02 (measured with several seeds).
    assert total_variation(ours_freq, exact) < BOUND
    assert total_variation(real_freq, exact) < BOUND
    assert set(ours_counts) <= set(exact)


def test_sampling_among_the_nbest(pair):
    ours, _ = pair
    text, alpha, size = "token", 0.5, 4
    nbest = ours._unigram.nbest(ours.normalize(text), size)
    z = sum(math.exp(alpha * s) for _, s in nbest)
    exact = {tuple(p for p, _ in pairs): math.exp(alpha * s) / z for pairs, s in nbest}
    rng = random.Random(7)
    n = 4000
    counts = Counter(tuple(ours.encode(text, out_type=str, enable_sampling=True, alpha=alpha, nbest_size=size,
                                       rng=rng)) for _ in range(n))
    assert set(counts) <= set(exact)
    assert total_variation({k: v / n for k, v in counts.items()}, exact) < 0.05


def test_large_alpha_gives_viterbi_and_small_alpha_spreads_out(pair):
    ours, _ = pair
    text = "tokenization"
    rng = random.Random(0)
    best = ours.encode(text)
    assert all(ours.encode(text, enable_sampling=True, alpha=50.0, rng=rng) == best for _ in range(50))
    assert len({tuple(ours.encode(text, enable_sampling=True, alpha=0.01, rng=rng)) for _ in range(50)}) > 10


def test_bpe_dropout_matches_sentencepiece_statistically():
    ours = SentencePieceProcessor(model_file=mistral_model_file("v1"))
    real = spm.SentencePieceProcessor(model_file=str(mistral_model_file("v1")))
    text, n = "tokenization", 4000
    assert ours.encode(text, enable_sampling=True, alpha=0.0) == ours.encode(text)
    assert ours.encode(text, out_type=str, enable_sampling=True, alpha=1.0) == ["▁", *text]
    rng = random.Random(3)
    spm.set_random_generator_seed(3)
    ours_samples = [tuple(ours.encode(text, out_type=str, enable_sampling=True, alpha=0.2, rng=rng))
                    for _ in range(n)]
    real_samples = [tuple(real.encode(text, out_type=str, enable_sampling=True, alpha=0.2))
                    for _ in range(n)]
    assert len(set(ours_samples)) > 20
    # Dozens of outcomes are rare, so compare what sampling noise allows to be compared: the
    # frequency of each common segmentation, and the distribution of the number of pieces.
    ours_freq, real_freq = Counter(ours_samples), Counter(real_samples)
    for segmentation, count in real_freq.most_common(5):
        assert abs(ours_freq[segmentation] - count) / n < 0.025, segmentation
    ours_lengths = {k: v / n for k, v in Counter(map(len, ours_samples)).items()}
    real_lengths = {k: v / n for k, v in Counter(map(len, real_samples)).items()}
    assert total_variation(ours_lengths, real_lengths) < 0.04


def test_bad_sampling_and_nbest_arguments(pair):
    ours, _ = pair
    mistral = SentencePieceProcessor(model_file=mistral_model_file("v1"))
    with pytest.raises(ValueError, match="needs a Unigram model"):
        mistral.nbest_encode("a", 2)
    with pytest.raises(ValueError, match="dropout probability"):
        mistral.encode("a", enable_sampling=True, alpha=2.0)
    with pytest.raises(ValueError, match="positive int"):
        ours.nbest_encode("a", 0)
    with pytest.raises(ValueError, match="alpha must be a number"):
        ours.encode("a", enable_sampling=True, alpha="0.1")


def test_viterbi_tie_rule_matches_sentencepiece():
    """All pieces score alike, so many segmentations tie; sentencepiece keeps the path whose last
    piece starts first, and so do we."""
    from test_sentencepiece import model_bytes  # the tests' own .model writer

    pieces = ["<unk>", "<s>", "</s>", "▁", "a", "b", "ab", "ba", "▁a", "aba", "bab", "▁ab"]
    ours = SentencePieceProcessor.from_pieces(pieces, [0.0] * 3 + [-1.0] * 9, model_type="unigram",
                                              remove_extra_whitespaces=False)
    real = spm.SentencePieceProcessor(model_proto=model_bytes(ours.model))
    for text in ["aba", "abab", "babab", "ab ab", "aabbaab", "b a b"]:
        assert ours.encode(text, out_type=str) == real.encode(text, out_type=str), text
