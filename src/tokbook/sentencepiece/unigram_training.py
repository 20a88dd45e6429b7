"""Training a Unigram model with EM, the way sentencepiece does (``src/unigram_model_trainer.cc``).

1. Normalize, count characters and keep those that ``character_coverage`` keeps (as for BPE, see
   :mod:`~tokbook.sentencepiece.training`); cut lines into words at ``▁``.
2. **Seed pieces**: every character kept, and every valid substring of the words (at most
   ``max_sentencepiece_length`` characters, ``▁`` only in front, one script) seen at least twice
   and not always followed by the same character (sentencepiece finds these substrings as the
   internal nodes of a suffix tree; ``▁multipl`` is one, since ``multiple`` and ``multiply`` both
   occur, but ``▁multip`` is not). The ``seed_size`` ones with the largest ``count * length`` are
   kept. Scores start as ``log(count * length / total)``.
3. **EM**, ``num_sub_iterations`` times. E-step: for every word, the forward-backward algorithm
   over its lattice gives each piece its expected count (how often it is used, averaged over all
   segmentations weighted by their probability); the loss is the average negative
   log-likelihood of a word. M-step: pieces expected less than 0.5 times go; the others score
   ``digamma(count) - digamma(total)``, sentencepiece's Bayesian variant of ``log(count / total)``
   that favours frequent pieces.
4. **Pruning**: for each piece, how much would the likelihood drop if it went away and its uses
   were split into its second-best segmentation? Keep the ``shrinking_factor`` share of pieces
   that would cost most (pieces whose best segmentation is already several pieces, or that the
   Viterbi paths never use, go first). Repeat 3 and 4 until at most ``1.1 * vocab_size`` pieces
   remain.
5. Keep every kept character (one that EM dropped gets the lowest score plus 0.0001 for each such
   character more frequent than it, as sentencepiece does, so that none tie), then the
   best-scoring pieces up to ``vocab_size``.

>>> model = train_unigram(["low lower lowest", "new newer newest"] * 20, vocab_size=30)
>>> model.trainer_options["losses"][0] > model.trainer_options["losses"][1]
True
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable

from tokbook.sentencepiece.model import Model, Piece
from tokbook.sentencepiece.normalize import SPACE
from tokbook.sentencepiece.training import prepare
from tokbook.sentencepiece.unigram import UnigramModel

__all__ = ["digamma", "train_unigram"]

EXPECTED_COUNT_THRESHOLD = 0.5
MIN_SCORE_PENALTY_DELTA = 0.0001


def digamma(x: float) -> float:
    """The digamma function (the derivative of log Gamma), by recurrence and its asymptotic series.

    >>> round(digamma(1.0), 6)  # minus the Euler-Mascheroni constant
    -0.577216
    """
    result = 0.0
    while x < 7:
        result -= 1 / x
        x += 1
    x -= 0.5
    xx2 = 1 / (x * x)
    xx4 = xx2 * xx2
    return result + math.log(x) + xx2 / 24 - 7 * xx4 / 960 + 31 * xx4 * xx2 / 8064 - 127 * xx4 * xx4 / 30720


def train_unigram(
    lines: Iterable[str],
    vocab_size: int,
    *,
    character_coverage: float = 0.9995,
    byte_fallback: bool = False,
    split_digits: bool = False,
    max_sentencepiece_length: int = 16,
    split_by_unicode_script: bool = True,
    add_dummy_prefix: bool = True,
    remove_extra_whitespaces: bool = True,
    max_sentence_length: int = 4192,
    seed_size: int = 1_000_000,
    shrinking_factor: float = 0.75,
    num_sub_iterations: int = 2,
) -> Model:
    """Train a Unigram :class:`~tokbook.sentencepiece.model.Model`; the EM losses, in order, are in
    ``model.trainer_options["losses"]``."""
    if not 0.0 < shrinking_factor < 1.0:
        raise ValueError(f"shrinking_factor is the share of pieces kept by each pruning, in (0, 1), not {shrinking_factor}")
    meta, report, counts, valid = prepare(
        lines, vocab_size, character_coverage=character_coverage, byte_fallback=byte_fallback,
        split_digits=split_digits, max_sentencepiece_length=max_sentencepiece_length,
        split_by_unicode_script=split_by_unicode_script, add_dummy_prefix=add_dummy_prefix,
        remove_extra_whitespaces=remove_extra_whitespaces, max_sentence_length=max_sentence_length,
    )
    words = _words(counts, report.kept)
    scores = _seeds(words, report.kept, valid, max_sentencepiece_length, seed_size)
    desired = int(vocab_size * 1.1)
    losses: list[float] = []
    while True:
        for _ in range(num_sub_iterations):
            expected, loss = _e_step(scores, words)
            losses.append(loss)
            scores = _m_step(expected)
        if len(scores) <= desired:
            break
        scores = _prune(scores, words, desired, shrinking_factor)
    final = _finalize(scores, report.kept, vocab_size - len(meta))
    pieces = meta + [Piece(p, s, "normal") for p, s in final]
    return Model(
        pieces=pieces,
        model_type="unigram",
        byte_fallback=byte_fallback,
        split_digits=split_digits,
        normalizer_name="identity",
        add_dummy_prefix=add_dummy_prefix,
        remove_extra_whitespaces=remove_extra_whitespaces,
        trainer_options={"vocab_size": vocab_size, "character_coverage": character_coverage,
                         "covered": report.covered, "losses": losses},
    )


def _words(counts: Counter, kept: dict[str, int]) -> Counter:
    """Words (cut before each ``▁``) and their counts; unknown characters cut words too."""
    words: Counter = Counter()
    for text, n in counts.items():
        for word in re.split(f"(?={SPACE})", text):
            part = []
            for char in word:
                if char in kept:
                    part.append(char)
                elif part:
                    words["".join(part)] += n
                    part = []
            if part:
                words["".join(part)] += n
    return words


def _seeds(words: Counter, kept: dict[str, int], valid, longest: int, size: int) -> dict[str, float]:
    """Characters plus frequent substrings, scored ``log(count * length / total)``."""
    substrings: Counter = Counter()
    right: dict[str, set] = {}  # the characters seen just after each substring (None: the word's end)
    for word, n in words.items():
        for i in range(len(word)):
            for j in range(i + 2, min(len(word), i + longest) + 1):
                s = word[i:j]
                substrings[s] += n
                right.setdefault(s, set()).add(word[j] if j < len(word) else None)

    def branches(s: str) -> bool:
        return len(right[s]) > 1 or None in right[s]

    frequent = [(s, c * len(s)) for s, c in substrings.items() if c >= 2 and branches(s) and valid(s)]
    frequent.sort(key=lambda item: (-item[1], item[0]))
    seeds = dict(kept) | dict(frequent[: max(0, size - len(kept))])
    total = math.log(sum(seeds.values()))
    return {piece: math.log(value) - total for piece, value in seeds.items()}


def _model(scores: dict[str, float]) -> UnigramModel:
    return UnigramModel({p: (i, s) for i, (p, s) in enumerate(scores.items())}, unk_id=-1)


def _e_step(scores: dict[str, float], words: Counter) -> tuple[dict[str, float], float]:
    """Expected count of every piece over all segmentations; the mean negative log-likelihood."""
    model = _model(scores)
    expected = dict.fromkeys(scores, 0.0)
    total_loss = 0.0
    for word, n in words.items():
        starts = model.lattice(word)
        forward = model.forward(starts)
        # backward[i]: log of the summed probability of all paths from position i to the end
        backward = [-math.inf] * (len(word) + 1)
        backward[-1] = 0.0
        for start in range(len(word) - 1, -1, -1):
            backward[start] = _logsumexp([node.score + backward[node.end] for node in starts[start]])
        z = forward[-1]
        for nodes in starts:
            for node in nodes:
                if node.id >= 0:
                    expected[node.piece] += n * math.exp(forward[node.start] + node.score + backward[node.end] - z)
        total_loss -= n * z
    return expected, total_loss / sum(words.values())


def _m_step(expected: dict[str, float]) -> dict[str, float]:
    kept = {p: c for p, c in expected.items() if c >= EXPECTED_COUNT_THRESHOLD}
    log_total = digamma(sum(kept.values()))
    return {p: digamma(c) - log_total for p, c in kept.items()}


def _prune(scores: dict[str, float], words: Counter, desired: int, shrinking_factor: float) -> dict[str, float]:
    """Keep the pieces whose removal would cost the likelihood most (see the module docstring)."""
    model = _model(scores)
    pieces = list(scores)
    # The Viterbi segmentation of the corpus: how often each piece is used.
    used: Counter = Counter()
    for word, n in words.items():
        for p, _ in model.viterbi(word):
            used[p] += n
    total_used = sum(used.values())
    total_words = sum(words.values())
    keep: dict[str, float] = {}
    candidates = []
    for piece in pieces:
        if not used[piece]:
            continue  # no Viterbi path uses it
        nbest = model.nbest(piece, 2)
        if len(nbest) == 1:
            keep[piece] = scores[piece]  # nothing else spells it (a single character)
            continue
        if len(nbest[0][0]) > 1:
            continue  # its own best segmentation is already several pieces
        alternative = [p for p, _ in nbest[1][0]]
        f = used[piece]
        new_total = total_used + f * (len(alternative) - 1)
        logprob_piece = math.log(f) - math.log(total_used)
        logprob_alternative = sum(math.log(used[p] + f) - math.log(new_total) for p in alternative)
        # uses per word, times the log-likelihood lost at each use
        candidates.append((f / total_words * (logprob_piece - logprob_alternative), piece))
    size = max(desired, int(shrinking_factor * len(pieces)))
    candidates.sort(key=lambda item: (-item[0], item[1]))
    for _, piece in candidates:
        if len(keep) >= size:
            break
        keep[piece] = scores[piece]
    return keep


def _finalize(scores: dict[str, float], kept: dict[str, int], size: int) -> list[tuple[str, float]]:
    lowest = min(scores.values())
    final: dict[str, float] = {}
    penalty = 0.0
    for char in kept:  # most frequent first
        if char in scores:
            final[char] = scores[char]
        else:
            final[char] = lowest + penalty
            penalty += MIN_SCORE_PENALTY_DELTA
    for piece, score in sorted(scores.items(), key=lambda item: (-item[1], item[0])):
        if len(final) >= size:
            break
        final.setdefault(piece, score)
    return sorted(final.items(), key=lambda item: (-item[1], item[0]))


def _logsumexp(values: list[float]) -> float:
    top = max(values)
    if top == -math.inf:
        return top
    return top + math.log(sum(math.exp(v - top) for v in values))
