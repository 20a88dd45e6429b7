"""Attention, from token ids to context vectors: numpy and torch, proven equal to torch's own.

- :mod:`tokbook.attention.sdpa` -- ``scaled_dot_product_attention`` with the signature and the
  mask semantics of ``torch.nn.functional.scaled_dot_product_attention`` (boolean masks:
  True = may attend; float masks are added to the scores), for numpy arrays and torch tensors.
- :mod:`tokbook.attention.embeddings` -- the lookup as a one-hot product, the parameters and memory
  of a vocabulary's embedding table, nearest-row decoding.
- :mod:`tokbook.attention.multihead` -- multi-head, grouped-query and multi-query attention, the KV
  cache, and the cache's size for published model shapes.
- :mod:`tokbook.attention.blockwise` -- memory-efficient attention: an online softmax over blocks of
  keys, equal to SDPA, with no T x T tensor.
"""

from tokbook.attention.blockwise import blockwise_attention
from tokbook.attention.embeddings import (EmbeddingCost, embedding_costs, nearest_rows, one_hot_lookup,
                                          openai_vocabulary_sizes)
from tokbook.attention.multihead import MODEL_SHAPES, KVCache, ModelShape, MultiHeadAttention, kv_cache_bytes
from tokbook.attention.sdpa import attention_weights, scaled_dot_product_attention

__all__ = [
    "attention_weights", "scaled_dot_product_attention", "blockwise_attention",
    "EmbeddingCost", "embedding_costs", "nearest_rows", "one_hot_lookup", "openai_vocabulary_sizes",
    "MODEL_SHAPES", "KVCache", "ModelShape", "MultiHeadAttention", "kv_cache_bytes",
]
