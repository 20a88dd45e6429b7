"""SentencePiece Unigram encoding: the best path through a lattice of pieces (``src/unigram_model.cc``).

A Unigram model gives every piece a score, its log-probability. A segmentation of the normalized
text is a path through the *lattice*: one node for every vocabulary piece that occurs at every
position. The path's score is the sum of its pieces' scores, and encoding picks the best one
(Viterbi). Where no one-character piece covers a character, an unknown node (score: the lowest
piece score minus 10) keeps the lattice connected.

Details that decide exact parity with sentencepiece (its default, "optimized" encoder):

- Scores are 32-bit floats and path scores are summed in 32-bit arithmetic.
- Ties between paths go to the one whose last piece starts first (the longer last piece).
- A user-defined piece scores ``length * max_score - 0.1``, where ``max_score`` is the highest
  normal score but at least the smallest positive float: with log-probability scores (all
  negative) that is about -0.1, better than any normal piece, so user-defined pieces always win.
  ``length`` counts UTF-8 bytes in Viterbi and characters in n-best and sampling.
- Unused pieces are not in the lattice.

Subword regularization samples a path with probability proportional to ``exp(alpha * score)``:
``alpha`` near 0 samples almost uniformly among all segmentations, large ``alpha`` almost always
gives the Viterbi path.

>>> model = UnigramModel({"<unk>": (0, 0.0), "a": (1, -1.0), "b": (2, -1.5), "ab": (3, -2.0)},
...                      unk_id=0)
>>> model.viterbi("abab")
[('ab', 3), ('ab', 3)]
>>> [(pairs, round(score, 2)) for pairs, score in model.nbest("ab", 3)]
[([('ab', 3)], -2.0), ([('a', 1), ('b', 2)], -2.5)]
>>> model.viterbi("abc")  # no piece has "c": one unknown node
[('ab', 3), ('c', 0)]
"""

from __future__ import annotations

import heapq
import math
import random
import struct
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

__all__ = ["Node", "UnigramModel"]

_FLOAT32 = struct.Struct("<f")
UNK_PENALTY = 10.0
FLT_MIN = 1.1754943508222875e-38  # the smallest positive normal 32-bit float


def f32(x: float) -> float:
    """Round to the nearest 32-bit float (sentencepiece's scores are C++ ``float``)."""
    return _FLOAT32.unpack(_FLOAT32.pack(x))[0]


@dataclass(frozen=True)
class Node:
    """A piece in the lattice: ``text[start:end]`` is ``piece``, with vocabulary ``id``."""

    start: int
    end: int
    piece: str
    id: int
    score: float


