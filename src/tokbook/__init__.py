"""tokbook: the reference implementation behind the tokbook course.

Modules:

- :mod:`tokbook.encodings` -- real tiktoken encodings (gpt2, cl100k_base, o200k_base), offline.
- :mod:`tokbook.utf8` -- a hand-written UTF-8 encoder and decoder with CPython's error model.
- :mod:`tokbook.bpe` -- byte-level BPE: training, tiktoken-exact encoding, saving and loading.
- :mod:`tokbook.sentencepiece` -- SentencePiece-style BPE over code points, id for id with sentencepiece.
- :mod:`tokbook.packing` -- token ids to training batches: padding, windows, bin packing, masks, labels.
- :mod:`tokbook.special_tokens` -- special tokens of real tokenizers, injection, chat templates, new tokens, masked sampling.
- :mod:`tokbook.attention`, :mod:`tokbook.positions` -- embeddings, positions and attention, equal to torch's.
- :mod:`tokbook.display` -- coloured token boundaries and token tables for notebooks.
- :mod:`tokbook.course` -- building the nbgrader exercises from ``solutions/`` and grading them.
- :mod:`tokbook.cli` -- the ``tokbook`` command (``bpe train|encode|stats``, ``grade``).
"""

__version__ = "0.1.0"
