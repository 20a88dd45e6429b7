"""Byte-level BPE: train a vocabulary, encode and decode exactly as tiktoken does.

The pieces, smallest first:

- :func:`get_stats` counts adjacent pairs and :func:`merge` replaces one pair by a new id; they
  are the two steps of the training loop, written for teaching.
- :class:`Tokenizer` holds a vocabulary (``vocab``: id -> bytes), its merge table (``merges``:
  (left id, right id) -> new id, in merge order), a regex split pattern and special tokens.
  It trains (:meth:`Tokenizer.train`), encodes like ``tiktoken.Encoding`` (``encode``,
  ``encode_ordinary``, plus the lazy :meth:`Tokenizer.encode_iterable`), decodes, and saves to
  and loads from a versioned JSON file.
- :meth:`Tokenizer.from_ranks` and :meth:`Tokenizer.from_tiktoken` build a tokenizer from a real
  vocabulary (GPT-2, GPT-4, GPT-4o) by recovering its merges from the token ranks.

**How text is encoded.** Special tokens are split out first. The text between them is cut into
pre-tokens by the split pattern, and each pre-token is encoded on its own: starting from its
single bytes, the adjacent pair whose concatenation has the lowest rank in the vocabulary is
merged, again and again, until no adjacent pair forms a token. This is tiktoken's rule, so a
tokenizer built from tiktoken's ranks gives tiktoken's ids.

**How ties are broken in training.** Each step merges the most frequent adjacent pair; when
several pairs are equally frequent, the pair whose byte strings are lexicographically greater,
compared as the tuple ``(bytes of left, bytes of right)``, wins. The result depends only on the
text and the pattern, never on dictionary order, worker count or platform.

>>> tok = Tokenizer()
>>> tok.train("aaabdaaabac", 259)
>>> [tok.vocab[i] for i in range(256, 259)]
[b'aa', b'aaa', b'aaab']
>>> tok.encode("aaabdaaabac")
[258, 100, 258, 97, 99]
>>> tok.decode([258, 100])
'aaabd'
"""

from __future__ import annotations

import functools
import heapq
import json
import os
import re
from collections import Counter
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import AbstractSet, Literal

import regex

from tokbook import encodings

__all__ = ["PATTERNS", "FORMAT", "FORMAT_VERSION", "Tokenizer", "get_stats", "merge"]

#: Split patterns by name: those of GPT-2, GPT-4 (cl100k_base) and GPT-4o (o200k_base).
PATTERNS = {
    "gpt2": encodings.GPT2_PATTERN,
    "cl100k_base": encodings.CL100K_PATTERN,
    "o200k_base": encodings.O200K_PATTERN,
}

#: Name and version written into every saved tokenizer.
FORMAT = "tokbook-bpe"
FORMAT_VERSION = 1

# Training input is cut into segments of about this many characters, at line starts, so that
# pre-tokens can be counted in parallel (the cut points do not depend on the number of workers).
_SEGMENT_CHARS = 1 << 20
_CACHE_LIMIT = 1 << 18  # pre-tokens remembered by an encoder before its cache is cleared

SpecialArg = AbstractSet[str] | Literal["all"]

# On ASCII text the built-in patterns can run on the standard ``re`` engine, about twice as fast
# as ``regex``: each Unicode class is replaced by its ASCII members (regex's ``\s`` is White_Space,
# which in ASCII is tab, LF, VT, FF, CR and space; ``\p{Lt}``, ``\p{Lm}``, ``\p{Lo}`` and
# ``\p{M}`` have no ASCII members). A test checks both engines split ASCII text alike.
_ASCII_CLASSES = {
    r"\p{L}": "A-Za-z", r"\p{Lu}": "A-Z", r"\p{Ll}": "a-z", r"\p{Lt}": "", r"\p{Lm}": "",
    r"\p{Lo}": "", r"\p{M}": "", r"\p{N}": "0-9", r"\s": r"\t\n\x0b\x0c\r ",
}


