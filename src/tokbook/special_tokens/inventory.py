"""The special tokens of six real tokenizers, read from the tokenizers themselves.

Nothing here is typed in: ids and names come from the library objects, and each token's role is
derived by one documented rule (:func:`role_of`).

======================= ============== ===================================================
name                    library        where the vocabulary comes from
======================= ============== ===================================================
``gpt2``                tiktoken       :func:`tokbook.encodings.get_encoding` (offline)
``cl100k_base``         tiktoken       idem
``o200k_base``          tiktoken       idem
``mistral_v1``          sentencepiece  ``mistral_common/data/tokenizer.model.v1``
``mistral_v3_instruct`` sentencepiece  ``mistral_common/data/mistral_instruct_tokenizer_240323.model.v3``
``wordpiece``           tokenizers     a BERT-style WordPiece model trained here, on the English
                                       of CPython's ``pydoc_data.topics``
======================= ============== ===================================================

>>> table = special_tokens("cl100k_base")
>>> [(t.id, t.text, t.role) for t in table.tokens][:2]
[(100257, '<|endoftext|>', 'EOS'), (100258, '<|fim_prefix|>', 'FIM')]
>>> len(table.unused_ids)
16
"""

from __future__ import annotations

import difflib
import functools
import re
import string
from dataclasses import dataclass, field
from importlib import resources
from types import MappingProxyType
from typing import Mapping

import sentencepiece
import tiktoken
import tokenizers
from tokenizers import models, normalizers, pre_tokenizers, trainers

from tokbook import encodings

__all__ = [
    "CORE_ROLES", "NAMES", "ROLES", "SpecialToken", "SpecialTokens", "load_tokenizer", "role_of", "special_tokens",
]

# The roles a special token can play. RESERVED: a placeholder kept for later use (no role yet).
ROLES = ("BOS", "EOS", "PAD", "UNK", "MASK", "CLS", "SEP", "FIM", "CHAT", "MEDIA", "RESERVED", "OTHER")
# The roles whose absence is worth a sentence: what a family uses instead.
CORE_ROLES = ("BOS", "EOS", "PAD", "UNK", "MASK", "CLS", "SEP", "FIM", "CHAT")

MISTRAL_FILES = {
    "mistral_v1": "tokenizer.model.v1",
    "mistral_v3_instruct": "mistral_instruct_tokenizer_240323.model.v3",
}
NAMES = ("gpt2", "cl100k_base", "o200k_base", *MISTRAL_FILES, "wordpiece")

# The rule, applied to a token's name with its brackets (<| |> < > [ ]) removed and lower-cased.
_NAME_ROLES = {
    "s": "BOS", "bos": "BOS",
    "/s": "EOS", "eos": "EOS", "endoftext": "EOS",
    "pad": "PAD", "unk": "UNK", "mask": "MASK", "cls": "CLS", "sep": "SEP",
    "fim_prefix": "FIM", "fim_middle": "FIM", "fim_suffix": "FIM", "prefix": "FIM", "middle": "FIM", "suffix": "FIM",
}
_CHAT_WORDS = re.compile(r"/?(inst|tool_calls|available_tools|tool_results|tool_content|system_prompt|endofprompt|im_start|im_end|im_sep)")
_MEDIA_WORDS = re.compile(r"/?(img|image|audio|video)(_break|_end|_start)?")
_RESERVED_WORDS = re.compile(r"(control|reserved|unused)_?\d+")


def role_of(name: str) -> str:
    """The role a special token plays, from its name alone (see the module's table of rules).

    The name loses its brackets and its case; then an exact match in the table of names wins
    (``<s>`` is BOS, ``</s>`` and ``<|endoftext|>`` are EOS, ``[PREFIX]`` and ``<|fim_prefix|>`` are
    FIM...), then chat words (``[INST]``, ``[TOOL_CALLS]``, ``<|im_start|>``, ``<|endofprompt|>``) give
    CHAT, media words (``[IMG]``) give MEDIA, numbered placeholders (``[control_12]``) give RESERVED;
    anything else is OTHER.

    >>> [role_of(n) for n in ["<s>", "</s>", "[INST]", "<|endofprompt|>", "[control_12]", "<|x|>"]]
    ['BOS', 'EOS', 'CHAT', 'CHAT', 'RESERVED', 'OTHER']
    """
    core = re.sub(r"^(<\||<|\[)|(\|>|>|\])$", "", name).lower()
    if core in _NAME_ROLES:
        return _NAME_ROLES[core]
    for pattern, role in ((_CHAT_WORDS, "CHAT"), (_MEDIA_WORDS, "MEDIA"), (_RESERVED_WORDS, "RESERVED")):
        if pattern.fullmatch(core):
            return role
    return "OTHER"


