"""Sampling with special and unused ids masked out of the logits.

A model's output layer has a column for every id, including those text never produces: PAD,
BOS, chat markup, the reserved ``[control_N]`` pieces and tiktoken's unused gaps. Nothing stops a
sampler from picking them, and a model trained with padding in its loss gives PAD real
probability. The fix is to set their logits to ``-inf`` before the softmax, so their probability
is exactly zero and the rest renormalise (:func:`mask_logits`, :func:`sample_next`). Which ids to
ban comes from the tokenizer's :class:`~tokbook.special_tokens.inventory.SpecialTokens` record
(:func:`banned_ids`), usually keeping EOS so that generation can stop.

>>> import torch
>>> mask_logits(torch.tensor([1.0, 2.0, 3.0]), [2]).softmax(-1)
tensor([0.2689, 0.7311, 0.0000])
"""

from __future__ import annotations

from typing import Collection

import torch

from tokbook.special_tokens.inventory import ROLES, SpecialTokens

__all__ = ["banned_ids", "generate", "mask_logits", "sample_next"]


def banned_ids(table: SpecialTokens, allow_roles: Collection[str] = ("EOS",)) -> list[int]:
    """The special and unused ids of ``table``, except the tokens whose role is in ``allow_roles``.

    >>> from tokbook.special_tokens import special_tokens
    >>> banned_ids(special_tokens("gpt2"))
    []
    >>> len(banned_ids(special_tokens("cl100k_base")))
    20
    """
    unknown = [r for r in allow_roles if r not in ROLES]
    if isinstance(allow_roles, str) or unknown:
        raise ValueError(f"allow_roles must be a list of roles from {', '.join(ROLES)}, got {allow_roles!r}")
    allowed = {t.id for t in table.tokens if t.role in allow_roles}
    return sorted(table.never_sampled - allowed)


def mask_logits(logits: torch.Tensor, banned: Collection[int]) -> torch.Tensor:
    """A copy of ``logits`` (..., vocab) with ``-inf`` in every column of ``banned``."""
    if not isinstance(logits, torch.Tensor) or not logits.is_floating_point():
        raise TypeError("logits must be a floating-point torch.Tensor of shape (..., vocab_size)")
    vocab_size = logits.shape[-1]
    bad = [i for i in banned if not isinstance(i, int) or not 0 <= i < vocab_size]
    if bad:
        raise ValueError(f"banned ids {bad[:5]} are out of range for logits with {vocab_size} columns; "
                         "use the ids of the tokenizer this model was trained with (resize the model if you added tokens)")
    masked = logits.clone()
    masked[..., list(banned)] = float("-inf")
    if torch.isinf(masked).all(dim=-1).any():
        raise ValueError("every id is banned, so nothing can be sampled; ban fewer ids")
    return masked


def sample_next(logits: torch.Tensor, banned: Collection[int] = (), *, temperature: float = 1.0,
                generator: torch.Generator | None = None) -> torch.Tensor:
    """Sample one id per row of ``logits`` (..., vocab): banned ids masked, divide by ``temperature``, softmax."""
    if not isinstance(temperature, (int, float)) or isinstance(temperature, bool) or temperature <= 0:
        raise ValueError(f"temperature must be a positive number, got {temperature!r}")
    probs = (mask_logits(logits, banned) / temperature).softmax(dim=-1)
    flat = probs.reshape(-1, probs.shape[-1])  # (rows, vocab)
    return torch.multinomial(flat, 1, generator=generator).reshape(probs.shape[:-1])


@torch.no_grad()
def generate(model: torch.nn.Module, prompt: list[int], steps: int, banned: Collection[int] = (), *,
             generator: torch.Generator | None = None) -> list[int]:
    """Extend ``prompt`` by ``steps`` ids, each sampled from ``model``'s logits at the last position."""
    if not prompt:
        raise ValueError("prompt must hold at least one id")
    ids = list(prompt)
    for _ in range(steps):
        logits = model(torch.tensor([ids]))[0, -1]  # (vocab,)
        ids.append(int(sample_next(logits, banned, generator=generator)))
    return ids