class UnigramModel:
    """Lattice, Viterbi, n-best and sampling over a Unigram vocabulary.

    ``pieces`` maps each piece that may appear in a segmentation (normal and user-defined) to
    ``(id, score)``; ``user_defined`` lists the user-defined ones.
    """

    def __init__(
        self,
        pieces: Mapping[str, tuple[int, float]],
        *,
        unk_id: int,
        user_defined: frozenset[str] = frozenset(),
    ):
        self.pieces = dict(pieces)
        self.user_defined = user_defined
        normal = [score for p, (_, score) in self.pieces.items() if p not in user_defined] or [0.0]
        self.max_score = f32(max(FLT_MIN, max(normal)))
        self.unk_score = f32(min(normal) - UNK_PENALTY)
        self.unk_id = unk_id
        self.longest = max(map(len, self.pieces), default=1)

    def _matches(self, text: str, start: int) -> Iterator[tuple[str, int, float]]:
        """The vocabulary pieces that start at ``start``, shortest first."""
        for end in range(start + 1, min(len(text), start + self.longest) + 1):
            entry = self.pieces.get(text[start:end])
            if entry is not None:
                yield text[start:end], entry[0], entry[1]

    # ------------------------------------------------------------------ Viterbi

    def viterbi(self, text: str) -> list[tuple[str, int]]:
        """The best segmentation of normalized ``text`` as ``(piece, id)`` pairs."""
        n = len(text)
        best = [0.0] * (n + 1)  # best path score ending at each position (32-bit)
        back: list[tuple[int, int] | None] = [None] * (n + 1)  # (start of last piece, its id)
        for start in range(n):
            here = best[start]
            single = False
            for piece, id, score in self._matches(text, start):
                end = start + len(piece)
                if piece in self.user_defined:
                    # computed in double precision, as in sentencepiece
                    candidate = f32(len(piece.encode("utf-8")) * self.max_score) - 0.1 + here
                else:
                    candidate = f32(score + here)
                if back[end] is None or candidate > best[end]:
                    best[end], back[end] = f32(candidate), (start, id)
                single = single or len(piece) == 1
            if not single:
                candidate = f32(self.unk_score + here)
                if back[start + 1] is None or candidate > best[start + 1]:
                    best[start + 1], back[start + 1] = candidate, (start, self.unk_id)
        pairs = []
        end = n
        while end > 0:
            start, id = back[end]
            pairs.append((text[start:end], id))
            end = start
        return pairs[::-1]

    # ------------------------------------------------------------------ the lattice

    def lattice(self, text: str) -> list[list[Node]]:
        """Every node, grouped by start position (``lattice(text)[i]``: nodes starting at ``i``)."""
        starts: list[list[Node]] = [[] for _ in range(len(text))]
        for start in range(len(text)):
            for piece, id, score in self._matches(text, start):
                if piece in self.user_defined:
                    score = f32(f32(len(piece) * self.max_score) - 0.1)
                starts[start].append(Node(start, start + len(piece), piece, id, score))
            if not any(node.end == start + 1 for node in starts[start]):
                starts[start].append(Node(start, start + 1, text[start], self.unk_id, self.unk_score))
        return starts

    def segmentations(self, text: str) -> Iterator[tuple[list[Node], float]]:
        """Every path through the lattice with its score (exponentially many: small inputs only)."""
        starts = self.lattice(text)

        def paths(position: int) -> Iterator[list[Node]]:
            if position == len(text):
                yield []
                return
            for node in starts[position]:
                for rest in paths(node.end):
                    yield [node, *rest]

        for path in paths(0):
            yield path, sum(node.score for node in path)

    def forward(self, starts: list[list[Node]], alpha: float = 1.0) -> list[float]:
        """log of the summed ``exp(alpha * score)`` of all paths from the start to each position."""
        n = len(starts)
        forward = [-math.inf] * (n + 1)
        forward[0] = 0.0
        for start in range(n):
            for node in starts[start]:
                forward[node.end] = _logaddexp(forward[node.end], forward[start] + alpha * node.score)
        return forward

    # ------------------------------------------------------------------ n-best

    def nbest(self, text: str, size: int) -> list[tuple[list[tuple[str, int]], float]]:
        """The ``size`` best segmentations, best first, each with its score.

        A* search from the end of the text backwards: a partial path (the pieces from some
        position to the end) is ranked by its score plus the best score of any path from the
        start to that position (known exactly from a forward Viterbi pass), so complete paths
        come out in order of score.
        """
        if size < 1:
            raise ValueError(f"nbest size must be at least 1, not {size}")
        n = len(text)
        if n == 0:
            return [([], 0.0)]
        starts = self.lattice(text)
        ends: list[list[Node]] = [[] for _ in range(n + 1)]
        for nodes in starts:
            for node in nodes:
                ends[node.end].append(node)
        # best[i]: the best score of a path from the start to position i
        best = [-math.inf] * (n + 1)
        best[0] = 0.0
        for start in range(n):
            for node in starts[start]:
                best[node.end] = max(best[node.end], f32(best[start] + node.score))
        results = []
        counter = 0  # breaks ties in the heap by insertion order
        agenda = [(-best[n], counter, n, 0.0, ())]
        while agenda and len(results) < size:
            negative_f, _, position, g, suffix = heapq.heappop(agenda)
            if position == 0:
                results.append(([(node.piece, node.id) for node in suffix], -negative_f))
                continue
            for node in ends[position]:
                counter += 1
                heapq.heappush(
                    agenda,
                    (-f32(f32(best[node.start] + node.score) + g), counter, node.start, f32(node.score + g),
                     (node, *suffix)),
                )
        return results

    # ------------------------------------------------------------------ sampling

    def sample(self, text: str, alpha: float, rng: random.Random) -> list[tuple[str, int]]:
        """One segmentation drawn with probability ``exp(alpha * score) / Z`` over all paths.

        Forward filtering, backward sampling: the forward pass sums over all paths that end at
        each position; then, from the end, each last piece is drawn in proportion to
        ``exp(forward[its start] + alpha * its score)``.
        """
        starts = self.lattice(text)
        forward = self.forward(starts, alpha)
        ends: list[list[Node]] = [[] for _ in range(len(text) + 1)]
        for nodes in starts:
            for node in nodes:
                ends[node.end].append(node)
        path = []
        position = len(text)
        while position > 0:
            candidates = ends[position]
            weights = [math.exp(forward[node.start] + alpha * node.score - forward[position]) for node in candidates]
            node = rng.choices(candidates, weights)[0]
            path.append((node.piece, node.id))
            position = node.start
        return path[::-1]


def _logaddexp(a: float, b: float) -> float:
    if a == -math.inf:
        return b
    if b == -math.inf:
        return a
    high, low = max(a, b), min(a, b)
    return high + math.log1p(math.exp(low - high))