@dataclass(frozen=True)
class SpecialToken:
    """One special id: its number, its text, and the role it plays."""

    id: int
    text: str
    role: str


@dataclass(frozen=True)
class SpecialTokens:
    """The special tokens of one tokenizer.

    ``n_vocab`` is the number of ids (one more than the largest), ``n_ordinary`` how many of them
    text can produce, ``tokens`` the special ones by id, ``unused_ids`` the ids that are neither
    (tiktoken's gaps, sentencepiece's ``unused`` pieces), and ``lacks`` maps each role of
    :data:`CORE_ROLES` that the tokenizer has no token for to what the family uses instead.
    """

    name: str
    library: str
    n_vocab: int
    n_ordinary: int
    tokens: tuple[SpecialToken, ...]
    unused_ids: tuple[int, ...]
    lacks: Mapping[str, str] = field(default_factory=dict)

    @property
    def ids(self) -> frozenset[int]:
        """Every special id."""
        return frozenset(t.id for t in self.tokens)

    @property
    def texts(self) -> tuple[str, ...]:
        """Every special string, in id order."""
        return tuple(t.text for t in self.tokens)

    @property
    def never_sampled(self) -> frozenset[int]:
        """The ids a model should never be asked to sample in plain text: special and unused."""
        return self.ids | frozenset(self.unused_ids)

    def summary(self) -> dict[str, object]:
        """One row of the comparison table: sizes, special tokens per role, unused ids, missing roles.

        >>> special_tokens("gpt2").summary()["special by role"]
        'EOS 1'
        """
        counts: dict[str, int] = {}
        for t in self.tokens:
            counts[t.role] = counts.get(t.role, 0) + 1
        return {
            "tokenizer": self.name, "library": self.library, "ids": self.n_vocab, "ordinary": self.n_ordinary,
            "special": len(self.tokens), "special by role": ", ".join(f"{r} {counts[r]}" for r in ROLES if r in counts),
            "unused": len(self.unused_ids), "lacks": " ".join(self.lacks),
        }

    def by_role(self, role: str) -> tuple[SpecialToken, ...]:
        """The tokens that play ``role`` (one of :data:`ROLES`); empty if the family lacks it."""
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}; the roles are {', '.join(ROLES)}")
        return tuple(t for t in self.tokens if t.role == role)

    def id_of(self, text: str) -> int:
        """The id of the special token written ``text``; ValueError naming close matches if none."""
        for t in self.tokens:
            if t.text == text:
                return t.id
        close = difflib.get_close_matches(text, self.texts, n=3)
        hint = f"did you mean {' or '.join(map(repr, close))}?" if close else f"its special tokens are {', '.join(self.texts[:8])}"
        raise ValueError(f"{self.name} has no special token {text!r}; {hint}")


