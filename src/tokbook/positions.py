"""Four ways to tell attention where each token is: learned, sinusoidal, rotary (RoPE) and ALiBi.

Attention by itself ignores order: permute the keys and values together and every output stays the
same. Each scheme below puts position back in, in a different place:

- learned (GPT-2): a trained table of one vector per position, added to the token embeddings;
- sinusoidal (Vaswani et al. 2017, "Attention Is All You Need", section 3.5): a fixed table of
  sines and cosines, added to the token embeddings;
- rotary, RoPE (Su et al. 2021, "RoFormer"; Llama, Mistral): rotate each pair of query and key
  dimensions by an angle proportional to the position, so a score depends on the distance only;
- ALiBi (Press, Smith and Lewis 2022, "Train Short, Test Long", ICLR): no vectors at all, a bias
  ``-m * distance`` added to the scores, with one slope m per head.

Every function takes ``position_ids`` rather than a length, so the rows that ``tokbook.packing``
packs, whose position ids restart at 0 for each document, get each document's own positions.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class LearnedPositions(nn.Module):
    """GPT-2's ``wpe``: one trainable row of width C for each position below ``max_positions``.

    >>> wpe = LearnedPositions(max_positions=8, C=4)
    >>> wpe(torch.tensor([[0, 1, 2, 0, 1]])).shape     # (B, T) -> (B, T, C)
    torch.Size([1, 5, 4])
    """

    def __init__(self, max_positions: int, C: int):
        super().__init__()
        self.wpe = nn.Embedding(max_positions, C)

    def forward(self, position_ids: torch.Tensor) -> torch.Tensor:
        n = self.wpe.num_embeddings
        outside = position_ids[(position_ids < 0) | (position_ids >= n)]
        if outside.numel():
            raise ValueError(f"position ids must lie in [0, {n}): a learned table has no row for position "
                             f"{int(outside[0])}; truncate the rows or train a longer table")
        return self.wpe(position_ids)                                   # (..., T) -> (..., T, C)


def sinusoidal_positions(position_ids: torch.Tensor, C: int, *, base: float = 10000.0) -> torch.Tensor:
    """The fixed table: ``PE[p, 2i] = sin(p / base**(2i/C))``, ``PE[p, 2i+1] = cos(p / base**(2i/C))``.

    >>> sinusoidal_positions(torch.arange(2), 4)        # position 0 is (0, 1, 0, 1)
    tensor([[0.0000, 1.0000, 0.0000, 1.0000],
            [0.8415, 0.5403, 0.0100, 1.0000]], dtype=torch.float64)
    """
    _check_even(C, "the width C of sinusoidal positions")
    angles = _angles(position_ids, C, base)                              # (..., T, C/2)
    table = torch.stack([angles.sin(), angles.cos()], dim=-1)            # (..., T, C/2, 2)
    return table.flatten(-2)                                             # (..., T, C): sin, cos, sin, ...


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    """(x1, x2) -> (-x2, x1) on the two halves of the last dimension: a quarter turn of each pair."""
    x1, x2 = x.chunk(2, dim=-1)                                          # (..., hs) -> 2 x (..., hs/2)
    return torch.cat([-x2, x1], dim=-1)


def apply_rope(x: torch.Tensor, position_ids: torch.Tensor, *, base: float = 10000.0) -> torch.Tensor:
    """RoPE, rotate-half form (GPT-NeoX, Hugging Face Llama): dimension i pairs with i + hs/2.

    ``x`` is ``(B, nh, T, hs)`` or ``(B, T, hs)`` or ``(T, hs)``; ``position_ids`` is ``(B, T)`` or
    ``(T,)``. The pair of dimensions i is rotated by the angle ``position * base**(-2i/hs)``.

    >>> x = torch.tensor([[1.0, 0.0]])                     # one vector, hs = 2
    >>> apply_rope(x, torch.tensor([2]), base=1.0)         # turned by 2 radians
    tensor([[-0.4161,  0.9093]])
    """
    hs = x.shape[-1]
    _check_even(hs, f"the head size of x {tuple(x.shape)} for RoPE")
    angles = _angles(position_ids, hs, base)                             # (B, T, hs/2) or (T, hs/2)
    angles = torch.cat([angles, angles], dim=-1)                         # (..., T, hs): pair i and i + hs/2
    angles = _align(angles, x, position_ids)                             # (B, 1, T, hs) for (B, nh, T, hs)
    return (x * angles.cos().to(x.dtype) + rotate_half(x) * angles.sin().to(x.dtype))


def apply_rope_complex(x: torch.Tensor, position_ids: torch.Tensor, *, base: float = 10000.0) -> torch.Tensor:
    """RoPE, complex-number form (Meta's Llama): adjacent dimensions (2i, 2i+1) are one complex number,
    multiplied by ``exp(1j * position * base**(-2i/hs))``.

    The two forms pair dimensions differently; ``interleaved_to_half`` converts between the layouts,
    and ``apply_rope(interleaved_to_half(x)) == interleaved_to_half(apply_rope_complex(x))``.

    >>> apply_rope_complex(torch.tensor([[1.0, 0.0]]), torch.tensor([2]), base=1.0)
    tensor([[-0.4161,  0.9093]])
    """
    hs = x.shape[-1]
    _check_even(hs, f"the head size of x {tuple(x.shape)} for RoPE")
    angles = _align(_angles(position_ids, hs, base), x, position_ids)   # (..., T, hs/2)
    pairs = x.reshape(*x.shape[:-1], hs // 2, 2)                         # (..., T, hs) -> (..., T, hs/2, 2)
    z = torch.view_as_complex(pairs.to(torch.float64))                   # (..., T, hs/2) complex
    rotated = z * torch.polar(torch.ones_like(angles), angles)           # multiply by e^(i angle)
    return torch.view_as_real(rotated).flatten(-2).to(x.dtype)           # (..., T, hs/2, 2) -> (..., T, hs)


def interleaved_to_half(x: torch.Tensor) -> torch.Tensor:
    """Reorder the last dimension from pairs (2i, 2i+1) to pairs (i, i + hs/2): evens, then odds.

    >>> interleaved_to_half(torch.tensor([0, 1, 2, 3, 4, 5]))
    tensor([0, 2, 4, 1, 3, 5])
    """
    return torch.cat([x[..., 0::2], x[..., 1::2]], dim=-1)


def alibi_slopes(nh: int) -> torch.Tensor:
    """One slope per head, the geometric sequence of Press et al. (2022), section 3.

    For nh a power of two the slopes are ``2**(-8/nh * h)`` for h = 1..nh (8 heads: 1/2, 1/4, ...,
    1/256). Otherwise, the rule of the authors' released code: the slopes of the largest power of two
    n below nh, then every other slope of 2n heads (the ones between) until there are nh.

    >>> alibi_slopes(4)
    tensor([0.2500, 0.0625, 0.0156, 0.0039], dtype=torch.float64)
    >>> alibi_slopes(6)[4:]                 # 4 heads' slopes, then 2**-1 and 2**-3 from 8 heads
    tensor([0.5000, 0.1250], dtype=torch.float64)
    """
    if isinstance(nh, bool) or not isinstance(nh, int) or nh < 1:
        raise ValueError(f"the number of heads must be a positive integer, got {nh!r}")
    n = 2 ** math.floor(math.log2(nh))                                   # largest power of two <= nh
    slopes = [2.0 ** (-8.0 / n * h) for h in range(1, n + 1)]
    between = [2.0 ** (-8.0 / (2 * n) * h) for h in range(1, 2 * n + 1, 2)]
    return torch.tensor(slopes + between[: nh - n], dtype=torch.float64)


def alibi_bias(slopes: torch.Tensor, position_ids: torch.Tensor) -> torch.Tensor:
    """The float mask ``bias[h, i, j] = -slopes[h] * |p_i - p_j|`` for positions p, ``(..., nh, T, T)``.

    For the keys a causal model sees (j <= i) this is the paper's ``-m * (i - j)``; combine it with
    a boolean mask by setting the forbidden entries to ``-inf`` (``bias.masked_fill(~allowed, -inf)``)
    and pass the result as ``attn_mask``.

    >>> alibi_bias(torch.tensor([0.5]), torch.arange(3))
    tensor([[[ 0.0000, -0.5000, -1.0000],
             [-0.5000,  0.0000, -0.5000],
             [-1.0000, -0.5000,  0.0000]]], dtype=torch.float64)
    """
    if slopes.ndim != 1:
        raise ValueError(f"slopes must have one dimension (nh,), got shape {tuple(slopes.shape)}")
    p = position_ids.to(torch.float64)
    distance = (p[..., :, None] - p[..., None, :]).abs()                 # (..., T) -> (..., T, T)
    bias = -slopes.to(torch.float64)[:, None, None] * distance[..., None, :, :]   # (..., nh, T, T)
    return bias + 0.0                                                    # -0.0 on the diagonal -> 0.0


def _angles(position_ids: torch.Tensor, width: int, base: float) -> torch.Tensor:
    """``position * base**(-2i/width)`` for i < width/2: ``(..., T) -> (..., T, width/2)``."""
    if position_ids.is_floating_point() or position_ids.is_complex():
        raise TypeError(f"position_ids must be integers, got dtype {position_ids.dtype}")
    inv_freq = base ** (-torch.arange(0, width, 2, dtype=torch.float64) / width)   # (width/2,)
    return position_ids.to(torch.float64)[..., None] * inv_freq          # (..., T, width/2)


def _align(angles: torch.Tensor, x: torch.Tensor, position_ids: torch.Tensor) -> torch.Tensor:
    """Broadcast ``(B, T, k)`` angles over the heads of a ``(B, nh, T, hs)`` x, checking the shapes."""
    if x.ndim == 4 and position_ids.ndim == 2:
        angles = angles[:, None]                                         # (B, T, k) -> (B, 1, T, k)
    if x.ndim < 2 or position_ids.ndim > 2 or angles.shape[-2] != x.shape[-2] or angles.ndim > x.ndim:
        raise ValueError(f"position_ids {tuple(position_ids.shape)} do not fit x {tuple(x.shape)}: pass x as "
                         "(B, nh, T, hs), (B, T, hs) or (T, hs) and position_ids as (B, T) or (T,)")
    try:
        torch.broadcast_shapes(angles.shape[:-1], x.shape[:-1])
    except RuntimeError:
        raise ValueError(f"position_ids {tuple(position_ids.shape)} do not fit x {tuple(x.shape)}: "
                         "their batch sizes differ") from None
    return angles


def _check_even(n: int, what: str) -> None:
    if n % 2:
        raise ValueError(f"{what} must be even (dimensions are used in pairs), got {n}")
