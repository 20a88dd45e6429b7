"""Multi-head attention (with grouped-query and multi-query variants) and a KV cache for decoding.

nanoGPT's ``CausalSelfAttention`` layout: project ``x (B, T, C)`` to queries, keys and values, split
C into ``nh`` heads of size ``hs = C // nh``, attend in each head, put the heads back together and
project. With ``n_kv_heads < nh`` several query heads share one key/value head (grouped-query
attention, GQA; Llama-2-70B, Mistral 7B); with ``n_kv_heads = 1`` all of them share one (multi-query
attention, MQA). Fewer key/value heads make the KV cache proportionally smaller.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from tokbook.attention.sdpa import scaled_dot_product_attention


class KVCache:
    """The keys and values of the tokens seen so far, in buffers sized for ``max_T`` positions.

    >>> cache = KVCache(B=1, n_kv_heads=2, max_T=8, hs=4)
    >>> k, v = cache.update(torch.ones(1, 2, 3, 4), torch.ones(1, 2, 3, 4))   # a 3-token prompt
    >>> k.shape, cache.length
    (torch.Size([1, 2, 3, 4]), 3)
    """

    def __init__(self, B: int, n_kv_heads: int, max_T: int, hs: int, *, dtype: torch.dtype = torch.float32):
        self.k = torch.zeros(B, n_kv_heads, max_T, hs, dtype=dtype)     # (B, nkv, max_T, hs)
        self.v = torch.zeros(B, n_kv_heads, max_T, hs, dtype=dtype)
        self.length = 0

    def update(self, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Append ``(B, nkv, T, hs)`` keys and values; return all of them so far, ``(B, nkv, S, hs)``."""
        B, nkv, max_T, hs = self.k.shape
        T = k.shape[-2]
        if k.shape != v.shape or k.shape != (B, nkv, T, hs):
            raise ValueError(f"keys {tuple(k.shape)} and values {tuple(v.shape)} must both be "
                             f"(B, n_kv_heads, T, hs) = ({B}, {nkv}, T, {hs}) for this cache")
        if self.length + T > max_T:
            raise ValueError(f"the cache holds {max_T} positions: {self.length} are used and {T} more "
                             "do not fit; make a larger cache")
        self.k[:, :, self.length:self.length + T] = k
        self.v[:, :, self.length:self.length + T] = v
        self.length += T
        return self.k[:, :, :self.length], self.v[:, :, :self.length]


