"""Special tokens: the ids no text should produce, and everything that goes wrong around them.

- :mod:`~tokbook.special_tokens.inventory`: the special tokens of six real tokenizers (gpt2,
  cl100k_base, o200k_base, Mistral v1 and v3 instruct, a BERT-style WordPiece), read from the
  tokenizers themselves, each with its role, the roles its family lacks, and its unused ids.
- :mod:`~tokbook.special_tokens.injection`: what each library does with special strings in
  untrusted text, and the safe ways: ids for markup, ordinary encoding for text, :func:`sanitize`.
- :mod:`~tokbook.special_tokens.templates`: Jinja2 chat templates rendered as ``transformers`` renders
  them, and ``input_ids`` / ``labels`` that learn only the assistant's tokens.
- :mod:`~tokbook.special_tokens.vocab`: adding special tokens to a tiktoken ``Encoding`` or a
  :class:`tokbook.bpe.Tokenizer`, and resizing (tied) torch embeddings with mean initialisation.
- :mod:`~tokbook.special_tokens.sampling`: special and unused ids masked out of the logits
  (``-inf``, then softmax) before sampling.
"""

from tokbook.special_tokens.injection import BREAK, check_no_special, encode_parts, encode_untrusted, sanitize
from tokbook.special_tokens.templates import (
    CHATML_TEMPLATE, IGNORE_INDEX, MISTRAL_TEMPLATE, ChatExample, ChatTemplateError, build_example, render_chat,
)
from tokbook.special_tokens.inventory import (
    CORE_ROLES, NAMES, ROLES, SpecialToken, SpecialTokens, load_tokenizer, role_of, special_tokens,
)
from tokbook.special_tokens.sampling import banned_ids, generate, mask_logits, sample_next
from tokbook.special_tokens.vocab import TinyLM, extend_encoding, extend_tokenizer, resize_embedding

__all__ = [
    "BREAK", "check_no_special", "encode_parts", "encode_untrusted", "sanitize",
    "CHATML_TEMPLATE", "IGNORE_INDEX", "MISTRAL_TEMPLATE", "ChatExample", "ChatTemplateError", "build_example",
    "render_chat",
    "banned_ids", "generate", "mask_logits", "sample_next",
    "TinyLM", "extend_encoding", "extend_tokenizer", "resize_embedding",
    "CORE_ROLES", "NAMES", "ROLES", "SpecialToken", "SpecialTokens", "load_tokenizer", "role_of", "special_tokens",
]
