"""A tiny causal language model in torch, to show that packing changes nothing it computes.

Token embedding, positions fed by ``position_ids`` (a learned table, or rotary embeddings),
pre-norm blocks of attention through ``torch.nn.functional.scaled_dot_product_attention`` with a
boolean mask (True = may attend) and an MLP, then the language-model head. Untrained: the point
is only that the same weights give the same numbers on a packed row as on each document alone.

>>> import torch
>>> from tokbook import packing
>>> model = TinyCausalLM(vocab_size=20, max_positions=8)
>>> batch = packing.pack([[3, 4, 5], [6, 7]], [0, 0], 8, pad_id=0)
>>> logits = model(*(torch.as_tensor(batch[k]) for k in ("input_ids", "position_ids")),
...                torch.as_tensor(packing.block_causal_mask(batch["document_ids"])))
>>> alone = model(torch.tensor([[6, 7]]), torch.tensor([[0, 1]]), torch.ones(1, 2, 2).tril().bool())
>>> torch.allclose(logits[0, 3:5], alone[0])
True
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from tokbook.packing.rows import IGNORE_INDEX

__all__ = ["TinyCausalLM", "causal_lm_loss"]


def _rotate(x: torch.Tensor, position_ids: torch.Tensor) -> torch.Tensor:
    """Rotary position embedding: turn each pair of channels by an angle proportional to the position."""
    B, H, T, D = x.shape
    inverse_frequency = 10000.0 ** (-torch.arange(0, D, 2, dtype=x.dtype) / D)   # (D/2,)
    angle = position_ids[:, None, :, None].to(x.dtype) * inverse_frequency       # (B, 1, T, D/2)
    cos, sin = angle.cos(), angle.sin()
    even, odd = x[..., 0::2], x[..., 1::2]                                         # (B, H, T, D/2)
    return torch.stack([even * cos - odd * sin, even * sin + odd * cos], dim=-1).reshape(B, H, T, D)


class Block(nn.Module):
    """Pre-norm attention then MLP, each added to the residual stream."""

    def __init__(self, n_embd: int, n_head: int, rotary: bool):
        super().__init__()
        self.n_head, self.rotary = n_head, rotary
        self.ln_1, self.ln_2 = nn.LayerNorm(n_embd), nn.LayerNorm(n_embd)
        self.qkv = nn.Linear(n_embd, 3 * n_embd)
        self.proj = nn.Linear(n_embd, n_embd)
        self.mlp = nn.Sequential(nn.Linear(n_embd, 4 * n_embd), nn.GELU(), nn.Linear(4 * n_embd, n_embd))

    def forward(self, x: torch.Tensor, position_ids: torch.Tensor, attn_mask: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = self.qkv(self.ln_1(x)).split(C, dim=2)                           # 3 x (B, T, C)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))  # (B, H, T, D)
        if self.rotary:
            q, k = _rotate(q, position_ids), _rotate(k, position_ids)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask[:, None])  # (B, H, T, D); mask (B, 1, T, T)
        x = x + self.proj(y.transpose(1, 2).reshape(B, T, C))                       # (B, T, C)
        return x + self.mlp(self.ln_2(x))


class TinyCausalLM(nn.Module):
    """``forward(input_ids (B, T), position_ids (B, T), attn_mask (B, T, T) bool) -> logits (B, T, V)``.

    ``positions="learned"`` adds a learned vector per absolute position; ``"rope"`` rotates queries
    and keys instead, so that attention sees only how far apart two tokens are. Weights are drawn
    from a fixed ``seed`` in ``dtype`` (float64 by default, so comparisons are exact to ~1e-12).
    """

    def __init__(self, vocab_size: int, max_positions: int, *, n_embd: int = 32, n_head: int = 4,
                 n_layer: int = 2, positions: str = "learned", seed: int = 0, dtype: torch.dtype = torch.float64):
        super().__init__()
        if positions not in ("learned", "rope"):
            raise ValueError(f"positions must be 'learned' or 'rope', got {positions!r}")
        if n_embd % (2 * n_head):
            raise ValueError(f"n_embd={n_embd} must be a multiple of 2 * n_head={2 * n_head}")
        generator_state = torch.random.get_rng_state()
        torch.manual_seed(seed)
        self.wte = nn.Embedding(vocab_size, n_embd)
        self.wpe = nn.Embedding(max_positions, n_embd) if positions == "learned" else None
        self.blocks = nn.ModuleList(Block(n_embd, n_head, positions == "rope") for _ in range(n_layer))
        self.ln_f = nn.LayerNorm(n_embd)
        self.lm_head = nn.Linear(n_embd, vocab_size, bias=False)
        torch.random.set_rng_state(generator_state)   # leave the caller's random stream as it was
        self.to(dtype)

    def forward(self, input_ids: torch.Tensor, position_ids: torch.Tensor, attn_mask: torch.Tensor) -> torch.Tensor:
        if attn_mask.dtype != torch.bool:
            raise TypeError(f"attn_mask must be boolean (True = may attend), got {attn_mask.dtype}")
        x = self.wte(input_ids)                                                     # (B, T, C)
        if self.wpe is not None:
            x = x + self.wpe(position_ids)
        for block in self.blocks:
            x = block(x, position_ids, attn_mask)
        return self.lm_head(self.ln_f(x))                                          # (B, T, V)


def causal_lm_loss(logits: torch.Tensor, labels: torch.Tensor, *, reduction: str = "mean") -> torch.Tensor:
    """Cross-entropy of each position against the next label (labels unshifted, -100 skipped).

    The convention of Hugging Face causal language models: position ``t`` is scored on
    ``labels[t + 1]``, and the mean is over the labels that are not ``IGNORE_INDEX``.
    """
    B, T, V = logits.shape
    return F.cross_entropy(logits[:, :-1].reshape(-1, V), labels[:, 1:].reshape(-1),
                           ignore_index=IGNORE_INDEX, reduction=reduction)
