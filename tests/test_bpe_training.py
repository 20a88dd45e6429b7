"""tokbook.bpe training: the merges equal a naive recount's, on every kind of text and from every
kind of source (a string, documents, a file read in blocks, several worker processes)."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import pytest
import regex
from hypothesis import given, settings
from hypothesis import strategies as st
from pydoc_data.topics import topics

from tokbook.bpe import PATTERNS, Tokenizer, get_stats, merge, training
from tokbook.encodings import ENCODING_NAMES

ENGLISH = "\n\n".join(topics[k] for k in sorted(topics))[:300_000]
# Sentences in the scripts where pre-tokens are long: a run of CJK characters is one pre-token,
# and a Cyrillic or Greek letter takes two bytes.
SENTENCES = [
    "Быстрая бурая лиса перепрыгивает через ленивую собаку.",
    "Привіт, як справи? Дякую, добре; а у тебе?",
    "敏捷的棕色狐狸跳过了懒狗。今天天气很好，我们去公园散步吧！",
    "素早い茶色の狐が怠け者の犬を飛び越えた。東京は日本の首都です。",
    "빠른 갈색 여우가 게으른 개를 뛰어넘는다.",
    "Con cáo nâu nhanh nhẹn nhảy qua con chó lười biếng.",
    "Η γρήγορη καφέ αλεπού πηδά πάνω από τον τεμπέλη σκύλο.",
    "Mixed: naïve café, 東京 and Москва, 42 km — «ёлка» 👍🏽\r\n",
]


def multilingual_text(n_sentences: int, seed: int = 0) -> str:
    rng = random.Random(seed)
    words = " ".join(SENTENCES).split(" ")
    lines = []
    for _ in range(n_sentences):
        if rng.random() < 0.5:
            lines.append(rng.choice(SENTENCES))
        else:  # words of several scripts shuffled together, so that pairs vary
            lines.append(" ".join(rng.choices(words, k=rng.randint(3, 9))))
    return "\n".join(lines)


def naive_merges(pieces: list[str], vocab_size: int) -> dict[tuple[int, int], int]:
    """The documented rule, by recounting every pair of every pre-token at every step: merge the
    most frequent pair, ties to the greater (left bytes, right bytes); a token whose bytes are
    already in the vocabulary keeps its id."""
    counts = Counter(pieces)
    words = [list(p.encode("utf-8")) for p in counts]
    vocab = {i: bytes([i]) for i in range(256)}
    by_bytes = {token: i for i, token in vocab.items()}
    merges = {}
    while len(vocab) < vocab_size:
        stats: dict[tuple[int, int], int] = {}
        for word, n in zip(words, counts.values()):
            for pair, k in get_stats(word).items():
                stats[pair] = stats.get(pair, 0) + k * n
        if not stats:
            break
        best = max(stats, key=lambda p: (stats[p], vocab[p[0]], vocab[p[1]]))
        token = vocab[best[0]] + vocab[best[1]]
        idx = by_bytes.get(token, len(vocab))
        merges[best] = idx
        vocab[idx] = by_bytes[token] = token
        words = [merge(w, best, idx) for w in words]
    return merges


def pieces_of(documents: list[str], pattern: str | None) -> list[str]:
    if pattern is None:
        return [d for d in documents if d]
    return [p for d in documents for p in regex.findall(PATTERNS.get(pattern, pattern), d)]


def assert_same_as_naive(documents: list[str], pattern: str | None, vocab_size: int) -> Tokenizer:
    tok = Tokenizer(pattern=pattern)
    tok.train(documents, vocab_size, workers=1)
    expected = naive_merges(pieces_of(documents, pattern), vocab_size)
    assert list(tok.merges.items()) == list(expected.items())  # the same merges, in the same order
    return tok


# ----------------------------------------------------------------------------------------------
# the merges are those of a naive recount

def test_training_is_deterministic_and_breaks_ties_by_greater_bytes():
    tok = Tokenizer()
    tok.train("ab cd", 257)  # the pairs ab, "b ", " c" and cd all occur once
    assert tok.vocab[256] == b"cd"  # (b"c", b"d") is the greatest of the tied pairs


def test_training_counts_overlapping_pairs_once_per_position():
    tok = Tokenizer()
    tok.train("aaaa", 258)
    assert [tok.vocab[i] for i in (256, 257)] == [b"aa", b"aaaa"]
    assert tok.encode("aaaa") == [257]


def test_no_merge_crosses_a_pre_token_boundary():
    tok = Tokenizer(pattern="gpt2")
    tok.train("hello world " * 100, 300)
    learned = [tok.vocab[i] for i in range(256, len(tok.vocab))]
    assert b" world" in learned
    assert all(regex.fullmatch(rb" ?[a-z]+", token) for token in learned), learned


def test_training_matches_a_naive_recount_on_random_text():
    rng = random.Random(0)
    assert_same_as_naive(["".join(rng.choice("ab c\nd") for _ in range(3000))], "gpt2", 300)


@pytest.mark.parametrize("pattern", ["gpt2", "o200k_base", None])
def test_training_matches_a_naive_recount_on_multilingual_text(pattern):
    """Long pre-tokens (CJK runs, Cyrillic words) with many occurrences of a pair in each."""
    text = multilingual_text(40)
    assert max(len(p.encode()) for p in pieces_of([text], "gpt2")) > 50  # a CJK run is one long pre-token
    documents = text.split("\n") if pattern is None else [text]
    tok = assert_same_as_naive(documents, pattern, 450)
    assert len(tok.merges) == 450 - 256
    learned = [tok.vocab[i].decode("utf-8", "replace") for i in range(256, 450)]
    assert any("ы" in t for t in learned) and any("的" in t or "の" in t for t in learned)


@pytest.mark.parametrize("pattern", ["gpt2", None])
def test_training_matches_a_naive_recount_on_runs_of_one_letter(pattern):
    """In "aaaaa" the pair (a, a) occurs at every position but merges without overlap, left to
    right; the neighbours of each merge are the tokens that the merge to their left made."""
    rng = random.Random(1)
    documents = [("a" * rng.randint(1, 40)) + rng.choice(["", "b", "ab", " aaa", "aab"]) for _ in range(60)]
    documents += ["ab" * 9 + "a", "aaabaaab", "ba" * 7, "😀" * 12, "ааааа", "哈哈哈哈哈"]
    if pattern is not None:
        documents = [" ".join(documents)]
    tok = assert_same_as_naive(documents, pattern, 320)
    assert b"a" * 16 in tok.vocab.values()


@settings(max_examples=150, deadline=None)
@given(
    documents=st.lists(
        st.lists(st.sampled_from(["a", "b", "ab", "aa", "é", "ж", "中", "😀", " ", "\n", "'s"]), max_size=30).map("".join),
        max_size=6),
    pattern=st.sampled_from([None, "gpt2"]),
    extra=st.integers(0, 40),
)
def test_training_matches_a_naive_recount_on_any_small_text(documents, pattern, extra):
    assert_same_as_naive(documents, pattern, 256 + extra)


# ----------------------------------------------------------------------------------------------
# sources: strings, documents, files, several processes

def test_training_from_a_file_an_iterable_and_a_string_agree(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text(ENGLISH, encoding="utf-8")
    tokenizers = []
    for source in (ENGLISH, [ENGLISH], path):
        tok = Tokenizer(pattern="cl100k_base")
        tok.train(source, 600, workers=2)
        tokenizers.append(tok)
    assert tokenizers[0].merges == tokenizers[1].merges == tokenizers[2].merges


class _CountingPool(training.ProcessPoolExecutor):
    """The real process pool, which also records how many jobs it was given."""

    jobs: list[int] = []

    def map(self, fn, *iterables, **kwargs):
        batches = list(iterables[0])
        _CountingPool.jobs.append(len(batches))
        return super().map(fn, batches, **kwargs)


def test_a_file_of_many_segments_counted_by_several_processes_trains_like_the_string(tmp_path, monkeypatch):
    """The file is read in many blocks, cut into many segments and counted in two worker processes.

    SEGMENT_CHARS is lowered only in this (parent) process, and that is enough: the parent reads
    the file, cuts the segments and groups them into batches; each worker gets its batch and the
    pattern as arguments and reads no module global, so the real multi-process path runs.
    """
    monkeypatch.setattr(training, "SEGMENT_CHARS", 4096)
    monkeypatch.setattr(training, "ProcessPoolExecutor", _CountingPool)
    text = "<|endoftext|>".join(multilingual_text(300, seed=s) + "\r\n" + ENGLISH[s * 9000:(s + 1) * 9000]
                                for s in range(6))
    path = tmp_path / "corpus.txt"
    path.write_bytes(text.encode("utf-8"))
    assert path.stat().st_size > 30 * 4096  # dozens of blocks
    for name in ENCODING_NAMES:
        from_file = Tokenizer(pattern=name, special_tokens=["<|endoftext|>"])
        _CountingPool.jobs.clear()
        from_file.train(path, 700, workers=2)
        assert _CountingPool.jobs and _CountingPool.jobs[0] > 20  # the pool counted many batches
        from_string = Tokenizer(pattern=name, special_tokens=["<|endoftext|>"])
        from_string.train(text, 700, workers=1)
        assert from_file.merges == from_string.merges and len(from_file.merges) == 700 - 256
        counts = training.count_pretokens(path, from_file.pattern, ["<|endoftext|>"], workers=2)
        assert counts == Counter(pieces_of(text.split("<|endoftext|>"), name))  # \r\n kept, no special


def test_a_file_larger_than_one_segment_with_the_default_sizes(tmp_path, monkeypatch):
    """No monkeypatch: a 2.3-million-character file is read in several 1 MiB blocks and counted by
    two processes, and gives the same counts as its text."""
    text = (multilingual_text(2000) + ENGLISH) * 6
    assert len(text) > 2 * training.SEGMENT_CHARS
    path = tmp_path / "corpus.txt"
    path.write_bytes(text.encode("utf-8"))
    monkeypatch.setattr(training, "ProcessPoolExecutor", _CountingPool)
    _CountingPool.jobs.clear()
    assert training.count_pretokens(path, PATTERNS["gpt2"], workers=2) == \
        training.count_pretokens(text, PATTERNS["gpt2"], workers=1)
    assert len(_CountingPool.jobs) == 1 and _CountingPool.jobs[0] >= 2  # batches of at least SEGMENT_CHARS


def test_cutting_the_training_text_into_segments_changes_no_pre_token(monkeypatch):
    """Segments end before a newline that follows a letter; pre-tokens must not change."""
    monkeypatch.setattr(training, "SEGMENT_CHARS", 50)
    text = (ENGLISH[:20_000] + multilingual_text(50) + "\n\n  x\r\n\t\n" + " " * 50) * 2
    for name in ENCODING_NAMES:
        tok = Tokenizer(pattern=name)
        segments = list(training.segments(text, tok.pattern, tok.special_tokens))
        assert len(segments) > 10 and "".join(segments) == text
        pieces = [p for s in segments for p in regex.findall(tok.pattern, s)]
        assert pieces == regex.findall(tok.pattern, text)


def test_training_on_nothing_learns_nothing():
    for source in ("", [], ["", ""]):
        tok = Tokenizer(pattern="gpt2")
        tok.train(source, 300, workers=2)
        assert len(tok.vocab) == 256 and tok.merges == {}


# ----------------------------------------------------------------------------------------------
# mistakes

def test_bad_training_arguments_are_explained(tmp_path):
    with pytest.raises(ValueError, match=">= 256"):
        Tokenizer().train("abc", 100)
    with pytest.raises(TypeError, match="not bytes"):
        Tokenizer().train(b"abc", 300)
    with pytest.raises(FileNotFoundError, match="there is no file"):
        Tokenizer().train(Path("/nonexistent/corpus.txt"), 300)
    with pytest.raises(IsADirectoryError, match="is a directory"):
        Tokenizer().train(tmp_path, 300)


@pytest.mark.parametrize("bad, message", [
    (b"\xff", "byte {at} (0xff) cannot start a character"),
    (b"\xc3(", "the character that starts at byte {at} (0xc3) is cut short"),
    ("€".encode()[:2], "the file ends inside the character that starts at byte {at} (0xe2)"),
])
def test_a_training_file_that_is_not_utf8_is_named_with_the_offset(bad, message, tmp_path, monkeypatch):
    """The offset is the file's, not one within the block being decoded."""
    monkeypatch.setattr(training, "SEGMENT_CHARS", 1000)  # the file is read in blocks of 1000 bytes
    good = ("Быстрая лиса\n" * 300).encode()  # 7,500 bytes: the bad bytes are in the 8th block
    path = tmp_path / "corpus.txt"
    path.write_bytes(good + bad + (b"" if message.startswith("the file ends") else b" more text\n"))
    with pytest.raises(ValueError) as error:
        Tokenizer(pattern="gpt2").train(path, 300, workers=1)
    assert not isinstance(error.value, UnicodeDecodeError)
    assert str(error.value).startswith(f"{path} is not UTF-8 text: {message.format(at=len(good))}")
