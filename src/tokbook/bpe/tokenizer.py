"""The :class:`Tokenizer`: a byte-level BPE vocabulary with tiktoken's encoding rule and API.

**How text is encoded.** Special tokens are split out first. The text between them is cut into
pre-tokens by the split pattern, and each pre-token is encoded on its own: starting from its
single bytes, the adjacent pair whose concatenation has the lowest rank in the vocabulary is
merged, again and again, until no adjacent pair forms a token. This is tiktoken's rule, so a
tokenizer built from tiktoken's ranks gives tiktoken's ids.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence

from tokbook import encodings
from tokbook.bpe import saving, training
from tokbook.bpe.merging import byte_pair_merge
from tokbook.bpe.pretokenize import PATTERNS, special_regex, splitter
from tokbook.encodings import SpecialArg

__all__ = ["Tokenizer", "SpecialArg"]

_CACHE_LIMIT = 1 << 18  # pre-tokens remembered by an encoder before its cache is cleared


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
        self._split = splitter(self.pattern) if self.pattern is not None else None
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
            parts = byte_pair_merge(token, mergeable_ranks, max_rank=rank)
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
        counts = training.count_pretokens(text_or_iterable, self.pattern, self.special_tokens,
                                          workers or os.cpu_count() or 1)
        vocab, merges = training.train_merges(counts, vocab_size, verbose=verbose)
        self._set_vocab(vocab, merges)
        self._set_special(self._requested_special)

    # ----------------------------------------------------------------------------------------
    # encoding

    def _encode_chunk(self, text: str, ids: list[int]) -> None:
        """Append the ids of ``text`` (no special tokens in it) to ``ids``."""
        self._encode_pieces(self._split(text) if self._split is not None else [text] if text else [], ids)

    def _encode_pieces(self, pieces: Iterable[str], ids: list[int]) -> None:
        cache, ranks = self._cache, self._ranks
        for piece in pieces:
            hit = cache.get(piece)
            if hit is None:
                data = piece.encode("utf-8")
                rank = ranks.get(data)
                hit = (rank,) if rank is not None else tuple(ranks[p] for p in byte_pair_merge(data, ranks))
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

    def _check_disallowed(self, text: str, disallowed: frozenset[str]) -> None:
        pattern = special_regex(disallowed)
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
        pattern = special_regex(allowed)
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
            pieces, end = self._split(parts[-1]), 0
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
        """Write the tokenizer as readable, versioned JSON (see :mod:`tokbook.bpe.saving`)."""
        saving.write(path, pattern=self.pattern, special_tokens=self.special_tokens,
                     vocab=self.vocab, merges=self.merges)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Tokenizer":
        """Read a tokenizer written by :meth:`save`; raises ValueError on any damage."""
        pattern, special_tokens, vocab, merges = saving.read(path)
        try:
            tok = cls(pattern=pattern)
            tok._set_vocab(vocab, merges)
            tok._set_special(special_tokens)
        except (TypeError, ValueError) as exc:
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