def _check_name(name: str) -> None:
    if name not in NAMES:
        close = difflib.get_close_matches(str(name), NAMES, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(f"unknown tokenizer {name!r}{hint}; choose one of {', '.join(NAMES)}")


def mistral_model_path(name: str) -> str:
    """The path of a Mistral SentencePiece model file inside the installed ``mistral_common``."""
    _check_name(name)
    if name not in MISTRAL_FILES:
        raise ValueError(f"{name!r} is not a Mistral model; choose one of {', '.join(MISTRAL_FILES)}")
    return str(resources.files("mistral_common") / "data" / MISTRAL_FILES[name])


@functools.cache
def _wordpiece() -> tokenizers.Tokenizer:
    from pydoc_data.topics import topics

    tok = tokenizers.Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(
        vocab_size=2000, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"],
        initial_alphabet=list(string.printable.strip()), show_progress=False,
    )
    tok.train_from_iterator([topics[key] for key in sorted(topics)], trainer)
    return tok


def load_tokenizer(name: str) -> tiktoken.Encoding | sentencepiece.SentencePieceProcessor | tokenizers.Tokenizer:
    """The library object of tokenizer ``name`` (one of :data:`NAMES`), built offline.

    Every call returns a new object for sentencepiece and tokenizers (so changing its settings
    cannot leak), and tiktoken's shared, immutable ``Encoding``.
    """
    _check_name(name)
    if name in MISTRAL_FILES:
        return sentencepiece.SentencePieceProcessor(model_file=mistral_model_path(name))
    if name == "wordpiece":
        return tokenizers.Tokenizer.from_str(_wordpiece().to_str())
    return encodings.get_encoding(name)


def _lacks(tokens: tuple[SpecialToken, ...], byte_level: bool) -> Mapping[str, str]:
    first = {}
    for t in tokens:
        first.setdefault(t.role, t.text)
    eos = first.get("EOS")
    instead = {
        "BOS": (f"nothing: {eos} between documents marks where one ends and the next begins" if eos and "CLS" not in first
                else f"{first['CLS']} opens every sequence" if "CLS" in first else "nothing"),
        "EOS": f"{first['SEP']} closes every segment" if "SEP" in first else "nothing: generation stops at a length limit",
        "PAD": (f"any id, often {eos}, masked out (attention_mask 0, label -100)" if eos
                else "any id, masked out (attention_mask 0, label -100)"),
        "UNK": ("nothing: byte-level, every byte has an id, so every string encodes" if byte_level
                else "nothing"),
        "MASK": "nothing: a causal model predicts the next token; masked-LM training is not part of its recipe",
        "CLS": (f"nothing: a causal model reads one stream ({eos} joins documents)" if eos
                else "nothing"),
        "SEP": (f"nothing: {eos} separates documents" if eos else "nothing"),
        "FIM": "nothing: fill-in-the-middle prompts would need new tokens and training",
        "CHAT": "nothing: a chat format needs new tokens (and training), or ordinary text as markers",
    }
    return MappingProxyType({role: instead[role] for role in CORE_ROLES if role not in first})


def _from_tiktoken(name: str) -> SpecialTokens:
    enc = encodings.get_encoding(name)
    ordinary = set(encodings.mergeable_ranks(name).values())
    tokens = tuple(sorted((SpecialToken(enc.encode_single_token(s), s, role_of(s)) for s in enc.special_tokens_set),
                          key=lambda t: t.id))
    taken = ordinary | {t.id for t in tokens}
    unused = tuple(i for i in range(enc.n_vocab) if i not in taken)
    return SpecialTokens(name, "tiktoken", enc.n_vocab, len(ordinary), tokens, unused, _lacks(tokens, byte_level=True))


def _from_sentencepiece(name: str) -> SpecialTokens:
    sp = load_tokenizer(name)
    by_metadata = {sp.bos_id(): "BOS", sp.eos_id(): "EOS", sp.pad_id(): "PAD", sp.unk_id(): "UNK"}
    by_metadata.pop(-1, None)
    tokens, unused, ordinary = [], [], 0
    for i in range(sp.get_piece_size()):
        if sp.is_control(i) or sp.is_unknown(i):
            piece = sp.id_to_piece(i)
            tokens.append(SpecialToken(i, piece, by_metadata.get(i, role_of(piece))))
        elif sp.is_unused(i):
            unused.append(i)
        else:
            ordinary += 1
    byte_level = sum(sp.is_byte(i) for i in range(sp.get_piece_size())) == 256
    return SpecialTokens(name, "sentencepiece", sp.get_piece_size(), ordinary, tuple(tokens), tuple(unused),
                         _lacks(tuple(tokens), byte_level))


def _from_tokenizers(name: str) -> SpecialTokens:
    tok = load_tokenizer(name)
    added = tok.get_added_tokens_decoder()
    unk = getattr(tok.model, "unk_token", None)
    tokens = tuple(SpecialToken(i, a.content, "UNK" if a.content == unk else role_of(a.content))
                   for i, a in sorted(added.items()) if a.special)
    n_vocab = tok.get_vocab_size(with_added_tokens=True)
    unused = tuple(i for i in range(n_vocab) if tok.id_to_token(i) is None)
    return SpecialTokens(name, "tokenizers", n_vocab, n_vocab - len(tokens) - len(unused), tokens, unused,
                         _lacks(tokens, byte_level=False))


@functools.cache
def special_tokens(name: str) -> SpecialTokens:
    """The :class:`SpecialTokens` record of tokenizer ``name`` (one of :data:`NAMES`)."""
    _check_name(name)
    if name in MISTRAL_FILES:
        return _from_sentencepiece(name)
    if name == "wordpiece":
        return _from_tokenizers(name)
    return _from_tiktoken(name)
