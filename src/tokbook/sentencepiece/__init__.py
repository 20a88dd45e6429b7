"""SentencePiece-style tokenization over code points, matching the real ``sentencepiece``.

Each job has its own module:

- :mod:`~tokbook.sentencepiece.model`: reading ``.model`` files (pieces, scores, types, options)
  and finding the Mistral models that the ``mistral-common`` package ships.
- :mod:`~tokbook.sentencepiece.normalize`: ``▁`` for spaces, the dummy prefix, extra spaces.
- :mod:`~tokbook.sentencepiece.bpe`: BPE encoding by piece score over code points.
- :mod:`~tokbook.sentencepiece.charsmap`: the character map of ``nmt_nfkc`` models.
- :mod:`~tokbook.sentencepiece.training`: a code-point BPE trainer (``character_coverage``,
  ``byte_fallback``, ``split_digits``, ``max_sentencepiece_length``), piece for piece like
  sentencepiece's.
- :mod:`~tokbook.sentencepiece.unigram_training`: a Unigram EM trainer (seeds, E-step over the
  lattice, M-step, pruning), after sentencepiece's.
- :mod:`~tokbook.sentencepiece.unigram`: Unigram models: the lattice, Viterbi, n-best, sampling.
- :mod:`~tokbook.sentencepiece.wordpiece`: BERT's WordPiece (greedy longest match, ``##``).
- :mod:`~tokbook.sentencepiece.texts`: multilingual sentences and edge cases for tests and figures.
- :mod:`~tokbook.sentencepiece.processor`: :class:`SentencePieceProcessor`, shaped like
  ``sentencepiece.SentencePieceProcessor`` (``encode``, ``decode``, ``id_to_piece``, ...).

>>> sp = SentencePieceProcessor(model_file=mistral_model_file("v1"))
>>> sp.encode("Tokens, not words.", out_type=str)
['▁Tok', 'ens', ',', '▁not', '▁words', '.']
"""

from tokbook.sentencepiece.model import Model, ModelFileError, Piece, mistral_model_file, read_model
from tokbook.sentencepiece.processor import SentencePieceProcessor
from tokbook.sentencepiece.training import train_bpe
from tokbook.sentencepiece.unigram import UnigramModel
from tokbook.sentencepiece.unigram_training import train_unigram
from tokbook.sentencepiece.wordpiece import WordPiece

__all__ = [
    "Model",
    "ModelFileError",
    "Piece",
    "SentencePieceProcessor",
    "UnigramModel",
    "WordPiece",
    "mistral_model_file",
    "read_model",
    "train_bpe",
    "train_unigram",
]