def _ascii_pattern(pattern: str) -> str:
    """Rewrite a built-in split pattern for the standard ``re`` module, valid on ASCII text only."""
    out, i, in_class = [], 0, False
    while i < len(pattern):
        token = regex.match(r"\\p\{\w+\}|\\[sS]|\\.|.", pattern[i:], regex.S).group()
        if token == r"\S":
            out.append(r"[^\t\n\x0b\x0c\r ]")
        elif token in _ASCII_CLASSES:
            out.append(_ASCII_CLASSES[token] if in_class else f"[{_ASCII_CLASSES[token]}]")
        else:
            in_class = (in_class or token == "[") and token != "]"
            out.append(token)
        i += len(token)
    return "".join(out)


# Cuts text just before a newline that follows a letter or a digit. For the built-in patterns
# that is always a pre-token boundary, and neither side's pre-tokens depend on the other side, so
# the pieces can be split one by one (the ASCII ones with the fast engine).
_cut_at_line_ends = re.compile(r"(?<=[^\W_])(?=\n)").split


def get_stats(ids: Sequence[int], counts: dict[tuple[int, int], int] | None = None) -> dict[tuple[int, int], int]:
    """Count each adjacent pair in ``ids``, adding to ``counts`` if given; return the counts.

    >>> get_stats([1, 2, 3, 1, 2])
    {(1, 2): 2, (2, 3): 1, (3, 1): 1}
    """
    counts = {} if counts is None else counts
    for pair in zip(ids, ids[1:]):
        counts[pair] = counts.get(pair, 0) + 1
    return counts


def merge(ids: Sequence[int], pair: tuple[int, int], idx: int) -> list[int]:
    """Return a new list in which every occurrence of ``pair`` is replaced by ``idx``.

    Occurrences are taken left to right and do not overlap, so ``aaa`` holds one ``aa``.
    The input is not modified.

    >>> merge([1, 2, 3, 1, 2], (1, 2), 4)
    [4, 3, 4]
    >>> merge([7, 7, 7], (7, 7), 8)
    [8, 7]
    """
    out, i, n = [], 0, len(ids)
    while i < n:
        if i + 1 < n and ids[i] == pair[0] and ids[i + 1] == pair[1]:
            out.append(idx)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


_NO_RANK = 1 << 62  # stands for "this pair is not a token" so that min() can scan in C


def _byte_pair_merge(piece: bytes, ranks: Mapping[bytes, int], max_rank: int | None = None) -> list[bytes]:
    """Split ``piece`` into tokens by merging, each time, the adjacent pair of lowest rank.

    With ``max_rank``, only merges into tokens of a lower rank are allowed (used to recover the
    merge that created a token). After a merge only the two neighbouring pair ranks change, so
    only those are looked up again.

    >>> _byte_pair_merge(b"hello", {bytes([i]): i for i in range(256)} | {b"ll": 256, b"he": 257})
    [b'he', b'll', b'o']
    """
    get = ranks.get
    starts = list(range(len(piece) + 1))  # part i is piece[starts[i]:starts[i + 1]]
    pair_ranks = [get(piece[i:i + 2], _NO_RANK) for i in range(len(piece) - 1)]
    limit = _NO_RANK if max_rank is None else max_rank
    while pair_ranks:
        best = min(pair_ranks)
        if best >= limit:
            break
        i = pair_ranks.index(best)  # the leftmost of equal ranks, as in tiktoken
        del starts[i + 1]
        del pair_ranks[i]
        if i < len(pair_ranks):
            pair_ranks[i] = get(piece[starts[i]:starts[i + 2]], _NO_RANK)
        if i > 0:
            pair_ranks[i - 1] = get(piece[starts[i - 1]:starts[i + 1]], _NO_RANK)
    return [piece[a:b] for a, b in zip(starts, starts[1:])]


class _Greater:
    """Orders values in reverse, so that a min-heap pops the greatest first."""

    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value

    def __lt__(self, other: "_Greater") -> bool:
        return self.value > other.value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Greater) and self.value == other.value


def _count_segment(args: tuple[str | None, list[str]]) -> Counter:
    """Count the pre-tokens of some text segments (runs in a worker process)."""
    pattern, segments = args
    counts: Counter = Counter()
    if pattern is None:
        counts.update(s for s in segments if s)
    else:
        findall = regex.compile(pattern).findall
        for segment in segments:
            counts.update(findall(segment))
    return counts


