"""Byte-level BPE: train a vocabulary, encode and decode exactly as tiktoken does.

Each job has its own module:

- :mod:`~tokbook.bpe.merging`: :func:`get_stats` and :func:`merge`, the two steps of the
  training loop, written for teaching; ``byte_pair_merge``, tiktoken's rule for one pre-token
  (a readable scan for short pieces, a heap for long ones).
- :mod:`~tokbook.bpe.pretokenize`: the split patterns (:data:`PATTERNS`) and how text is cut.
- :mod:`~tokbook.bpe.training`: counting pre-tokens and learning merges, and the tie rule.
- :mod:`~tokbook.bpe.tokenizer`: :class:`Tokenizer`, which holds a vocabulary (``vocab``: id ->
  bytes), its merge table (``merges``: (left id, right id) -> new id, in merge order), a split
  pattern and special tokens; it trains, encodes like ``tiktoken.Encoding``, decodes, and is
  built from a real vocabulary with :meth:`Tokenizer.from_ranks` / :meth:`Tokenizer.from_tiktoken`.
- :mod:`~tokbook.bpe.fast`: the same tokenizer as a ``tiktoken.Encoding`` (the fast path behind
  :meth:`Tokenizer.encode_batch`, :meth:`Tokenizer.encode_iterable` and
  :meth:`Tokenizer.to_tiktoken`); the pure-Python :meth:`Tokenizer.encode` is the reference.
- :mod:`~tokbook.bpe.saving`: the versioned, readable JSON file of ``save`` / ``load``.
- :mod:`~tokbook.bpe.textfile`: reading a UTF-8 file in blocks, with errors that name the byte.

>>> tok = Tokenizer()
>>> tok.train("aaabdaaabac", 259)
>>> [tok.vocab[i] for i in range(256, 259)]
[b'aa', b'aaa', b'aaab']
>>> tok.encode("aaabdaaabac")
[258, 100, 258, 97, 99]
>>> tok.decode([258, 100])
'aaabd'
"""

from tokbook.bpe.merging import get_stats, merge
from tokbook.bpe.pretokenize import PATTERNS
from tokbook.bpe.saving import FORMAT, FORMAT_VERSION
from tokbook.bpe.tokenizer import Tokenizer

__all__ = ["PATTERNS", "FORMAT", "FORMAT_VERSION", "Tokenizer", "get_stats", "merge"]
