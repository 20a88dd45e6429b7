"""A processor shaped like ``sentencepiece.SentencePieceProcessor``, in plain Python.

Encoding is three steps, the same as sentencepiece's ``SentencePieceProcessor::Encode``:

1. :func:`~tokbook.sentencepiece.normalize.normalize` (``▁`` for spaces, the dummy prefix, and
   the model's character map if it has one, as ``nmt_nfkc`` models do);
2. the model cuts the normalized text into pieces (:func:`~tokbook.sentencepiece.bpe.bpe_segment`
   for BPE; the best Viterbi path for Unigram);
3. pieces that are not in the vocabulary are unknown. With ``byte_fallback`` each one becomes
   the byte pieces ``<0xNN>`` of its UTF-8 bytes (one piece per byte: ``"鿿"`` is three). Without
   it, a run of neighbouring unknown pieces becomes a single ``<unk>`` id.

Control pieces (``<s>``, ``</s>``, ``[INST]``) are never produced from text: encoding never
looks them up, so the text ``"[INST]"`` is encoded as ordinary characters. User-defined pieces
are: they are cut out of the text first and never merged with their neighbours.

>>> sp = SentencePieceProcessor(model_file=mistral_model_file("v1"))
>>> sp.encode("Hello  world")
[22557, 28705, 1526]
>>> sp.encode("Hello  world", out_type=str)
['▁Hello', '▁', '▁world']
>>> sp.encode("鿿", out_type=str)
['▁', '<0xE9>', '<0xBF>', '<0xBF>']
>>> sp.decode([22557, 28705, 1526])
'Hello  world'
"""

from __future__ import annotations

import math
import numbers
import random
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

from tokbook.sentencepiece.bpe import bpe_segment
from tokbook.sentencepiece.charsmap import CharsMap
from tokbook.sentencepiece.model import (
    PIECE_TYPES,
    Model,
    ModelFileError,
    Piece,
    mistral_model_file,
    parse_model,
    read_model,
)
from tokbook.sentencepiece.normalize import SPACE, normalize
from tokbook.sentencepiece.unigram import UnigramModel

__all__ = ["SentencePieceProcessor", "mistral_model_file"]

_BYTE_PIECE = re.compile(r"<0x([0-9A-F]{2})>")
_NORMAL_TYPES = ("normal", "user_defined", "unused")
_SUPPORTED_MODEL_TYPES = ("bpe", "unigram")


def byte_piece(byte: int) -> str:
    """The piece that stands for one byte under byte fallback: ``byte_piece(0xE9) == '<0xE9>'``."""
    return f"<0x{byte:02X}>"