class Tokenizer:
    """A byte-level BPE tokenizer with tiktoken's encoding rule and API.

    ``pattern`` is a split regex, one of the names in :data:`PATTERNS`, or None (no splitting).
    ``special_tokens`` is a list of strings, which get the ids right after the regular
    vocabulary, or a mapping from string to id.
    """

    def __init__(self, pattern: str | None = None, special_tokens: Sequence[str] | Mapping[str, int] | None = None):
        if pattern is not None and not isinstance(pattern, str):
            raise TypeError(f"pattern must be a regex string, a name in {sorted(PATTERNS)} or None")
        self.pattern = PATTERNS.get(pattern, pattern) if pattern is not None else None
        self._split = regex.compile(self.pattern).findall if self.pattern is not None else None
        self._ascii_split = (
            re.compile(_ascii_pattern(self.pattern)).findall if self.pattern in PATTERNS.values() else None
        )
        self._requested_special = special_tokens
        self._set_vocab({i: bytes([i]) for i in range(256)}, {})
        self._set_special(special_tokens)

    # ----------------------------------------------------------------------------------------
    # construction

    def _set_vocab(self, vocab: dict[int, bytes], merges: dict[tuple[int, int], int]) -> None:
        self.vocab = vocab
        self.merges = merges
        self._ranks = {token: i for i, token in vocab.items()}
        if len(self._ranks) != len(vocab):
            raise ValueError("two ids of the vocabulary have the same bytes; a BPE vocabulary needs distinct tokens")
        self._cache: dict[str, tuple[int, ...]] = {}

    def _set_special(self, special_tokens: Sequence[str] | Mapping[str, int] | None) -> None:
        if special_tokens is None:
            special: dict[str, int] = {}
        elif isinstance(special_tokens, Mapping):
            special = dict(special_tokens)
        elif isinstance(special_tokens, (str, bytes)):
            raise TypeError("special_tokens must be a list of strings or a dict {string: id}, not a single string")
        else:
            start = max(self.vocab) + 1
            special = {s: start + i for i, s in enumerate(dict.fromkeys(special_tokens))}
        for text, idx in special.items():
            if not isinstance(text, str) or not text:
                raise TypeError(f"special tokens must be non-empty strings, got {text!r}")
            if not isinstance(idx, int) or isinstance(idx, bool) or idx < 0:
                raise TypeError(f"the id of special token {text!r} must be a non-negative int, got {idx!r}")
            if idx in self.vocab:
                raise ValueError(f"special token {text!r} has id {idx}, which the regular vocabulary already uses")
        if len(set(special.values())) != len(special):
            raise ValueError("two special tokens have the same id")
        self.special_tokens = special
        self._special_by_id = {idx: text.encode("utf-8") for text, idx in special.items()}
        self._special_regexes: dict[frozenset[str], regex.Pattern] = {}

    @classmethod
    def from_ranks(
        cls,
        mergeable_ranks: Mapping[bytes, int],
        *,
        pattern: str | None,
        special_tokens: Mapping[str, int] | None = None,
    ) -> "Tokenizer":
        """Build a tokenizer from tiktoken's representation: ``{token bytes: rank}``.

        The rank is the id. Single bytes may have any ranks (in cl100k_base, ``b"!"`` is 0).
        Each merge is recovered by encoding a token's bytes with only lower-ranked tokens: that
        must give exactly two parts, the pair that was merged. Raises ValueError otherwise.

        >>> ranks = {bytes([i]): i for i in range(256)} | {b"ab": 256, b"abb": 257}
        >>> Tokenizer.from_ranks(ranks, pattern=None).merges
        {(97, 98): 256, (256, 98): 257}
        """
        if not isinstance(mergeable_ranks, Mapping):
            raise TypeError("mergeable_ranks must be a dict {token bytes: rank}, e.g. encodings.mergeable_ranks('gpt2')")
        singles = [token for token in mergeable_ranks if len(token) == 1]
        if len(singles) != 256:
            raise ValueError(
                f"a byte-level vocabulary contains all 256 single bytes; this one has {len(singles)}"
            )
        tok = cls(pattern=pattern)
        vocab = {rank: token for token, rank in mergeable_ranks.items()}
        if len(vocab) != len(mergeable_ranks):
            raise ValueError("two tokens of mergeable_ranks have the same rank")
        merges = {}
        for rank in sorted(vocab):
            token = vocab[rank]
            if len(token) == 1:
                continue
            parts = _byte_pair_merge(token, mergeable_ranks, max_rank=rank)
            if len(parts) != 2:
                raise ValueError(
                    f"token {token!r} (rank {rank}) is not the merge of two lower-ranked tokens; "
                    "these ranks do not come from BPE training"
                )
            merges[(mergeable_ranks[parts[0]], mergeable_ranks[parts[1]])] = rank
        tok._set_vocab(vocab, merges)
        tok._set_special(special_tokens)
        return tok

    @classmethod
    def from_tiktoken(cls, name: str) -> "Tokenizer":
        """Build the tokenizer of a real encoding: ``"gpt2"``, ``"cl100k_base"`` or ``"o200k_base"``.

        >>> Tokenizer.from_tiktoken("gpt2").encode("Hello, world!")
        [15496, 11, 995, 0]
        """
        enc = encodings.get_encoding(name)  # also checks the name
        vocab, merges = _tiktoken_tables(name)
        tok = cls(pattern=PATTERNS[name])
        tok._set_vocab(dict(vocab), dict(merges))
        tok._set_special({s: enc.encode_single_token(s) for s in enc.special_tokens_set})
        return tok

    # ----------------------------------------------------------------------------------------
    # training

    def train(self, text_or_iterable: str | Iterable[str] | os.PathLike, vocab_size: int, *,
              verbose: bool = False, workers: int | None = None) -> None:
        """Learn merges from text until the vocabulary has ``vocab_size`` tokens (specials not counted).

        ``text_or_iterable`` is a string, an iterable of strings (documents), or the path of a
        UTF-8 text file (read in blocks, never whole). Special tokens in the text are cut out
        before pre-tokenization, so no merge crosses them. Pre-tokens are counted once, in
        ``workers`` processes (default: all cores); the merges then update pair counts
        incrementally. ``verbose`` shows a progress bar.

        With ``pattern=None`` every document is a single sequence that each merge rewrites, which
        suits texts of a few tens of kilobytes; give real corpora a split pattern.
        """
        if isinstance(vocab_size, bool) or not isinstance(vocab_size, int) or vocab_size < 256:
            raise ValueError(f"vocab_size must be an int >= 256 (the single bytes), got {vocab_size!r}")
        if workers is not None and (not isinstance(workers, int) or workers < 1):
            raise ValueError(f"workers must be a positive int or None (all cores), got {workers!r}")
        counts = self._count_pretokens(text_or_iterable, workers or os.cpu_count() or 1)
        vocab, merges = _train_merges(counts, vocab_size, verbose=verbose)
        self._set_vocab(vocab, merges)
        self._set_special(self._requested_special)

    def _segments(self, source: str | Iterable[str] | os.PathLike) -> Iterator[str]:
        """Yield the training text as segments that can be pre-tokenized independently."""
        if isinstance(source, os.PathLike):
            yield from self._file_segments(Path(source))
            return
        if isinstance(source, bytes):
            raise TypeError("train() takes text, not bytes; decode it first (bytes.decode('utf-8'))")
        documents = [source] if isinstance(source, str) else source
        for document in documents:
            if not isinstance(document, str):
                raise TypeError(f"train() takes strings, got an item of type {type(document).__name__}")
            yield from self._cut(document)

    def _file_segments(self, path: Path) -> Iterator[str]:
        if not path.is_file():
            raise FileNotFoundError(f"no training file at {path}")
        carry = ""
        with open(path, encoding="utf-8") as f:
            while block := f.read(_SEGMENT_CHARS):
                text = carry + block
                # Keep back what follows the last safe cut (and any unfinished special token).
                cut = self._last_cut(text)
                yield from self._cut(text[:cut])
                carry = text[cut:]
        yield from self._cut(carry)

    def _last_cut(self, text: str) -> int:
        """Where the text after the last safe cut begins (0 if there is none)."""
        if self.pattern not in PATTERNS.values():
            return 0
        return len(text) - len(_cut_at_line_ends(text)[-1])

    def _cut(self, text: str) -> list[str]:
        """Cut text at special tokens (dropping them) and, within, into ~1M-character segments.

        Cuts go where the encoder cuts (:data:`_cut_at_line_ends`): for the three built-in
        patterns no pre-token changes. Other patterns are only cut at special tokens.
        """
        segments = []
        for piece in self._split_special(text, frozenset(self.special_tokens))[::2]:
            if self.pattern not in PATTERNS.values() or len(piece) <= _SEGMENT_CHARS:
                segments.append(piece)
                continue
            current, size = [], 0
            for part in _cut_at_line_ends(piece):
                current.append(part)
                size += len(part)
                if size >= _SEGMENT_CHARS:
                    segments.append("".join(current))
                    current, size = [], 0
            segments.append("".join(current))
        return [s for s in segments if s]

    def _count_pretokens(self, source, workers: int) -> Counter:
        batches, batch, size = [], [], 0
        for segment in self._segments(source):
            batch.append(segment)
            size += len(segment)
            if size >= _SEGMENT_CHARS:
                batches.append((self.pattern, batch))
                batch, size = [], 0
        if batch:
            batches.append((self.pattern, batch))
        counts: Counter = Counter()
        if workers == 1 or len(batches) <= 1:
            for job in batches:
                counts.update(_count_segment(job))
        else:
            with ProcessPoolExecutor(max_workers=min(workers, len(batches))) as pool:
                for part in pool.map(_count_segment, batches):
                    counts.update(part)
        return counts

    # ----------------------------------------------------------------------------------------
    # encoding

    def _encode_chunk(self, text: str, ids: list[int]) -> None:
        """Append the ids of ``text`` (no special tokens in it) to ``ids``."""
        self._encode_pieces(self._pretokenize(text) if self._split is not None else [text] if text else [], ids)

    def _pretokenize(self, text: str) -> list[str]:
        """The pre-tokens of ``text`` (no special tokens in it) under the split pattern."""
        fast = self._ascii_split
        if fast is None:
            return self._split(text)
        if text.isascii():
            return fast(text)
        pieces: list[str] = []
        for part in _cut_at_line_ends(text):
            pieces += fast(part) if part.isascii() else self._split(part)
        return pieces

    def _encode_pieces(self, pieces: Iterable[str], ids: list[int]) -> None:
        cache, ranks = self._cache, self._ranks
        for piece in pieces:
            hit = cache.get(piece)
            if hit is None:
                data = piece.encode("utf-8")
                rank = ranks.get(data)
                hit = (rank,) if rank is not None else tuple(ranks[p] for p in _byte_pair_merge(data, ranks))
                if len(cache) >= _CACHE_LIMIT:
                    cache.clear()
                cache[piece] = hit
            ids.extend(hit)

    def encode_ordinary(self, text: str) -> list[int]:
        """Encode ``text`` with special-token strings treated as ordinary text.

        >>> tok = Tokenizer.from_tiktoken("cl100k_base")
        >>> tok.encode_ordinary("<|endoftext|>")
        [27, 91, 8862, 728, 428, 91, 29]
        """
        if not isinstance(text, str):
            raise TypeError(f"encode takes a str, not {type(text).__name__}")
        ids: list[int] = []
        self._encode_chunk(text, ids)
        return ids

    def _special_sets(self, allowed_special: SpecialArg, disallowed_special: SpecialArg | Collection[str]):
        known = frozenset(self.special_tokens)
        allowed = known if allowed_special == "all" else frozenset(allowed_special)
        disallowed = known - allowed if disallowed_special == "all" else frozenset(disallowed_special)
        return allowed & known, disallowed

    def _special_regex(self, tokens: frozenset[str]):
        """A compiled regex that matches any of ``tokens``, longest first (cached), or None."""
        if not tokens:
            return None
        found = self._special_regexes.get(tokens)
        if found is None:
            alternatives = "|".join(regex.escape(s) for s in sorted(tokens, key=len, reverse=True))
            found = self._special_regexes[tokens] = regex.compile(f"({alternatives})")
        return found

    def _check_disallowed(self, text: str, disallowed: frozenset[str]) -> None:
        pattern = self._special_regex(disallowed)
        found = pattern.search(text) if pattern is not None else None
        if found:
            token = found.group()
            raise ValueError(
                f"the text contains the special token {token!r}, which is disallowed. To encode it as "
                f"the special token, pass allowed_special={{{token!r}}} (or allowed_special='all'); "
                f"to encode it as ordinary text, pass disallowed_special=() or use encode_ordinary()."
            )

    def _split_special(self, text: str, allowed: frozenset[str]) -> list[str]:
        """Split at allowed special tokens: [text, special, text, special, ..., text]."""
        pattern = self._special_regex(allowed)
        return pattern.split(text) if pattern is not None else [text]

    def encode(self, text: str, *, allowed_special: SpecialArg = frozenset(),
               disallowed_special: SpecialArg | Collection[str] = "all") -> list[int]:
        """Encode ``text`` to token ids, handling special tokens exactly as tiktoken does.

        A special-token string is encoded as its special id only if it is in ``allowed_special``
        (or that is ``"all"``). By default any other special-token string in the text raises
        ValueError, because text from users must not be able to insert control tokens;
        ``disallowed_special=()`` encodes such strings as ordinary text instead.

        >>> tok = Tokenizer.from_tiktoken("gpt2")
        >>> tok.encode("hi<|endoftext|>", allowed_special="all")
        [5303, 50256]
        """
        if not isinstance(text, str):
            raise TypeError(f"encode takes a str, not {type(text).__name__}")
        allowed, disallowed = self._special_sets(allowed_special, disallowed_special)
        self._check_disallowed(text, disallowed)
        ids: list[int] = []
        for i, part in enumerate(self._split_special(text, allowed)):
            if i % 2:
                ids.append(self.special_tokens[part])
            else:
                self._encode_chunk(part, ids)
        return ids

    def encode_iterable(self, iterable: Iterable[str], *, allowed_special: SpecialArg = frozenset(),
                        disallowed_special: SpecialArg | Collection[str] = "all") -> Iterator[int]:
        """Encode a stream of text (for example an open file, line by line) lazily, yielding ids.

        The ids are those of ``encode("".join(iterable))``. Memory stays bounded by the longest
        pre-token: text is held back only while the pre-tokens at its end, or a special token
        split between chunks, could still change with the next chunk. (For the built-in
        patterns a pre-token's extent depends on at most 3 characters after it, for
        contractions such as ``'ll``; a custom pattern must not look further ahead.)

        >>> tok = Tokenizer.from_tiktoken("gpt2")
        >>> list(tok.encode_iterable(["Hello, wo", "rld! It'", "ll work."]))
        [15496, 11, 995, 0, 632, 1183, 670, 13]
        """
        if self._split is None:
            raise ValueError("encode_iterable needs a split pattern: without one, the whole stream is a single pre-token")
        allowed, disallowed = self._special_sets(allowed_special, disallowed_special)
        watched = allowed | disallowed
        # Proper prefixes of the special tokens: a chunk that ends in one waits for the next.
        prefixes = {s[:k] for s in watched for k in range(1, len(s))}
        longest = max(map(len, prefixes), default=0)
        buffer = ""
        for chunk in iterable:
            if not isinstance(chunk, str):
                raise TypeError(f"encode_iterable takes strings, got an item of type {type(chunk).__name__}")
            buffer += chunk
            # A tail that could be the start of a special token waits for the next chunk.
            hold = next((k for k in range(min(longest, len(buffer)), 0, -1) if buffer[-k:] in prefixes), 0)
            ready = buffer[:len(buffer) - hold]
            self._check_disallowed(ready, disallowed)
            parts = self._split_special(ready, allowed)
            ids: list[int] = []
            for i, part in enumerate(parts[:-1]):
                if i % 2:
                    ids.append(self.special_tokens[part])
                else:
                    self._encode_chunk(part, ids)
            # So do the pre-tokens that end within 3 characters of the end of what is ready. The
            # others are encoded as they are: re-splitting the text before the held part could
            # split its end differently (a pattern may treat the end of the text specially).
            pieces, end = self._pretokenize(parts[-1]), 0
            for n, piece in enumerate(pieces):
                if end + len(piece) > len(parts[-1]) - 3:
                    break
                end += len(piece)
            else:
                n = len(pieces)
            self._encode_pieces(pieces[:n], ids)
            held = parts[-1][end:]
            yield from ids
            buffer = held + buffer[len(buffer) - hold:]
        yield from self.encode(buffer, allowed_special=allowed, disallowed_special=disallowed)

    # ----------------------------------------------------------------------------------------
    # decoding

    def decode_tokens_bytes(self, ids: Iterable[int]) -> list[bytes]:
        """Return the bytes of each token.

        >>> Tokenizer.from_tiktoken("gpt2").decode_tokens_bytes([15496, 11])
        [b'Hello', b',']
        """
        out = []
        for i in ids:
            token = self.vocab.get(i)
            if token is None:
                token = self._special_by_id.get(i)
                if token is None:
                    raise ValueError(
                        f"{i!r} is not a token id of this tokenizer (regular ids 0..{max(self.vocab)}, "
                        f"special ids {sorted(self._special_by_id)})"
                    )
            out.append(token)
        return out

    def decode_bytes(self, ids: Iterable[int]) -> bytes:
        """Return the bytes that ``ids`` stand for."""
        return b"".join(self.decode_tokens_bytes(ids))

    def decode(self, ids: Iterable[int], errors: str = "replace") -> str:
        """Decode ids to text. A token can hold part of a UTF-8 character, so with the default
        ``errors="replace"`` an incomplete sequence becomes U+FFFD; ``errors="strict"`` raises.

        >>> tok = Tokenizer.from_tiktoken("cl100k_base")
        >>> ids = tok.encode("🤗")
        >>> len(ids), tok.decode(ids[:1]), tok.decode(ids)
        (3, '�', '🤗')
        """
        return self.decode_bytes(ids).decode("utf-8", errors=errors)

    @property
    def n_vocab(self) -> int:
        """One more than the largest id (regular or special), as in tiktoken."""
        return max([*self.vocab, *self._special_by_id]) + 1

    # ----------------------------------------------------------------------------------------
    # saving and loading

    def save(self, path: str | os.PathLike) -> None:
        """Write the tokenizer as readable, versioned JSON: one field per line, one merge per line
        as ``[left id, right id, new id, "the new token's text"]``."""
        byte_ids = [self._ranks[bytes([b])] for b in range(256)]
        merges = [
            [a, b, idx, (self.vocab[a] + self.vocab[b]).decode("utf-8", "backslashreplace")]
            for (a, b), idx in self.merges.items()
        ]
        fields = {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "pattern": self.pattern,
            "special_tokens": self.special_tokens,
            "byte_ids": byte_ids,
        }
        lines = ["{"] + [f" {json.dumps(k)}: {json.dumps(v, ensure_ascii=False)}," for k, v in fields.items()]
        lines.append(' "merges": [')
        lines.append(",\n".join("  " + json.dumps(m, ensure_ascii=False) for m in merges))
        lines.append(" ]\n}\n")
        Path(path).write_text("\n".join(lines), encoding="utf-8")

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Tokenizer":
        """Read a tokenizer written by :meth:`save`; raises ValueError on any damage."""
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"{path} is not a tokbook tokenizer file: {exc}") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ValueError(f"{path} is not a tokbook tokenizer file (no \"format\": \"{FORMAT}\")")
        if data.get("version") != FORMAT_VERSION:
            raise ValueError(
                f"{path} has format version {data.get('version')!r}; this tokbook reads version "
                f"{FORMAT_VERSION}. Load it with the tokbook version that wrote it, or retrain."
            )
        try:
            byte_ids, merges = data["byte_ids"], data["merges"]
            if sorted(byte_ids) != sorted(set(byte_ids)) or len(byte_ids) != 256:
                raise ValueError("byte_ids must list 256 distinct ids")
            vocab = {int(idx): bytes([b]) for b, idx in enumerate(byte_ids)}
            merge_table = {}
            for n, entry in enumerate(merges):
                a, b, idx = (int(x) for x in entry[:3])
                token = vocab.get(a, b"") + vocab.get(b, b"")
                if a not in vocab or b not in vocab or vocab.get(idx, token) != token:
                    raise ValueError(f"merge {n} {entry!r} uses an unknown id, or an id of other bytes")
                vocab[idx] = token
                merge_table[(a, b)] = idx
            tok = cls(pattern=data["pattern"])
            tok._set_vocab(vocab, merge_table)
            tok._set_special(data["special_tokens"])
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise ValueError(f"{path} is a damaged tokbook tokenizer file: {exc}") from None
        return tok

    def __repr__(self) -> str:
        return (f"Tokenizer(vocab={len(self.vocab)}, merges={len(self.merges)}, "
                f"special_tokens={len(self.special_tokens)}, pattern={'none' if self.pattern is None else 'set'})")


