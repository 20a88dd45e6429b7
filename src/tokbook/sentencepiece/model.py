"""Reading SentencePiece ``.model`` files: pieces, scores, piece types and the model's options.

A ``.model`` file is one serialized protocol-buffer message, ``ModelProto``, defined in
sentencepiece's ``src/sentencepiece_model.proto``. We read it with a small decoder of the
protocol-buffer wire format written here, instead of sentencepiece's generated ``_pb2`` module
(which needs the ``protobuf`` package) or its processor's accessors (which expose pieces and
scores but not the normalizer's options). So ``tokbook.sentencepiece`` runs without
sentencepiece installed; the tests check every piece, score and type against it.

The wire format in brief: a message is a sequence of fields; each starts with a varint key
``field_number << 3 | wire_type``; wire type 0 is a varint, 1 eight fixed bytes, 2 a varint length
then that many bytes (strings, bytes, nested messages), 5 four fixed bytes (a ``float``).
Fields we do not use are skipped. The field numbers below are those of the ``.proto`` file.

>>> model = read_model(mistral_model_file("v1"))
>>> len(model.pieces), model.model_type, model.byte_fallback
(32000, 'bpe', True)
>>> model.pieces[1], model.pieces[262]
(Piece(piece='<s>', score=0.0, type='control'), Piece(piece='in', score=-3.0, type='normal'))
>>> model.add_dummy_prefix, model.remove_extra_whitespaces, model.normalizer_name
(True, False, 'identity')
"""

from __future__ import annotations

import hashlib
import importlib.util
import struct
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "MISTRAL_MODELS",
    "Model",
    "ModelFileError",
    "PIECE_TYPES",
    "Piece",
    "mistral_model_file",
    "parse_model",
    "read_model",
]

# ModelProto.SentencePiece.Type: the number stored in the file -> our name.
PIECE_TYPES = {1: "normal", 2: "unknown", 3: "control", 4: "user_defined", 5: "unused", 6: "byte"}
# TrainerSpec.ModelType.
MODEL_TYPES = {1: "unigram", 2: "bpe", 3: "word", 4: "char"}

# The SentencePiece models that the `mistral-common` package ships in mistral_common/data/, with
# the SHA-256 of the files that tokbook's parity tests were run on (identical in mistral-common
# 1.9.1 and 1.13.1).
MISTRAL_MODELS = {
    # Mistral 7B: BPE, 32000 pieces, byte fallback
    "v1": ("tokenizer.model.v1", "dadfd56d766715c61d2ef780a525ab43b8e6da4de6865bda3d95fdef5e134055"),
    "v2": ("mistral_instruct_tokenizer_240216.model.v2",
           "37f00374dea48658ee8f5d0f21895b9bc55cb0103939607c8185bfd1c6ca1f89"),
    # 32768 pieces, control pieces [INST], [TOOL_CALLS], ...
    "v3": ("mistral_instruct_tokenizer_240323.model.v3",
           "9addc8bdce5988448ae81b729336f43a81262160ae8da760674badab9d4c7d33"),
    "v7": ("mistral_instruct_tokenizer_241114.model.v7",
           "1b968b8dc352f42192367337c78ccc61e1eaddc6d641a579372d4f20694beb7a"),
}


class ModelFileError(ValueError):
    """A file or byte string that is not a readable SentencePiece model."""


@dataclass(frozen=True)
class Piece:
    """One vocabulary entry: its text (with ``▁`` for spaces), its score and its type."""

    piece: str
    score: float
    type: str = "normal"


@dataclass
class Model:
    """What tokbook needs from a ``ModelProto``: the pieces (index = id) and the options.

    Defaults are the ``.proto`` file's defaults, used when the file omits a field.
    """

    pieces: list[Piece]
    model_type: str = "unigram"
    byte_fallback: bool = False
    split_digits: bool = False
    treat_whitespace_as_suffix: bool = False
    unk_piece: str = "<unk>"
    bos_piece: str = "<s>"
    eos_piece: str = "</s>"
    pad_piece: str = "<pad>"
    unk_surface: str = " \u2047 "
    normalizer_name: str = ""
    precompiled_charsmap: bytes = b""
    add_dummy_prefix: bool = True
    remove_extra_whitespaces: bool = True
    escape_whitespaces: bool = True
    has_denormalizer: bool = False
    # Trainer options kept for display; encoding does not use them.
    trainer_options: dict = field(default_factory=dict)


def mistral_model_file(version: str = "v1") -> Path:
    """The path of a SentencePiece model shipped by the installed ``mistral-common`` package.

    ``version`` is one of ``"v1"`` (Mistral 7B), ``"v2"``, ``"v3"``, ``"v7"`` (instruct models).
    The file is checked against the SHA-256 it had when tokbook was tested.
    """
    if version not in MISTRAL_MODELS:
        raise ValueError(f"unknown Mistral model {version!r}: pass one of {sorted(MISTRAL_MODELS)}")
    spec = importlib.util.find_spec("mistral_common")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            "the Mistral models ship in the 'mistral-common' package: pip install mistral-common"
        )
    name, sha256 = MISTRAL_MODELS[version]
    path = Path(spec.submodule_search_locations[0]) / "data" / name
    if not path.is_file() or hashlib.sha256(path.read_bytes()).hexdigest() != sha256:
        raise ModelFileError(
            f"{path} is missing or is not the file tokbook was tested with (SHA-256 {sha256[:12]}...); "
            "install the pinned version: pip install mistral-common==1.9.1"
        )
    return path


