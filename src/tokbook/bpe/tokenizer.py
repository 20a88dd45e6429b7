"""The :class:`Tokenizer`: a byte-level BPE vocabulary with tiktoken's encoding rule and API.

**How text is encoded.** Special tokens are split out first. The text between them is cut into
pre-tokens by the split pattern, and each pre-token is encoded on its own: starting from its
single bytes, the adjacent pair whose concatenation has the lowest rank in the vocabulary is
merged, again and again, until no adjacent pair forms a token. This is tiktoken's rule, so a
tokenizer built from tiktoken's ranks gives tiktoken's ids.

**Text that is not valid Unicode.** A Python ``str`` can hold surrogate code points, which
UTF-8 cannot encode: a lone one (``json.loads('"\\ud83d"')``, file names read with
``surrogateescape``, text cut by a UTF-16 API) or a pair written as two code points
(``"\\ud83d\\udc4d"``, which ``unicode_escape`` decoding gives for 👍; ``json.loads`` joins such
a pair itself). A tokenizer must not fail on text, so, like tiktoken (its Python wrapper catches
the ``UnicodeEncodeError``), the encoders then rewrite the text through UTF-16: a pair becomes
the character it spells and any other surrogate becomes U+FFFD (:func:`repair_surrogates`).
``encode_iterable`` reads a pair split between two chunks as one character, as in the joined
text. ``tokbook.utf8.encode`` is a codec and keeps refusing surrogates.

**Two paths.** :meth:`Tokenizer.encode` and :meth:`Tokenizer.encode_ordinary` are the readable
reference, in pure Python. :meth:`Tokenizer.encode_batch`, :meth:`Tokenizer.encode_iterable`
and :meth:`Tokenizer.to_tiktoken` hand the same vocabulary to tiktoken's Rust core
(:mod:`~tokbook.bpe.fast`); both give the same ids.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence

import regex
import tiktoken

from tokbook import encodings
from tokbook.bpe import fast, saving, training
from tokbook.bpe.merging import byte_pair_merge
from tokbook.bpe.pretokenize import PATTERNS, last_safe_cut, special_regex, splitter
from tokbook.encodings import SpecialArg

__all__ = ["Tokenizer", "SpecialArg", "repair_surrogates"]

_CACHE_LIMIT = 1 << 18  # pre-tokens remembered by an encoder before its cache is cleared
_STREAM_BATCH = 1 << 16  # encode_iterable gathers about this many characters before encoding


def repair_surrogates(text: str) -> str:
    """Rewrite surrogate code points as tiktoken does: a high-low pair becomes the character it
    spells, any other surrogate becomes U+FFFD. Text without surrogates is returned unchanged.

    >>> repair_surrogates("\\ud83d\\udc4d"), repair_surrogates("a\\udc80b")
    ('👍', 'a�b')
    """
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def _pattern_regex(pattern: str | None, pat_str: str | None) -> str | None:
    """The split regex named by ``pattern`` or given as ``pat_str`` (at most one of them)."""
    if pat_str is not None:
        if pattern is not None:
            raise ValueError("give the split pattern either by name (pattern=) or as a regex (pat_str=), not both")
        if not isinstance(pat_str, str) or not pat_str:
            raise TypeError(f"pat_str must be a non-empty regex string, got {pat_str!r}")
        try:
            regex.compile(pat_str)
        except regex.error as exc:
            raise ValueError(f"pat_str {pat_str!r} is not a valid regex: {exc}") from None
        return pat_str
    if pattern is None:
        return None
    if not isinstance(pattern, str):
        raise TypeError(f"pattern must be a name in {sorted(PATTERNS)} or None, not {type(pattern).__name__}")
    if pattern in PATTERNS:
        return PATTERNS[pattern]
    raise ValueError(
        f"unknown pattern name {pattern!r}: use one of {', '.join(map(repr, PATTERNS))}, or None for no "
        "splitting; to split with your own regex, pass it as pat_str="
    )


class Tokenizer:
    """A byte-level BPE tokenizer with tiktoken's encoding rule and API.

    The split pattern is named by ``pattern``: one of the names in :data:`PATTERNS`
    (``"gpt2"``, ``"cl100k_base"``, ``"o200k_base"``) or None (no splitting); or it is given as a
    regex with ``pat_str=`` (tiktoken's name for it). An unknown name is refused. The regex in
    use is ``tok.pattern``. A pattern must match every character of the text it splits:
    encoding refuses text that it leaves unmatched, rather than dropping it.

    ``special_tokens`` is a list of strings, which get the ids right after the regular
    vocabulary (also after training), or a mapping from string to id, which keeps its ids.

    >>> Tokenizer("gpt-2")
    Traceback (most recent call last):
    ...
    ValueError: unknown pattern name 'gpt-2': use one of 'gpt2', 'cl100k_base', 'o200k_base', or None for no splitting; to split with your own regex, pass it as pat_str=
    """

    def __init__(self, pattern: str | None = None, special_tokens: Sequence[str] | Mapping[str, int] | None = None,
                 *, pat_str: str | None = None):
        self.pattern = _pattern_regex(pattern, pat_str)
        self._split = splitter(self.pattern) if self.pattern is not None else None
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
        self._encoding: tiktoken.Encoding | None = None

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
            if repair_surrogates(text) != text:
                raise ValueError(f"special token {text!r} contains surrogate code points, which UTF-8 cannot encode")
            if not isinstance(idx, int) or isinstance(idx, bool) or idx < 0:
                raise TypeError(f"the id of special token {text!r} must be a non-negative int, got {idx!r}")
            if idx in self.vocab:
                raise ValueError(f"special token {text!r} has id {idx}, which the regular vocabulary already uses")
        if len(set(special.values())) != len(special):
            raise ValueError("two special tokens have the same id")
        self.special_tokens = special
        # Given as a list, special ids follow the regular vocabulary, also after training.
        self._specials_follow_vocab = special_tokens is not None and not isinstance(special_tokens, Mapping)
        self._special_by_id = {idx: text.encode("utf-8") for text, idx in special.items()}
        self._encoding = None

    @classmethod
    def from_ranks(
        cls,
        mergeable_ranks: Mapping[bytes, int],
        *,
        pattern: str | None = None,
        pat_str: str | None = None,
        special_tokens: Mapping[str, int] | None = None,
        strict: bool = False,
    ) -> "Tokenizer":
        """Build a tokenizer from tiktoken's representation: ``{token bytes: rank}``.

        The rank is the id. Single bytes may have any ranks (in cl100k_base, ``b"!"`` is 0).
        Each merge is recovered by encoding a token's bytes with only lower-ranked tokens: if
        that gives exactly two parts, they are the pair that was merged.

        Like tiktoken, any table of distinct ranks that holds the 256 single bytes is accepted.
        A token that is not the merge of two lower-ranked tokens (GPT-2's ``vocab.json`` lists
        ``<|endoftext|>`` as an ordinary entry) gets no entry in ``merges``; it decodes, and
        encoding gives exactly tiktoken's ids, which contain it only where a whole pre-token or
        two adjacent parts spell it (under GPT-2's split pattern ``<|endoftext|>`` never is).
        ``strict=True`` refuses such tables (ValueError), for ranks that must come from BPE
        training. The pattern is named or given as in :class:`Tokenizer`.

        >>> ranks = {bytes([i]): i for i in range(256)} | {b"ab": 256, b"abb": 257}
        >>> Tokenizer.from_ranks(ranks).merges
        {(97, 98): 256, (256, 98): 257}
        >>> Tokenizer.from_ranks(ranks | {b"xyz": 258}).decode([258])
        'xyz'
        """
        if not isinstance(mergeable_ranks, Mapping):
            raise TypeError("mergeable_ranks must be a dict {token bytes: rank}, e.g. encodings.mergeable_ranks('gpt2')")
        singles = [token for token in mergeable_ranks if len(token) == 1]
        if len(singles) != 256:
            raise ValueError(
                f"a byte-level vocabulary contains all 256 single bytes; this one has {len(singles)}"
            )
        tok = cls(pattern=pattern, pat_str=pat_str)
        vocab = {rank: token for token, rank in mergeable_ranks.items()}
        if len(vocab) != len(mergeable_ranks):
            raise ValueError("two tokens of mergeable_ranks have the same rank")
        merges = {}
        for rank in sorted(vocab):
            token = vocab[rank]
            if len(token) == 1:
                continue
            parts = byte_pair_merge(token, mergeable_ranks, max_rank=rank)
            if len(parts) == 2:
                merges[(mergeable_ranks[parts[0]], mergeable_ranks[parts[1]])] = rank
            elif strict:
                raise ValueError(
                    f"token {token!r} (rank {rank}) is not the merge of two lower-ranked tokens; "
                    "these ranks do not come from BPE training (strict=False accepts them, as tiktoken does)"
                )
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
        tok = cls(pattern=name)
        tok._set_vocab(dict(vocab), dict(merges))
        tok._set_special({s: enc.encode_single_token(s) for s in enc.special_tokens_set})
        tok._encoding = enc  # the fast path is tiktoken's own encoding
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

        Training replaces the vocabulary and keeps the special tokens: those given as a list
        move to the ids right after the new vocabulary, those given with ids (a mapping, or a
        tokenizer from :meth:`from_ranks`, :meth:`from_tiktoken` or :meth:`load`) keep them, so
        ``vocab_size`` must not reach them.

        With ``pattern=None`` every document is a single sequence that each merge rewrites, which
        suits texts of a few tens of kilobytes; give real corpora a split pattern.
        """
        if isinstance(vocab_size, bool) or not isinstance(vocab_size, int) or vocab_size < 256:
            raise ValueError(f"vocab_size must be an int >= 256 (the single bytes), got {vocab_size!r}")
        if workers is not None and (not isinstance(workers, int) or workers < 1):
            raise ValueError(f"workers must be a positive int or None (all cores), got {workers!r}")
        specials: list[str] | dict[str, int] = dict(self.special_tokens)
        if self._specials_follow_vocab:
            specials = sorted(specials, key=specials.__getitem__)
        else:
            taken = {s: i for s, i in specials.items() if i < vocab_size}
            if taken:
                raise ValueError(
                    f"the special tokens {taken} have ids below vocab_size={vocab_size}, which training would "
                    "give to regular tokens; choose a smaller vocab_size or give the special tokens higher ids"
                )
        counts = training.count_pretokens(text_or_iterable, self.pattern, self.special_tokens,
                                          workers or os.cpu_count() or 1)
        vocab, merges = training.train_merges(counts, vocab_size, verbose=verbose)
        self._set_vocab(vocab, merges)
        self._set_special(specials)

    # ----------------------------------------------------------------------------------------
    # encoding: the pure-Python reference

    def _encode_chunk(self, text: str, ids: list[int]) -> None:
        """Append the ids of ``text`` (no special tokens in it) to ``ids``."""
        if self._split is None:
            self._encode_pieces([text] if text else [], ids)
            return
        pieces = self._split(text)
        if sum(map(len, pieces)) != len(text):
            self._refuse_unmatched(text)
        self._encode_pieces(pieces, ids)

    def _refuse_unmatched(self, text: str) -> None:
        at = 0
        for found in regex.finditer(self.pattern, text):
            if found.start() != at:
                break
            at = found.end()
        raise ValueError(
            f"the split pattern leaves part of the text unmatched, from position {at} ({text[at:at + 20]!r}), "
            "and encoding must not drop it: a pattern must match every character (end it with an "
            r"alternative such as |\s+|. for what the others miss)"
        )

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

        Surrogate code points are first repaired as tiktoken does (see the module docstring).

        >>> tok = Tokenizer.from_tiktoken("cl100k_base")
        >>> tok.encode_ordinary("<|endoftext|>")
        [27, 91, 8862, 728, 428, 91, 29]
        >>> tok.encode_ordinary("\\ud83d\\udc4d") == tok.encode_ordinary("👍")
        True
        """
        if not isinstance(text, str):
            raise TypeError(f"encode_ordinary takes a str, not {type(text).__name__}")
        ids: list[int] = []
        try:
            self._encode_chunk(text, ids)
        except UnicodeEncodeError:
            ids = []
            self._encode_chunk(repair_surrogates(text), ids)
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

    def _encode_with_specials(self, text: str, allowed: frozenset[str]) -> list[int]:
        ids: list[int] = []
        for i, part in enumerate(self._split_special(text, allowed)):
            if i % 2:
                ids.append(self.special_tokens[part])
            else:
                self._encode_chunk(part, ids)
        return ids

    def encode(self, text: str, *, allowed_special: SpecialArg = frozenset(),
               disallowed_special: SpecialArg | Collection[str] = "all") -> list[int]:
        """Encode ``text`` to token ids, handling special tokens exactly as tiktoken does.

        A special-token string is encoded as its special id only if it is in ``allowed_special``
        (or that is ``"all"``). By default any other special-token string in the text raises
        ValueError, because text from users must not be able to insert control tokens;
        ``disallowed_special=()`` encodes such strings as ordinary text instead. Surrogate code
        points are repaired as tiktoken does (see the module docstring).

        >>> tok = Tokenizer.from_tiktoken("gpt2")
        >>> tok.encode("hi<|endoftext|>", allowed_special="all")
        [5303, 50256]
        """
        if not isinstance(text, str):
            raise TypeError(f"encode takes a str, not {type(text).__name__}")
        allowed, disallowed = self._special_sets(allowed_special, disallowed_special)
        self._check_disallowed(text, disallowed)
        try:
            return self._encode_with_specials(text, allowed)
        except UnicodeEncodeError:
            return self._encode_with_specials(repair_surrogates(text), allowed)

    # ----------------------------------------------------------------------------------------
    # encoding: the fast path (tiktoken's Rust core, same ids)

    def to_tiktoken(self) -> tiktoken.Encoding:
        """This tokenizer as a ``tiktoken.Encoding`` (built once, until the vocabulary changes).

        Its pattern is the tokenizer's (or the whole text as one pre-token when there is none);
        its special tokens are the tokenizer's. It encodes like :meth:`encode`, but does not
        check that a custom pattern matches all the text (see :mod:`tokbook.bpe.fast`).

        >>> tok = Tokenizer.from_tiktoken("cl100k_base")
        >>> tok.to_tiktoken().encode("Hello, world!") == tok.encode("Hello, world!")
        True
        """
        if self._encoding is None:
            self._encoding = fast.to_encoding(self.vocab, self.pattern, self.special_tokens)
        return self._encoding

    def _check_covered(self, text: str, ids: list[int]) -> None:
        """For a custom pattern, refuse what tiktoken encoded with some text left unmatched."""
        if self.pattern is None or self.pattern in PATTERNS.values():
            return  # these match every character
        text = repair_surrogates(text)
        if len(self.to_tiktoken().decode_bytes(ids)) != len(text.encode("utf-8")):
            self._refuse_unmatched(text)

    def encode_batch(self, texts: Sequence[str], *, num_threads: int = 8, allowed_special: SpecialArg = frozenset(),
                     disallowed_special: SpecialArg | Collection[str] = "all") -> list[list[int]]:
        """Encode each of ``texts`` as :meth:`encode` does, with tiktoken, in ``num_threads`` threads.

        >>> Tokenizer.from_tiktoken("gpt2").encode_batch(["Hello", " world"])
        [[15496], [995]]
        """
        if isinstance(texts, str) or not all(isinstance(t, str) for t in texts):
            raise TypeError("encode_batch takes a list of strings (for one string, use encode)")
        allowed, disallowed = self._special_sets(allowed_special, disallowed_special)
        for text in texts:
            self._check_disallowed(text, disallowed)
        batch = self.to_tiktoken().encode_batch(list(texts), num_threads=num_threads,
                                                allowed_special=allowed, disallowed_special=())
        for text, ids in zip(texts, batch):
            self._check_covered(text, ids)
        return batch

    def encode_iterable(self, iterable: Iterable[str], *, allowed_special: SpecialArg = frozenset(),
                        disallowed_special: SpecialArg | Collection[str] = "all") -> Iterator[int]:
        """Encode a stream of text (for example an open file, line by line) lazily, yielding ids.

        The ids are those of ``encode("".join(iterable))``, including a surrogate pair split
        between two chunks (it is read as the character it spells, as in the joined text).
        Chunks are gathered into batches of about 64k characters, and memory stays bounded by
        about two batches plus the longest pre-token.

        Each batch is cut where encoding it separately cannot change an id, and what follows
        the cut waits for the next batch. For the built-in patterns, the cut is at the last
        suitable line end (:func:`~tokbook.bpe.pretokenize.last_safe_cut`), and the text before
        it is encoded by the fast path. Otherwise (a custom pattern, or no such line end), the
        pure path encodes the batch's
        pre-tokens except those that end within 3 characters of its end, or a special token
        split between chunks: those could change with the next chunk. (For the built-in
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
        # Proper prefixes of the special tokens: a batch that ends in one waits for the next.
        prefixes = {s[:k] for s in watched for k in range(1, len(s))}
        pending: list[str] = []
        size = 0
        for chunk in iterable:
            if not isinstance(chunk, str):
                raise TypeError(f"encode_iterable takes strings, got an item of type {type(chunk).__name__}")
            pending.append(chunk)
            size += len(chunk)
            if size >= _STREAM_BATCH:
                ids, rest = self._encode_stream_head("".join(pending), prefixes, allowed, disallowed)
                yield from ids
                pending, size = [rest], len(rest)
        text = "".join(pending)
        if self.pattern in PATTERNS.values():
            self._check_disallowed(text, disallowed)
            yield from self.to_tiktoken().encode(text, allowed_special=allowed, disallowed_special=())
        else:
            yield from self.encode(text, allowed_special=allowed, disallowed_special=disallowed)

    def _encode_stream_head(self, text: str, prefixes: set[str], allowed: frozenset[str],
                            disallowed: frozenset[str]) -> tuple[list[int], str]:
        """The ids of the part of ``text`` that later text cannot change, and the rest."""
        longest = max(map(len, prefixes), default=0)
        hold = next((k for k in range(min(longest, len(text)), 0, -1) if text[-k:] in prefixes), 0)
        if hold < len(text) and "\ud800" <= text[-hold - 1] <= "\udbff":
            hold += 1  # a high surrogate: its low half may start the next chunk
        ready, rest = text[:len(text) - hold], text[len(text) - hold:]
        self._check_disallowed(ready, disallowed)
        ready = repair_surrogates(ready)
        parts = self._split_special(ready, allowed)
        ids: list[int] = []
        builtin = self.pattern in PATTERNS.values()
        encoding = self.to_tiktoken() if builtin else None
        for i, part in enumerate(parts[:-1]):
            if i % 2:
                ids.append(self.special_tokens[part])
            elif encoding is not None:
                ids += encoding.encode_ordinary(part)
            else:
                self._encode_chunk(part, ids)
        last = parts[-1]
        cut = last_safe_cut(last, self.pattern) if builtin else 0
        if cut:
            ids += encoding.encode_ordinary(last[:cut])
            return ids, last[cut:] + rest
        # No safe cut: encode the pre-tokens that end more than 3 characters before the end.
        pieces, end = self._split(last), 0
        if sum(map(len, pieces)) != len(last):
            self._refuse_unmatched(last)
        for n, piece in enumerate(pieces):
            if end + len(piece) > len(last) - 3:
                break
            end += len(piece)
        else:
            n = len(pieces)
        self._encode_pieces(pieces[:n], ids)
        return ids, last[end:] + rest

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
        """Write the tokenizer as readable, versioned JSON (see :mod:`tokbook.bpe.saving`).

        The file holds the merges, so a vocabulary with tokens that are not merges (accepted by
        :meth:`from_ranks`) cannot be saved: ValueError rather than a file that loses them.
        """
        made = {*self.merges.values(), *(i for i, token in self.vocab.items() if len(token) == 1)}
        unmade = sorted(set(self.vocab) - made)
        if unmade:
            raise ValueError(
                f"{len(unmade)} tokens of this vocabulary are not merges (ids {unmade[:5]}...), and the "
                "tokbook file stores merges; keep the ranks instead (e.g. as a tiktoken file)"
            )
        saving.write(path, pattern=self.pattern, special_tokens=self.special_tokens,
                     vocab=self.vocab, merges=self.merges)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Tokenizer":
        """Read a tokenizer written by :meth:`save`; raises ValueError on any damage."""
        pattern, special_tokens, vocab, merges = saving.read(path)
        try:
            tok = cls(pat_str=pattern)
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
