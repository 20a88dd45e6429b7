"""Growing a vocabulary: new special tokens in tiktoken and tokbook, resized embeddings in torch."""

import pytest
import torch
from torch import nn

from tokbook import bpe
from tokbook.encodings import get_encoding
from tokbook.special_tokens.vocab import TinyLM, extend_encoding, extend_tokenizer, resize_embedding

TEXT = "Special tokens are ids that no text should produce. " * 3
NEW = ["<|im_start|>", "<|im_end|>"]


def test_extend_encoding_keeps_every_old_id_and_adds_the_new_after_n_vocab():
    base = get_encoding("cl100k_base")
    chat = extend_encoding(base, NEW)
    assert [chat.encode_single_token(t) for t in NEW] == [base.n_vocab, base.n_vocab + 1]
    assert chat.n_vocab == base.n_vocab + 2
    assert chat.encode(TEXT) == base.encode(TEXT)
    assert chat.encode("<|endoftext|>", allowed_special="all") == [base.eot_token]
    with pytest.raises(ValueError, match="disallowed special token"):
        chat.encode("<|im_start|>")  # new tokens are disallowed by default like the old ones


def test_extend_tokbook_tokenizer_through_its_public_api():
    tok = bpe.Tokenizer(pattern="gpt2", special_tokens=["<|endoftext|>"])
    tok.train(TEXT, 300, workers=1)
    before = dict(tok.special_tokens)
    grown = extend_tokenizer(tok, NEW)
    assert grown.special_tokens == {**tok.special_tokens, "<|im_start|>": tok.n_vocab, "<|im_end|>": tok.n_vocab + 1}
    assert grown.encode(TEXT) == tok.encode(TEXT)
    assert grown.encode("<|im_start|>hi<|im_end|>", allowed_special="all") == [
        tok.n_vocab, *tok.encode("hi"), tok.n_vocab + 1]
    assert tok.special_tokens == before  # the original is untouched


def test_adding_an_existing_token_says_so():
    with pytest.raises(ValueError, match="already exist"):
        extend_encoding(get_encoding("gpt2"), ["<|endoftext|>"])
    with pytest.raises(ValueError, match="repeat"):
        extend_encoding(get_encoding("gpt2"), ["<a>", "<a>"])
    with pytest.raises(TypeError, match="list of non-empty strings"):
        extend_encoding(get_encoding("gpt2"), "<|im_start|>")


@pytest.mark.parametrize("init", ["mean", "sample"])
def test_resize_keeps_old_rows_and_puts_new_ones_at_the_mean(init):
    torch.manual_seed(0)
    old = nn.Embedding(500, 8)
    new = resize_embedding(old, 503, init=init, generator=torch.Generator().manual_seed(1))
    assert torch.equal(new.weight[:500], old.weight)
    mean = old.weight.mean(dim=0)
    gap = (new.weight[500:] - mean).abs().max().item()
    if init == "mean":
        assert gap == 0
    else:
        assert 0 < gap < 1e-2  # 1e-9 of the covariance: a whisker around the mean
        assert not torch.equal(new.weight[500], new.weight[501])


def test_sampling_falls_back_to_the_mean_when_the_covariance_is_singular():
    old = nn.Embedding(3, 8)  # three rows cannot span eight dimensions
    new = resize_embedding(old, 4, init="sample")
    assert torch.allclose(new.weight[3], old.weight.mean(dim=0))


def probe_ids(n):
    return torch.arange(n).reshape(1, -1)


@pytest.mark.parametrize("init", ["mean", "sample"])
def test_tied_model_outputs_on_old_text_are_unchanged(init):
    model = TinyLM(400)
    ids = probe_ids(400)
    with torch.no_grad():
        before = model(ids)
        model.resize_token_embeddings(402, init=init, generator=torch.Generator().manual_seed(0))
        after = model(ids)
    assert model.lm_head.weight is model.embed.weight
    assert after.shape == (1, 400, 402)
    assert torch.allclose(after[..., :400], before, atol=1e-6, rtol=0)
    # Jensen: a row at the mean gets a logit at the mean of the old ones, so at most 1/400 of the probability
    p_new = after.softmax(-1)[..., 400:]
    if init == "mean":
        assert p_new.max().item() <= 1 / 400
    old_dist, new_dist = before.softmax(-1), after[..., :400].softmax(-1)
    assert (old_dist - new_dist).abs().max().item() < 1e-6  # renormalised over old tokens: the same model


def test_random_new_rows_steal_probability_that_mean_rows_do_not():
    model = TinyLM(400)
    ids = probe_ids(400)
    with torch.no_grad():
        model.resize_token_embeddings(410)
        mean_share = model(ids).softmax(-1)[..., 400:].sum(-1).max().item()
        model.embed.weight[400:] = torch.randn(10, 16, generator=torch.Generator().manual_seed(0)) * 3
        random_share = model(ids).softmax(-1)[..., 400:].sum(-1).max().item()
    assert mean_share <= 10 / 400
    assert random_share > 0.5


def test_bad_resize_requests():
    with pytest.raises(ValueError, match=">= the current 10 rows"):
        resize_embedding(nn.Embedding(10, 4), 9)
    with pytest.raises(ValueError, match="'mean' or 'sample'"):
        resize_embedding(nn.Embedding(10, 4), 12, init="zeros")
    with pytest.raises(TypeError, match="torch.nn.Embedding"):
        resize_embedding(nn.Linear(4, 10), 12)
    with pytest.raises(ValueError, match="resize_token_embeddings"):
        TinyLM(10)(torch.tensor([[3, 10]]))


@pytest.mark.parametrize("init", ["mean", "sample"])
def test_resize_agrees_with_transformers_mean_resizing(monkeypatch, init):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=300, n_positions=32, n_embd=16, n_layer=1, n_head=2,
                                       bos_token_id=None, eos_token_id=None))
    old = nn.Embedding.from_pretrained(model.get_input_embeddings().weight.detach().clone())
    model.resize_token_embeddings(303, mean_resizing=True)
    theirs = model.get_input_embeddings().weight.detach()
    ours = resize_embedding(old, 303, init=init, generator=torch.Generator().manual_seed(0)).weight
    assert model.lm_head.weight is model.get_input_embeddings().weight  # tied, like TinyLM
    assert torch.equal(theirs[:300], ours[:300])
    # transformers samples around the mean with 1e-9 of the covariance: in practice, the mean
    assert torch.allclose(theirs[300:], ours[300:], atol=1e-4, rtol=0)
    assert (theirs[300:] - old.weight.mean(dim=0)).abs().max().item() < 1e-4