def read_model(path: str | Path) -> Model:
    """Read a SentencePiece ``.model`` file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"no SentencePiece model at {str(path)!r}: pass the path of a .model file "
            "(sentencepiece's trainer writes <model_prefix>.model)"
        )
    return parse_model(path.read_bytes(), source=str(path))


def parse_model(data: bytes, *, source: str = "the given bytes") -> Model:
    """Decode a serialized ``ModelProto`` (the bytes of a ``.model`` file)."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"parse_model takes the bytes of a .model file, not {type(data).__name__}")
    data = bytes(data)
    try:
        model = _decode_model(data)
    except (AttributeError, TypeError, UnicodeDecodeError, struct.error, _WireError) as error:
        raise ModelFileError(
            f"{source} is not a SentencePiece model ({error}); pass a .model file written by "
            "sentencepiece, not a Hugging Face tokenizer.json or a vocabulary list"
        ) from None
    if not model.pieces:
        raise ModelFileError(
            f"{source} holds no pieces, so it is not a SentencePiece model; pass a .model file "
            "written by sentencepiece"
        )
    return model


class _WireError(Exception):
    pass


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    """Read a base-128 varint (7 bits per byte, low group first, high bit = more follows)."""
    result = shift = 0
    while True:
        if pos >= len(data):
            raise _WireError("a number runs past the end of the data")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise _WireError("a number is longer than 10 bytes")


def _fields(data: bytes):
    """Yield ``(field_number, value)`` for each field of one message.

    Varints come as ``int``, length-delimited fields as ``bytes``, 32-bit fields as ``float``.
    """
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire_type = key >> 3, key & 7
        if number == 0:
            raise _WireError("field number 0")
        if wire_type == 0:
            value, pos = _varint(data, pos)
        elif wire_type == 1:
            value, pos = data[pos : pos + 8], pos + 8
        elif wire_type == 2:
            length, pos = _varint(data, pos)
            value, pos = data[pos : pos + length], pos + length
        elif wire_type == 5:
            (value,), pos = struct.unpack("<f", data[pos : pos + 4]), pos + 4
        else:
            raise _WireError(f"wire type {wire_type}")
        if pos > len(data):
            raise _WireError("a field runs past the end of the data")
        yield number, value


def _decode_piece(data: bytes) -> Piece:
    text, score, kind = "", 0.0, 1
    for number, value in _fields(data):
        if number == 1:
            text = value.decode("utf-8")
        elif number == 2:
            score = value
        elif number == 3:
            kind = value
    if kind not in PIECE_TYPES:
        raise _WireError(f"unknown piece type {kind}")
    return Piece(text, score, PIECE_TYPES[kind])


# TrainerSpec fields: number -> (attribute of Model or key of trainer_options, decoder).
_TRAINER_FIELDS = {
    3: ("model_type", lambda v: MODEL_TYPES.get(v, str(v))),
    35: ("byte_fallback", bool),
    25: ("split_digits", bool),
    24: ("treat_whitespace_as_suffix", bool),
    45: ("unk_piece", bytes.decode),
    46: ("bos_piece", bytes.decode),
    47: ("eos_piece", bytes.decode),
    48: ("pad_piece", bytes.decode),
    44: ("unk_surface", bytes.decode),
    4: ("vocab_size", int),
    10: ("character_coverage", float),
    20: ("max_sentencepiece_length", int),
    21: ("split_by_unicode_script", bool),
    22: ("split_by_whitespace", bool),
    23: ("split_by_number", bool),
    26: ("allow_whitespace_only_pieces", bool),
}

_NORMALIZER_FIELDS = {
    1: ("normalizer_name", bytes.decode),
    2: ("precompiled_charsmap", bytes),
    3: ("add_dummy_prefix", bool),
    4: ("remove_extra_whitespaces", bool),
    5: ("escape_whitespaces", bool),
}


def _decode_model(data: bytes) -> Model:
    model = Model(pieces=[])
    for number, value in _fields(data):
        if number == 1:
            model.pieces.append(_decode_piece(value))
        elif number == 2:
            for sub, sub_value in _fields(value):
                if sub in _TRAINER_FIELDS:
                    name, decode = _TRAINER_FIELDS[sub]
                    if hasattr(model, name):
                        setattr(model, name, decode(sub_value))
                    else:
                        model.trainer_options[name] = decode(sub_value)
        elif number == 3:
            for sub, sub_value in _fields(value):
                if sub in _NORMALIZER_FIELDS:
                    name, decode = _NORMALIZER_FIELDS[sub]
                    setattr(model, name, decode(sub_value))
        elif number == 5:
            # sentencepiece builds a denormalizer only from a non-empty rule set.
            model.has_denormalizer = any(sub == 2 and sub_value for sub, sub_value in _fields(value))
    return model