class MultiHeadAttention(nn.Module):
    """Self-attention with ``nh`` query heads and ``n_kv_heads`` key/value heads (default ``nh``).

    ``flash=True`` runs the fast path, ``torch.nn.functional.scaled_dot_product_attention``;
    ``flash=False`` the readable one, ``tokbook.attention.scaled_dot_product_attention``. Masks
    follow SDPA: boolean True = may attend. (``torch.nn.MultiheadAttention`` reads a boolean
    ``attn_mask`` the other way round: True = may *not* attend.)

    >>> mha = MultiHeadAttention(C=8, nh=4, n_kv_heads=2)
    >>> mha(torch.zeros(2, 5, 8), is_causal=True).shape          # (B, T, C) -> (B, T, C)
    torch.Size([2, 5, 8])
    """

    def __init__(self, C: int, nh: int, n_kv_heads: int | None = None, *, bias: bool = True,
                 dropout: float = 0.0, flash: bool = True):
        super().__init__()
        n_kv_heads = nh if n_kv_heads is None else n_kv_heads
        if C % nh:
            raise ValueError(f"the width C={C} must be divisible by the number of heads nh={nh}")
        if n_kv_heads < 1 or nh % n_kv_heads:
            raise ValueError(f"n_kv_heads={n_kv_heads} must divide nh={nh} (each key/value head serves "
                             "a whole group of query heads)")
        self.nh, self.n_kv_heads, self.hs = nh, n_kv_heads, C // nh
        self.q_proj = nn.Linear(C, C, bias=bias)
        self.k_proj = nn.Linear(C, n_kv_heads * self.hs, bias=bias)
        self.v_proj = nn.Linear(C, n_kv_heads * self.hs, bias=bias)
        self.out_proj = nn.Linear(C, C, bias=bias)
        self.dropout, self.flash = dropout, flash

    @classmethod
    def from_torch(cls, mha: nn.MultiheadAttention, *, flash: bool = True) -> MultiHeadAttention:
        """The same layer with the weights of a ``torch.nn.MultiheadAttention``.

        torch stacks the three input projections into ``in_proj_weight`` ``(3C, C)``: rows ``[0, C)``
        make the queries, ``[C, 2C)`` the keys, ``[2C, 3C)`` the values; ``out_proj`` is the same.
        Ours always takes ``(B, T, C)``, as torch's does with ``batch_first=True``.
        """
        if not mha._qkv_same_embed_dim or mha.bias_k is not None or mha.add_zero_attn:
            raise ValueError("only torch.nn.MultiheadAttention layers with kdim = vdim = embed_dim, no "
                             "add_bias_kv and no add_zero_attn have a counterpart here")
        C, bias = mha.embed_dim, mha.in_proj_bias is not None
        ours = cls(C, mha.num_heads, bias=bias, dropout=mha.dropout, flash=flash)
        ours = ours.to(mha.in_proj_weight.dtype)
        with torch.no_grad():
            for i, proj in enumerate((ours.q_proj, ours.k_proj, ours.v_proj)):
                proj.weight.copy_(mha.in_proj_weight[i * C:(i + 1) * C])          # (C, C) each
                if bias:
                    proj.bias.copy_(mha.in_proj_bias[i * C:(i + 1) * C])
            ours.out_proj.load_state_dict(mha.out_proj.state_dict())
        return ours

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor | None = None, is_causal: bool = False,
                cache: KVCache | None = None) -> torch.Tensor:
        """``x (B, T, C) -> (B, T, C)``. With a ``cache``, x holds only the new tokens: their keys and
        values are appended, and with ``is_causal`` new token i attends to everything before it."""
        if x.ndim != 3 or x.shape[-1] != self.q_proj.in_features:
            raise ValueError(f"x must be (B, T, C) with C={self.q_proj.in_features}, got {tuple(x.shape)}")
        if attn_mask is not None and is_causal:
            raise ValueError("pass either attn_mask or is_causal=True, not both")
        B, T, C = x.size()
        nh, nkv, hs = self.nh, self.n_kv_heads, self.hs
        q = self.q_proj(x).view(B, T, nh, hs).transpose(1, 2)    # (B, T, C) -> (B, T, nh, hs) -> (B, nh, T, hs)
        k = self.k_proj(x).view(B, T, nkv, hs).transpose(1, 2)   # (B, T, nkv*hs) -> (B, T, nkv, hs) -> (B, nkv, T, hs)
        v = self.v_proj(x).view(B, T, nkv, hs).transpose(1, 2)   # (B, T, nkv*hs) -> (B, T, nkv, hs) -> (B, nkv, T, hs)
        if cache is not None:
            start = cache.length
            k, v = cache.update(k, v)                                 # (B, nkv, start + T, hs)
            if is_causal:
                # new token i sits at position start + i: it sees keys 0 .. start + i (bottom-right
                # aligned; SDPA's is_causal would align top-left and hide the cached keys)
                attn_mask = torch.ones(T, start + T, dtype=torch.bool).tril(diagonal=start)
                is_causal = False
        attend = F.scaled_dot_product_attention if self.flash else scaled_dot_product_attention
        y = attend(q, k, v, attn_mask=attn_mask, dropout_p=self.dropout if self.training else 0.0,
                   is_causal=is_causal, enable_gqa=nkv != nh)         # (B, nh, T, hs)
        y = y.transpose(1, 2).contiguous().view(B, T, C)             # (B, nh, T, hs) -> (B, T, nh, hs) -> (B, T, C)
        return self.out_proj(y)


@dataclass(frozen=True)
class ModelShape:
    """The attention shape of a published model, with where the numbers come from."""

    name: str
    n_layers: int
    n_heads: int
    n_kv_heads: int
    head_size: int
    source: str


MODEL_SHAPES = (
    ModelShape("GPT-2 small", 12, 12, 12, 64,
               "Radford et al. 2019; the released gpt2 config: n_layer 12, n_head 12, n_embd 768"),
    ModelShape("Llama-2-7B", 32, 32, 32, 128,
               "Touvron et al. 2023 (Llama 2); the released config: 32 layers, 32 heads, hidden size 4096"),
    ModelShape("Llama-2-70B", 80, 64, 8, 128,
               "Touvron et al. 2023 (GQA for 34B and 70B); the released config: 80 layers, 64 heads, "
               "8 key-value heads, hidden size 8192"),
    ModelShape("Mistral 7B", 32, 32, 8, 128,
               "Jiang et al. 2023 (Mistral 7B), Table 1: n_layers 32, n_heads 32, n_kv_heads 8, head_dim 128"),
)


def kv_cache_bytes(shape: ModelShape, T: int, *, B: int = 1, bytes_per_value: int = 2) -> int:
    """Bytes to cache keys and values: ``2 * n_layers * n_kv_heads * head_size * T * B * bytes``.

    >>> kv_cache_bytes(MODEL_SHAPES[1], 4096) / 2**30             # Llama-2-7B, 4096 tokens, bf16
    2.0
    """
    for name, n in (("T", T), ("B", B), ("bytes_per_value", bytes_per_value)):
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"{name} must be a positive integer, got {n!r}")
    return 2 * shape.n_layers * shape.n_kv_heads * shape.head_size * T * B * bytes_per_value