class SentencePieceProcessor:
    """Encode and decode with a SentencePiece model.

    Build it from a ``.model`` file (``SentencePieceProcessor(model_file=path)``), from the bytes
    of one (``model_proto=...``), or from pieces and scores (:meth:`from_pieces`).
    """

    def __init__(self, model_file: str | Path | None = None, *, model_proto: bytes | None = None):
        if (model_file is None) == (model_proto is None):
            raise TypeError("pass exactly one of model_file= (a path) or model_proto= (its bytes)")
        model = read_model(model_file) if model_file is not None else parse_model(model_proto)
        self._load(model, source=str(model_file) if model_file is not None else "model_proto")

    @classmethod
    def from_model(cls, model: Model) -> SentencePieceProcessor:
        """A processor for a :class:`~tokbook.sentencepiece.model.Model` (pieces and options)."""
        processor = cls.__new__(cls)
        processor._load(model, source="the given model")
        return processor

    @classmethod
    def from_pieces(
        cls,
        pieces: Sequence[str],
        scores: Sequence[float],
        types: Sequence[str] | None = None,
        **options,
    ) -> SentencePieceProcessor:
        """A processor from a vocabulary: piece ``i`` has id ``i``, score ``scores[i]``.

        ``types`` default to ``"normal"``, except that ``<unk>`` is ``"unknown"``, ``<s>`` and
        ``</s>`` are ``"control"`` and ``<0xNN>`` pieces are ``"byte"``. ``options`` are the fields
        of :class:`~tokbook.sentencepiece.model.Model` (``model_type="bpe"``,
        ``byte_fallback=False``, ``add_dummy_prefix=True``, ``remove_extra_whitespaces=True``, ...).

        >>> sp = SentencePieceProcessor.from_pieces(
        ...     ["<unk>", "▁", "a", "b", "▁a", "ab", "▁ab"], [0, -1, -2, -3, -4, -5, -6],
        ...     model_type="bpe")
        >>> sp.encode("ab ab", out_type=str)
        ['▁ab', '▁ab']
        >>> sp.encode("abc", out_type=str), sp.encode("abc")
        (['▁ab', 'c'], [6, 0])
        """
        if len(pieces) != len(scores):
            raise ValueError(f"got {len(pieces)} pieces but {len(scores)} scores: pass one score per piece")
        if types is None:
            default = {options.get("unk_piece", "<unk>"): "unknown"}
            for name in ("bos_piece", "eos_piece"):
                default[options.get(name, "<s>" if name == "bos_piece" else "</s>")] = "control"
            types = [
                default.get(p, "byte" if _BYTE_PIECE.fullmatch(p) and options.get("byte_fallback") else "normal")
                for p in pieces
            ]
        elif len(types) != len(pieces):
            raise ValueError(f"got {len(pieces)} pieces but {len(types)} types: pass one type per piece")
        unknown_options = set(options) - set(Model.__dataclass_fields__) - {"pieces"}
        if unknown_options:
            raise TypeError(
                f"unknown option(s) {sorted(unknown_options)}; the options are the fields of "
                "tokbook.sentencepiece.Model"
            )
        model = Model(
            pieces=[Piece(str(p), float(s), t) for p, s, t in zip(pieces, scores, types)],
            **{"model_type": "bpe", **options},
        )
        return cls.from_model(model)

    def _load(self, model: Model, *, source: str) -> None:
        """Index the pieces and check them the way sentencepiece's ``InitializePieces`` does."""
        if model.model_type not in _SUPPORTED_MODEL_TYPES:
            raise ModelFileError(
                f"{source} is a {model.model_type!r} model; tokbook encodes {_SUPPORTED_MODEL_TYPES} models"
            )
        if model.has_denormalizer:
            raise ModelFileError(
                f"{source} rewrites decoded text with a denormalizer, which tokbook does not implement; "
                "use a model trained without decode-time normalization rules"
            )
        self._charsmap = CharsMap(model.precompiled_charsmap) if model.precompiled_charsmap else None
        self.model = model
        self._normal: dict[str, int] = {}  # pieces that segmentation may produce
        reserved: dict[str, int] = {}  # unknown, control and byte pieces
        self._unk = -1
        for i, p in enumerate(model.pieces):
            if not p.piece:
                raise ModelFileError(f"{source}: piece {i} is empty; every piece needs some text")
            if p.type not in PIECE_TYPES.values():
                raise ModelFileError(
                    f"{source}: piece {i} ({p.piece!r}) has type {p.type!r}; use one of {sorted(PIECE_TYPES.values())}"
                )
            table = self._normal if p.type in _NORMAL_TYPES else reserved
            if p.piece in table:
                raise ModelFileError(f"{source}: the piece {p.piece!r} is defined twice (ids {table[p.piece]} and {i})")
            table[p.piece] = i
            if p.type == "unknown":
                if self._unk >= 0:
                    raise ModelFileError(f"{source}: two unknown pieces (ids {self._unk} and {i}); keep one")
                self._unk = i
            if p.type == "byte" and not model.byte_fallback:
                raise ModelFileError(
                    f"{source}: byte piece {p.piece!r} but byte_fallback is off; pass byte_fallback=True"
                )
        if self._unk < 0:
            raise ModelFileError(
                f"{source} has no unknown piece; add one (e.g. '<unk>' with type 'unknown'), "
                "since text outside the vocabulary needs it"
            )
        if model.byte_fallback:
            missing = [b for b in range(256) if byte_piece(b) not in reserved]
            if missing:
                raise ModelFileError(
                    f"{source}: byte_fallback needs all 256 byte pieces <0x00>..<0xFF> of type 'byte'; "
                    f"{len(missing)} are missing (first: {byte_piece(missing[0])})"
                )
        # piece_to_id looks in the reserved pieces first, as sentencepiece's PieceToId does.
        self._ids = {**self._normal, **reserved}
        self._scores = {p.piece: p.score for p in model.pieces if p.type in _NORMAL_TYPES}
        self._frozen = frozenset(p.piece for p in model.pieces if p.type == "user_defined")
        self._unused = frozenset(p.piece for p in model.pieces if p.type == "unused")
        self._unigram = None
        if model.model_type == "unigram":
            self._unigram = UnigramModel(
                {p.piece: (i, p.score) for i, p in enumerate(model.pieces) if p.type in ("normal", "user_defined")},
                unk_id=self._unk,
                user_defined=self._frozen,
            )

    # ----------------------------------------------------------------- vocabulary

    def vocab_size(self) -> int:
        """The number of pieces (ids run from 0 to ``vocab_size() - 1``)."""
        return len(self.model.pieces)

    def id_to_piece(self, id: int) -> str:
        return self._piece(id).piece

    def piece_to_id(self, piece: str) -> int:
        """The id of ``piece``, or :meth:`unk_id` when the vocabulary does not have it."""
        if not isinstance(piece, str):
            raise TypeError(f"piece_to_id takes a str piece, not {type(piece).__name__}")
        return self._ids.get(piece, self._unk)

    def get_score(self, id: int) -> float:
        return self._piece(id).score

    def is_unknown(self, id: int) -> bool:
        return self._piece(id).type == "unknown"

    def is_control(self, id: int) -> bool:
        return self._piece(id).type == "control"

    def is_unused(self, id: int) -> bool:
        return self._piece(id).type == "unused"

    def is_byte(self, id: int) -> bool:
        return self._piece(id).type == "byte"

    def unk_id(self) -> int:
        return self._special_id(self.model.unk_piece, "unknown")

    def bos_id(self) -> int:
        """The id of ``<s>``, or -1 when the model has no such control piece."""
        return self._special_id(self.model.bos_piece, "control")

    def eos_id(self) -> int:
        return self._special_id(self.model.eos_piece, "control")

    def pad_id(self) -> int:
        return self._special_id(self.model.pad_piece, "control")

    def _special_id(self, piece: str, kind: str) -> int:
        id = self.piece_to_id(piece)
        return id if self.model.pieces[id].type == kind else -1

    def _piece(self, id: int) -> Piece:
        if isinstance(id, bool) or not isinstance(id, numbers.Integral):
            raise TypeError(f"ids are int, not {type(id).__name__}")
        id = int(id)
        if not 0 <= id < len(self.model.pieces):
            raise IndexError(f"id {id} is out of range: this model's ids run from 0 to {len(self.model.pieces) - 1}")
        return self.model.pieces[id]

    # ----------------------------------------------------------------- encoding

    def normalize(self, text: str) -> str:
        """The text the model segments: ``▁`` for spaces, the dummy prefix, as the model says."""
        _check_text(text)
        m = self.model
        return normalize(
            text,
            add_dummy_prefix=m.add_dummy_prefix,
            remove_extra_whitespaces=m.remove_extra_whitespaces,
            escape_whitespaces=m.escape_whitespaces,
            treat_whitespace_as_suffix=m.treat_whitespace_as_suffix,
            user_defined=self._frozen,
            rewrite=self._charsmap.rewrite if self._charsmap else None,
        )

    def segment(self, normalized: str) -> list[tuple[str, int]]:
        """The model's best segmentation of normalized text, as ``(piece, id)`` pairs.

        Unknown pieces have :meth:`unk_id`; byte fallback is applied later, by :meth:`encode`.
        """
        if self._unigram is not None:
            return self._unigram.viterbi(normalized)
        return self._bpe_pairs(bpe_segment(normalized, self._scores, frozen=self._frozen, unused=self._unused))

    def _bpe_pairs(self, pieces: list[str]) -> list[tuple[str, int]]:
        return [(p, self._normal.get(p, self._unk)) for p in pieces]

    def encode(
        self,
        text: str,
        out_type: type = int,
        *,
        add_bos: bool = False,
        add_eos: bool = False,
        enable_sampling: bool = False,
        alpha: float = 0.1,
        nbest_size: int = -1,
        rng: random.Random | None = None,
    ) -> list:
        """Encode ``text`` into ids (``out_type=int``) or pieces (``out_type=str``).

        With ``enable_sampling`` (subword regularization), a segmentation is drawn at random
        from ``rng``: for Unigram, with probability proportional to ``exp(alpha * score)``,
        among all segmentations (``nbest_size=-1``) or among the ``nbest_size`` best; for BPE,
        with BPE-dropout, each merge being skipped with probability ``alpha``.
        """
        if out_type not in (int, str):
            raise ValueError(f"out_type must be int or str, not {out_type!r}")
        normalized = self.normalize(text)
        if enable_sampling:
            pairs = self._sample(normalized, alpha, nbest_size, rng or random.Random())
        else:
            pairs = self.segment(normalized)
        pairs = self._resolve(pairs)
        if add_bos:
            pairs.insert(0, self._control_pair(self.bos_id(), "bos", self.model.bos_piece))
        if add_eos:
            pairs.append(self._control_pair(self.eos_id(), "eos", self.model.eos_piece))
        return [id for _, id in pairs] if out_type is int else [piece for piece, _ in pairs]

    def nbest_encode(self, text: str, nbest_size: int, out_type: type = int) -> list[list]:
        """The ``nbest_size`` best segmentations of ``text`` (Unigram models), best first."""
        if self._unigram is None:
            raise ValueError(f"n-best segmentation needs a Unigram model; this one is {self.model.model_type!r}")
        if out_type not in (int, str):
            raise ValueError(f"out_type must be int or str, not {out_type!r}")
        if isinstance(nbest_size, bool) or not isinstance(nbest_size, int) or nbest_size < 1:
            raise ValueError(f"nbest_size must be a positive int, not {nbest_size!r}")
        normalized = self.normalize(text)
        if nbest_size == 1:
            results = [self._unigram.viterbi(normalized)]
        else:
            results = [pairs for pairs, _ in self._unigram.nbest(normalized, min(nbest_size, 1024))]
        index = 1 if out_type is int else 0
        return [[pair[index] for pair in self._resolve(pairs)] for pairs in results]

    def _sample(self, normalized: str, alpha: float, nbest_size: int, rng: random.Random) -> list[tuple[str, int]]:
        if not isinstance(alpha, (int, float)) or isinstance(alpha, bool) or math.isnan(alpha):
            raise ValueError(f"alpha must be a number, not {alpha!r}")
        if self._unigram is None:
            if not 0.0 <= alpha <= 1.0:
                raise ValueError(f"for a BPE model alpha is the dropout probability, between 0 and 1, not {alpha}")
            pieces = bpe_segment(
                normalized, self._scores, frozen=self._frozen, unused=self._unused, dropout=alpha, rng=rng
            )
            return self._bpe_pairs(pieces)
        if nbest_size < 0:
            return self._unigram.sample(normalized, alpha, rng)
        if nbest_size <= 1:
            return self._unigram.viterbi(normalized)
        nbest = self._unigram.nbest(normalized, min(nbest_size, 1024))
        top = max(alpha * score for _, score in nbest)
        weights = [math.exp(alpha * score - top) for _, score in nbest]
        return rng.choices([pairs for pairs, _ in nbest], weights)[0]

    def _control_pair(self, id: int, name: str, piece: str) -> tuple[str, int]:
        if id < 0:
            raise ValueError(f"add_{name}=True but this model has no {piece!r} control piece; leave add_{name} off")
        return piece, id

    def _resolve(self, pairs: Iterable[tuple[str, int]]) -> list[tuple[str, int]]:
        """Unknown pieces become their byte pieces, or one ``<unk>`` per run of them."""
        out: list[tuple[str, int]] = []
        previous_unknown = False
        for piece, id in pairs:
            unknown = id == self._unk
            if unknown and self.model.byte_fallback:
                out.extend((p, self._ids[p]) for p in map(byte_piece, piece.encode("utf-8")))
            elif unknown and previous_unknown:
                out[-1] = (out[-1][0] + piece, id)
            else:
                out.append((piece, id))
            previous_unknown = unknown
        return out

    # ----------------------------------------------------------------- decoding

    def decode(self, ids: Sequence[int] | Sequence[str]) -> str:
        """Text from ids (or from pieces), as sentencepiece's ``Decode`` writes it.

        ``▁`` becomes a space and the first one of the text is dropped when the model adds a dummy
        prefix; control pieces vanish; ``<unk>`` becomes ``" ⁇ "``; runs of byte pieces are
        decoded as UTF-8, each invalid byte becoming U+FFFD.
        """
        if isinstance(ids, (str, bytes)) or not isinstance(ids, Iterable):
            raise TypeError(f"decode takes a list of ids or of pieces, not {type(ids).__name__}")
        ids = list(ids)
        if all(isinstance(i, str) for i in ids):
            pairs = [(p, self.piece_to_id(p)) for p in ids]
        else:
            pairs = [(self.id_to_piece(i), i) for i in ids]
        m = self.model
        strip_first_space = m.add_dummy_prefix or m.remove_extra_whitespaces
        text: list[str] = []
        pending: list[int] = []  # bytes of the current run of byte pieces
        # Only a space at the very start is the dummy prefix: stop looking once some text was
        # written or a leading space was dropped.
        at_start, space_seen = True, False
        for piece, id in pairs:
            kind = m.pieces[id].type
            if kind == "byte":
                pending.append(int(piece[3:5], 16))
                continue
            if pending:
                text.append(_decode_bytes(pending))
                pending = []
            # (at_start never turns True again, so checking the latest write is enough.)
            if space_seen or any(text[-1:]):
                at_start = False
            space_seen = False
            if kind == "control":
                continue
            if kind == "unknown":
                text.append(m.unk_surface if piece == m.pieces[id].piece else piece)
                continue
            if at_start and strip_first_space and piece.startswith(SPACE):
                piece = piece[1:]
                # With remove_extra_whitespaces every leading space piece is dropped.
                space_seen = not m.remove_extra_whitespaces
            text.append(piece.replace(SPACE, " "))
        text.append(_decode_bytes(pending))
        return "".join(text)


def _decode_bytes(data: list[int]) -> str:
    """Decode bytes as sentencepiece does: each byte of an invalid sequence becomes U+FFFD."""
    out = []
    i = 0
    while i < len(data):
        lead = data[i]
        length = 1 if lead < 0x80 else 2 if lead & 0xE0 == 0xC0 else 3 if lead & 0xF0 == 0xE0 else 4 if lead & 0xF8 == 0xF0 else 0
        try:
            if length == 0 or i + length > len(data):
                raise UnicodeDecodeError("utf-8", b"", 0, 1, "invalid")
            out.append(bytes(data[i : i + length]).decode("utf-8"))
            i += length
        except UnicodeDecodeError:
            out.append("\ufffd")
            i += 1
    return "".join(out)


def _check_text(text: str) -> None:
    if not isinstance(text, str):
        hint = " (decode bytes to str first)" if isinstance(text, (bytes, bytearray)) else ""
        raise TypeError(f"encode takes a str, not {type(text).__name__}{hint}; for many texts, encode each one")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise ValueError(
            f"the text has a lone surrogate {text[error.start]!r} at index {error.start}, which UTF-8 "
            "cannot encode; remove it or decode the source with errors='replace'"
        ) from None

