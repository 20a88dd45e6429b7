"""tokbook.special_tokens.inventory, recomputed against tiktoken, sentencepiece and tokenizers."""

import pytest
import tiktoken

from tokbook import encodings
from tokbook.special_tokens import NAMES, ROLES, load_tokenizer, role_of, special_tokens

TIKTOKEN = ["gpt2", "cl100k_base", "o200k_base"]


@pytest.mark.parametrize("name", TIKTOKEN)
def test_tiktoken_special_ids_are_the_encodings_own(name):
    enc = encodings.get_encoding(name)
    table = special_tokens(name)
    assert {t.text: t.id for t in table.tokens} == {s: enc.encode_single_token(s) for s in enc.special_tokens_set}
    assert table.n_vocab == enc.n_vocab


@pytest.mark.parametrize("name", TIKTOKEN)
def test_tiktoken_unused_ids_decode_to_nothing_and_all_others_do(name):
    enc = encodings.get_encoding(name)
    table = special_tokens(name)
    for i in table.unused_ids:
        with pytest.raises(KeyError):
            enc.decode_single_token_bytes(i)
    used = [i for i in range(enc.n_vocab) if i not in set(table.unused_ids)]
    assert len(used) == table.n_ordinary + len(table.tokens)
    assert all(enc.decode_single_token_bytes(i) for i in used[::997])


def test_tiktoken_facts_the_seed_notes_get_wrong():
    # <|endoftext|> is not the same id in the three encodings, and none of them has a BOS token.
    eot = {name: special_tokens(name).id_of("<|endoftext|>") for name in TIKTOKEN}
    assert eot == {name: encodings.get_encoding(name).eot_token for name in TIKTOKEN}
    assert len(set(eot.values())) == 3
    assert all(not special_tokens(name).by_role("BOS") for name in TIKTOKEN)
    assert [len(special_tokens(name).unused_ids) for name in TIKTOKEN] == [0, 16, 19]
    assert [t.text for t in special_tokens("o200k_base").by_role("FIM")] == []


@pytest.mark.parametrize("name", ["mistral_v1", "mistral_v3_instruct"])
def test_sentencepiece_special_ids_are_its_control_and_unknown_pieces(name):
    sp = load_tokenizer(name)
    table = special_tokens(name)
    expected = {i for i in range(sp.get_piece_size()) if sp.is_control(i) or sp.is_unknown(i)}
    assert table.ids == expected
    assert table.by_role("BOS")[0].id == sp.bos_id() == 1
    assert table.by_role("EOS")[0].id == sp.eos_id() == 2
    assert table.by_role("UNK")[0].id == sp.unk_id() == 0
    assert sp.pad_id() == -1 and "PAD" in table.lacks
    assert table.n_vocab == sp.get_piece_size()


def test_mistral_v3_has_chat_fim_and_hundreds_of_reserved_controls():
    table = special_tokens("mistral_v3_instruct")
    assert [t.text for t in table.by_role("CHAT")][:2] == ["[INST]", "[/INST]"]
    assert [t.text for t in table.by_role("FIM")] == ["[PREFIX]", "[MIDDLE]", "[SUFFIX]"]
    reserved = table.by_role("RESERVED")
    assert len(reserved) > 700 and all(t.text.startswith("[control_") for t in reserved)
    assert special_tokens("mistral_v1").texts == ("<unk>", "<s>", "</s>")


def test_wordpiece_has_the_five_bert_tokens_and_lacks_bos_eos():
    tok = load_tokenizer("wordpiece")
    table = special_tokens("wordpiece")
    assert {t.role: t.text for t in table.tokens} == {
        "PAD": "[PAD]", "UNK": "[UNK]", "CLS": "[CLS]", "SEP": "[SEP]", "MASK": "[MASK]"}
    assert all(tok.token_to_id(t.text) == t.id for t in table.tokens)
    assert table.lacks["BOS"].startswith("[CLS]") and table.lacks["EOS"].startswith("[SEP]")


@pytest.mark.parametrize("name", NAMES)
def test_every_token_has_a_known_role_and_lacks_is_consistent(name):
    table = special_tokens(name)
    assert all(t.role in ROLES and t.role != "OTHER" for t in table.tokens)
    roles = {t.role for t in table.tokens}
    assert not roles & set(table.lacks)
    assert list(table.tokens) == sorted(table.tokens, key=lambda t: t.id)


@pytest.mark.parametrize("name", NAMES)
def test_every_id_is_ordinary_special_or_unused(name):
    table = special_tokens(name)
    assert table.n_ordinary + len(table.tokens) + len(table.unused_ids) == table.n_vocab
    assert not table.ids & set(table.unused_ids)
    row = table.summary()
    assert (row["ids"], row["special"], row["unused"]) == (table.n_vocab, len(table.tokens), len(table.unused_ids))


def test_role_rule_on_names():
    assert role_of("<|im_start|>") == role_of("[/INST]") == "CHAT"
    assert role_of("<|fim_suffix|>") == role_of("[SUFFIX]") == "FIM"
    assert role_of("[IMG]") == "MEDIA"
    assert role_of("[unused17]") == "RESERVED"
    assert role_of("<|hello|>") == "OTHER"


def test_bad_names_say_what_to_do():
    with pytest.raises(ValueError, match="did you mean 'cl100k_base'"):
        special_tokens("cl100k")
    with pytest.raises(ValueError, match="did you mean '<|endoftext|>'"):
        special_tokens("gpt2").id_of("<|endoftext|")
    with pytest.raises(ValueError, match="the roles are"):
        special_tokens("gpt2").by_role("BEGIN")


def test_load_tokenizer_gives_the_library_objects():
    assert isinstance(load_tokenizer("gpt2"), tiktoken.Encoding)
    assert load_tokenizer("wordpiece") is not load_tokenizer("wordpiece")