@functools.cache
def _tiktoken_tables(name: str) -> tuple[dict[int, bytes], dict[tuple[int, int], int]]:
    """The vocabulary and recovered merges of a real encoding (computed once per process)."""
    tok = Tokenizer.from_ranks(encodings.mergeable_ranks(name), pattern=None)
    return tok.vocab, tok.merges


def _train_merges(counts: Mapping[str, int], vocab_size: int, *, verbose: bool = False
                  ) -> tuple[dict[int, bytes], dict[tuple[int, int], int]]:
    """Merge until the vocabulary has ``vocab_size`` tokens (or no pair is left), from pre-token
    counts, updating the pair counts incrementally after each merge."""
    vocab = {i: bytes([i]) for i in range(256)}
    by_bytes = {token: i for i, token in vocab.items()}
    words = [list(piece.encode("utf-8")) for piece in counts]
    freqs = list(counts.values())

    stats: dict[tuple[int, int], int] = {}
    where: dict[tuple[int, int], set[int]] = {}
    for w, (word, freq) in enumerate(zip(words, freqs)):
        for pair in zip(word, word[1:]):
            stats[pair] = stats.get(pair, 0) + freq
            where.setdefault(pair, set()).add(w)

    def entry(pair):
        return (-stats[pair], _Greater((vocab[pair[0]], vocab[pair[1]])), pair)

    heap = [entry(pair) for pair in stats]
    heapq.heapify(heap)

    progress = None
    if verbose:
        from tqdm import tqdm

        progress = tqdm(total=vocab_size - len(vocab), unit="token", desc="training BPE")
    merges: dict[tuple[int, int], int] = {}
    while len(vocab) < vocab_size and heap:
        neg, _, pair = heapq.heappop(heap)
        if stats.get(pair, 0) != -neg or -neg <= 0:
            continue  # a stale entry: the count changed after it was pushed
        token = vocab[pair[0]] + vocab[pair[1]]
        # Two different pairs can spell the same bytes ("a"+"bc", "ab"+"c"): reuse the id then.
        idx = by_bytes.get(token, len(vocab))
        merges[pair] = idx
        vocab[idx] = by_bytes[token] = token
        a, b = pair
        changed: dict[tuple[int, int], int] = {}
        for w in where.pop(pair):
            word = words[w]
            if len(word) < 2:
                continue
            freq = freqs[w]
            new = merge(word, pair, idx) if a in word else word
            if len(new) == len(word):
                continue
            for p in zip(word, word[1:]):
                changed[p] = changed.get(p, 0) - freq
            for p in zip(new, new[1:]):
                changed[p] = changed.get(p, 0) + freq
                where.setdefault(p, set()).add(w)
            words[w] = new
        for p, delta in changed.items():
            if delta:
                stats[p] = stats.get(p, 0) + delta
                if stats[p] > 0:
                    heapq.heappush(heap, entry(p))
                else:
                    del stats[p]
        stats.pop(pair, None)
        if progress is not None:
            progress.update(len(vocab) - 256 - progress.n)
    if progress is not None:
        progress.close()
    return vocab, merges
