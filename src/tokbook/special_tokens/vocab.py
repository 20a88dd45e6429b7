"""Growing a vocabulary: new special tokens, and embedding rows for them that change nothing old.

New special tokens get the ids right after the largest one (``n_vocab`` onwards), in a new
tokenizer: :func:`extend_encoding` builds a new ``tiktoken.Encoding`` with ``special_tokens``
extended, the way tiktoken's README shows; :func:`extend_tokenizer` does the same for a
:class:`tokbook.bpe.Tokenizer`, through its public API.

The model then needs a row for each new id, in its input embedding and in its output layer
(one matrix when they are tied). :func:`resize_embedding` copies the old rows unchanged and
initialises the new ones at the mean of the old rows (``init="mean"``), or samples them from a
normal distribution centred there whose covariance is the old rows' covariance times ``scale``
(``init="sample"``, what ``transformers``' ``resize_token_embeddings(..., mean_resizing=True)``
does with ``scale=1e-9``). Either way a new token's logit is (close to) the mean of the old
logits, so by Jensen's inequality it gets at most ``1 / n_old`` of the probability (mean init)
and the model's predictions over old tokens barely move; random rows can take any share.
:class:`TinyLM` is a tied next-token model small enough to check all this in a test.
"""

from __future__ import annotations

from typing import Sequence

import tiktoken
import torch
from torch import nn

from tokbook import bpe

__all__ = ["TinyLM", "extend_encoding", "extend_tokenizer", "new_special_ids", "resize_embedding"]


def new_special_ids(existing: dict[str, int], n_vocab: int, new_tokens: Sequence[str]) -> dict[str, int]:
    """Ids for ``new_tokens``, from ``n_vocab`` upwards; ValueError for a duplicate or empty name."""
    if isinstance(new_tokens, str) or not all(isinstance(t, str) and t for t in new_tokens):
        raise TypeError(f"new_tokens must be a list of non-empty strings, got {new_tokens!r}")
    clash = [t for t in new_tokens if t in existing]
    if clash or len(set(new_tokens)) != len(new_tokens):
        raise ValueError(f"special tokens {clash or list(new_tokens)!r} already exist or repeat; add each new name once")
    return {t: n_vocab + i for i, t in enumerate(new_tokens)}


def extend_encoding(enc: tiktoken.Encoding, new_tokens: Sequence[str], name: str | None = None) -> tiktoken.Encoding:
    """A new ``tiktoken.Encoding``: ``enc`` plus ``new_tokens`` as special tokens at ids ``enc.n_vocab``, ...

    >>> from tokbook.encodings import get_encoding
    >>> chat = extend_encoding(get_encoding("gpt2"), ["<|im_start|>", "<|im_end|>"])
    >>> chat.encode("<|im_start|>hi<|im_end|>", allowed_special="all")
    [50257, 5303, 50258]
    """
    special = {**enc._special_tokens, **new_special_ids(enc._special_tokens, enc.n_vocab, new_tokens)}
    return tiktoken.Encoding(name=name or f"{enc.name}_extended", pat_str=enc._pat_str,
                             mergeable_ranks=enc._mergeable_ranks, special_tokens=special)


def extend_tokenizer(tok: bpe.Tokenizer, new_tokens: Sequence[str]) -> bpe.Tokenizer:
    """A new :class:`tokbook.bpe.Tokenizer`: ``tok`` plus ``new_tokens`` at ids ``tok.n_vocab``, ..."""
    special = {**tok.special_tokens, **new_special_ids(tok.special_tokens, tok.n_vocab, new_tokens)}
    return bpe.Tokenizer.from_ranks({token: i for i, token in tok.vocab.items()}, pat_str=tok.pattern,
                                    special_tokens=special)


def resize_embedding(embedding: nn.Embedding, new_num_tokens: int, *, init: str = "mean", scale: float = 1e-9,
                     generator: torch.Generator | None = None) -> nn.Embedding:
    """A new ``nn.Embedding`` with ``new_num_tokens`` rows: the old rows copied, the new ones initialised.

    ``init="mean"``: every new row is the mean of the old rows. ``init="sample"``: new rows are
    drawn from N(mean, scale * covariance of the old rows), computed in float32; if that
    covariance is not positive definite (fewer rows than dimensions, say) the rows are the mean.
    """
    if not isinstance(embedding, nn.Embedding):
        raise TypeError(f"embedding must be a torch.nn.Embedding, got {type(embedding).__name__}")
    old_num, dim = embedding.weight.shape
    if isinstance(new_num_tokens, bool) or not isinstance(new_num_tokens, int) or new_num_tokens < old_num:
        raise ValueError(f"new_num_tokens must be an int >= the current {old_num} rows (shrinking drops tokens), "
                         f"got {new_num_tokens!r}")
    if init not in ("mean", "sample"):
        raise ValueError(f"init must be 'mean' or 'sample', got {init!r}")
    old = embedding.weight.detach().to(torch.float32)
    mean = old.mean(dim=0)
    added = new_num_tokens - old_num
    new_rows = mean.expand(added, dim).clone()
    if init == "sample" and added:
        centred = old - mean
        covariance = scale * (centred.T @ centred) / old_num
        factor, info = torch.linalg.cholesky_ex(covariance)
        if info.item() == 0:
            noise = torch.randn(added, dim, generator=generator, dtype=torch.float32)
            new_rows = mean + noise @ factor.T
    resized = nn.Embedding(new_num_tokens, dim, padding_idx=embedding.padding_idx,
                           dtype=embedding.weight.dtype, device=embedding.weight.device)
    with torch.no_grad():
        resized.weight[:old_num] = embedding.weight
        resized.weight[old_num:] = new_rows.to(embedding.weight.dtype)
    return resized


class TinyLM(nn.Module):
    """A tied next-token model: embed a token, one hidden layer, logits against the same embedding.

    ``logits = tanh(E[x] W) E^T``: input embedding and output layer share ``E`` (``lm_head.weight
    is embed.weight``), so growing ``E`` grows both.
    """

    def __init__(self, vocab_size: int, dim: int = 16, *, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.embed = nn.Embedding(vocab_size, dim)
        self.hidden = nn.Linear(dim, dim)
        self.lm_head = nn.Linear(dim, vocab_size, bias=False)
        self.lm_head.weight = self.embed.weight

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """Logits of the next token after each position: (B, T) ids -> (B, T, vocab_size)."""
        if ids.dtype != torch.long or ids.numel() and (ids.min() < 0 or ids.max() >= self.embed.num_embeddings):
            raise ValueError(f"ids must be int64 in [0, {self.embed.num_embeddings}); this model has "
                             f"{self.embed.num_embeddings} tokens (resize_token_embeddings to add more)")
        return self.lm_head(torch.tanh(self.hidden(self.embed(ids))))

    def resize_token_embeddings(self, new_num_tokens: int, *, init: str = "mean", scale: float = 1e-9,
                                generator: torch.Generator | None = None) -> None:
        """Grow the (tied) vocabulary to ``new_num_tokens`` with :func:`resize_embedding`."""
        self.embed = resize_embedding(self.embed, new_num_tokens, init=init, scale=scale, generator=generator)
        self.lm_head = nn.Linear(self.embed.embedding_dim, new_num_tokens, bias=False)
        self.lm_head.weight = self.embed.weight
