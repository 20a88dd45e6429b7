"""The `tokbook bpe` command line: train from a file, encode a file, report bytes per token."""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydoc_data.topics import topics

from tokbook.bpe import Tokenizer
from tokbook.cli import main
from tokbook.encodings import get_encoding

TEXT = "\n\n".join(topics[k] for k in sorted(topics))[:200_000] + "\r\nend <|endoftext|> done\n"


@pytest.fixture
def corpus(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_bytes(TEXT.encode("utf-8"))
    return path


def test_train_then_encode_and_stats(corpus, tmp_path, capsys):
    model = tmp_path / "model.json"
    assert main(["bpe", "train", str(corpus), "--vocab-size", "400", "--out", str(model),
                 "--special", "<|endoftext|>", "--quiet", "--workers", "1"]) == 0
    assert "trained 400 tokens (143 merges, 1 special)" in capsys.readouterr().err
    tok = Tokenizer.load(model)
    assert tok.special_tokens == {"<|endoftext|>": 399} and tok.n_vocab == 400  # --vocab-size counts specials

    out = tmp_path / "ids.txt"
    assert main(["bpe", "encode", "--model", str(model), str(corpus), "--out", str(out)]) == 0
    ids = [int(x) for x in out.read_text().split()]
    assert ids == tok.encode(TEXT, disallowed_special=())
    assert tok.decode(ids) == TEXT  # \r\n survives: the file is read as it is

    main(["bpe", "stats", "--model", str(model), str(corpus), "--allow-special"])
    n = len(tok.encode(TEXT, allowed_special="all"))
    assert f"{len(TEXT.encode())} bytes, {n} tokens" in capsys.readouterr().out


def test_a_model_without_a_split_pattern_encodes_the_whole_file(corpus, tmp_path, capsys):
    model = tmp_path / "none.json"
    assert main(["bpe", "train", str(corpus), "--vocab-size", "300", "--pattern", "none", "--out", str(model),
                 "--quiet", "--workers", "1"]) == 0
    tok = Tokenizer.load(model)
    assert tok.pattern is None
    capsys.readouterr()
    assert main(["bpe", "encode", "--model", str(model), str(corpus)]) == 0
    ids = [int(x) for x in capsys.readouterr().out.split()]
    assert ids == tok.encode(TEXT, disallowed_special=()) and tok.decode(ids) == TEXT
    assert main(["bpe", "stats", "--model", str(model), str(corpus)]) == 0
    assert f"{len(TEXT.encode())} bytes, {len(ids)} tokens" in capsys.readouterr().out


def test_stats_of_an_empty_file_says_there_is_no_ratio(tmp_path, capsys):
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    assert main(["bpe", "stats", "--model", "gpt2", str(empty)]) == 0
    assert capsys.readouterr().out.endswith(": 0 bytes, 0 tokens, no bytes per token\n")


def test_stats_with_a_real_encoding_matches_tiktoken(corpus, capsys):
    main(["bpe", "stats", "--model", "cl100k_base", str(corpus)])
    n = len(get_encoding("cl100k_base").encode_ordinary(TEXT))
    assert f" {n} tokens, " in capsys.readouterr().out


TOKBOOK = Path(sys.executable).parent / "tokbook"  # the console script pip installed into the venv


def tokbook(*argv: str, **kwargs) -> subprocess.CompletedProcess:
    assert TOKBOOK.exists(), f"the console script {TOKBOOK} is not installed; run make .venv/.installed"
    return subprocess.run([str(TOKBOOK), *argv], capture_output=True, text=True, **kwargs)


def test_the_console_script_is_installed(corpus):
    result = tokbook("bpe", "stats", "--model", "gpt2", str(corpus))
    assert result.returncode == 0 and "bytes per token" in result.stdout


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Paths of good and bad inputs (a model to use, text that is not UTF-8, a directory...)."""
    root = tmp_path_factory.mktemp("inputs")
    good, model = root / "good.txt", root / "model.json"
    good.write_text("hello world\n" * 100)
    tok = Tokenizer(pattern="gpt2")
    tok.train("hello world\n" * 100, 270)
    tok.save(model)
    ascii_block = b"plain text\n" * 120_000  # 1.3 MB: the bad byte lies past the first block read
    (root / "cut.txt").write_bytes(ascii_block + "naïve €".encode()[:-1])  # cut inside the "€" (3 bytes)
    (root / "utf16.txt").write_bytes("hello".encode("utf-16"))  # starts with the BOM ff fe
    (root / "latin1.txt").write_bytes(ascii_block + "café au lait".encode("latin-1"))
    (root / "empty.txt").write_bytes(b"")
    (root / "folder").mkdir()
    (root / "not-json.json").write_text("hello")
    return root


N = len(b"plain text\n" * 120_000)  # where the bad bytes start in cut.txt and latin1.txt

BAD_INPUTS = [
    # text that is not UTF-8: the file and the offset in the file (past the first block read)
    (["bpe", "train", "{cut.txt}", "--vocab-size", "300", "--out", "{out}/m.json"],
     "tokbook: {cut.txt} is not UTF-8 text: the file ends inside the character that starts at byte "
     f"{N + 7} (0xe2); convert it to UTF-8 first (for example with iconv)"),
    (["bpe", "train", "{utf16.txt}", "--vocab-size", "300", "--out", "{out}/m.json"],
     "tokbook: {utf16.txt} is not UTF-8 text: byte 0 (0xff) cannot start a character; "
     "convert it to UTF-8 first (for example with iconv)"),
    (["bpe", "stats", "--model", "gpt2", "{latin1.txt}"],
     "tokbook: {latin1.txt} is not UTF-8 text: the character that starts at byte "
     f"{N + 3} (0xe9) is cut short (invalid continuation byte); convert it to UTF-8 first (for example with iconv)"),
    (["bpe", "encode", "--model", "{model.json}", "{cut.txt}", "--out", "{out}/ids.txt"],
     "tokbook: {cut.txt} is not UTF-8 text: the file ends inside the character that starts at byte "
     f"{N + 7} (0xe2); convert it to UTF-8 first (for example with iconv)"),
    # missing files
    (["bpe", "train", "{missing.txt}", "--vocab-size", "300", "--out", "{out}/m.json"],
     "tokbook: no training file {missing.txt}"),
    (["bpe", "stats", "--model", "gpt2", "{missing.txt}"], "tokbook: no input file {missing.txt}"),
    (["bpe", "encode", "--model", "gpt-5", "{good.txt}"],
     "tokbook: no model 'gpt-5': give a file written by `tokbook bpe train` or one of gpt2, cl100k_base, o200k_base"),
    # a directory given as a file
    (["bpe", "train", "{folder}", "--vocab-size", "300", "--out", "{out}/m.json"],
     "tokbook: {folder} is a directory; give the training file"),
    (["bpe", "encode", "--model", "gpt2", "{folder}"], "tokbook: {folder} is a directory; give the input file"),
    (["bpe", "stats", "--model", "{folder}", "{good.txt}"], "tokbook: {folder} is a directory; give the model file"),
    # a model file that is not one
    (["bpe", "stats", "--model", "{not-json.json}", "{good.txt}"],
     "tokbook: {not-json.json} is not a tokbook tokenizer file: Expecting value: line 1 column 1 (char 0)"),
    # an empty corpus
    (["bpe", "train", "{empty.txt}", "--vocab-size", "300", "--out", "{out}/m.json"],
     "tokbook: the training file {empty.txt} is empty: there is nothing to learn from"),
    # a vocabulary too small for the single bytes and the special tokens
    (["bpe", "train", "{good.txt}", "--vocab-size", "10", "--out", "{out}/m.json"],
     "tokbook: --vocab-size must be at least 256 (the 256 single bytes), got 10"),
    (["bpe", "train", "{good.txt}", "--vocab-size", "257", "--special", "<s>", "--special", "</s>", "--out", "{out}/m.json"],
     "tokbook: --vocab-size must be at least 258 (the 256 single bytes and 2 special tokens), got 257"),
    (["bpe", "train", "{good.txt}", "--vocab-size", "300", "--special", "", "--out", "{out}/m.json"],
     "tokbook: --special: special tokens must be non-empty strings, got ''"),
    (["bpe", "train", "{good.txt}", "--vocab-size", "300", "--workers", "0", "--out", "{out}/m.json"],
     "tokbook: --workers must be at least 1, got 0"),
    # an output path that cannot be written
    (["bpe", "train", "{good.txt}", "--vocab-size", "300", "--out", "{out}/no/such/folder/m.json"],
     "tokbook: cannot write {out}/no/such/folder/m.json: there is no folder {out}/no/such/folder"),
    (["bpe", "train", "{good.txt}", "--vocab-size", "300", "--out", "{folder}"],
     "tokbook: --out {folder} is a directory; give a file name, such as {folder}/out.json"),
    (["bpe", "encode", "--model", "gpt2", "{good.txt}", "--out", "{out}/no/such/folder/ids.txt"],
     "tokbook: cannot write {out}/no/such/folder/ids.txt: there is no folder {out}/no/such/folder"),
    (["bpe", "encode", "--model", "gpt2", "{good.txt}", "--out", "{folder}"],
     "tokbook: --out {folder} is a directory; give a file name, such as {folder}/out.json"),
]


def _fill(template: str, paths: dict[str, Path]) -> str:
    """Put the paths into "{name}" placeholders."""
    for name, path in paths.items():
        template = template.replace("{" + name + "}", str(path))
    return template


@pytest.mark.parametrize("argv, message", BAD_INPUTS, ids=[
    "train-cut-character", "train-utf16", "stats-latin1", "encode-cut-character", "train-missing", "stats-missing",
    "encode-unknown-model", "train-directory", "encode-directory", "stats-model-directory", "stats-model-not-json",
    "train-empty", "train-vocab-below-256", "train-vocab-below-specials", "train-empty-special", "train-zero-workers",
    "train-out-no-folder", "train-out-directory", "encode-out-no-folder", "encode-out-directory"])
def test_bad_input_gives_one_line_and_a_non_zero_exit(argv, message, files, tmp_path):
    paths = {p.name: p for p in files.iterdir()} | {"missing.txt": files / "missing.txt", "out": tmp_path}
    result = tokbook(*(_fill(arg, paths) for arg in argv))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.splitlines() == [_fill(message, paths)]
    assert not list(tmp_path.iterdir())  # nothing was written, not even part of a file


def _unreadable_for_the_child():
    """A ``preexec_fn`` under which chmod 000 stops the child from reading, or None if it does
    already. As root it drops CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH, the capabilities that
    let root read any file, from the child's bounding set (Linux), so the exec'd command lacks them."""
    if os.geteuid() != 0:
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    PR_CAPBSET_DROP, CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH = 24, 1, 2

    def drop():
        for cap in (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH):
            if prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
                raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) failed")
    return drop


@pytest.mark.parametrize("argv, message", [
    (["bpe", "train", "{locked}", "--vocab-size", "300", "--out", "{out}/m.json"],
     "tokbook: cannot read {locked}: Permission denied"),
    (["bpe", "stats", "--model", "gpt2", "{locked}"], "tokbook: cannot read {locked}: Permission denied"),
    (["bpe", "encode", "--model", "{locked}", "{good}"], "tokbook: cannot read {locked}: Permission denied"),
    (["bpe", "train", "{good}", "--vocab-size", "300", "--quiet", "--out", "{read-only}/m.json"],
     "tokbook: cannot write {read-only}/m.json: Permission denied"),
    (["bpe", "encode", "--model", "gpt2", "{good}", "--out", "{read-only}/ids.txt"],
     "tokbook: cannot write {read-only}/ids.txt: Permission denied"),
], ids=["train", "stats", "encode-model", "train-out", "encode-out"])
def test_files_without_permission_give_one_line(argv, message, tmp_path):
    locked, good, out, read_only = tmp_path / "locked.txt", tmp_path / "good.txt", tmp_path / "out", tmp_path / "ro"
    locked.write_text("hello world\n")
    good.write_text("hello world\n" * 50)
    locked.chmod(0)
    out.mkdir()
    read_only.mkdir(mode=0o555)
    as_user = _unreadable_for_the_child()
    try:
        probe = subprocess.run([sys.executable, "-c", f"open({str(locked)!r}).read()"], preexec_fn=as_user,
                               capture_output=True)
    except subprocess.SubprocessError as exc:  # the capabilities could not be dropped
        pytest.skip(f"running as root, and chmod 000 cannot stop root from reading here: {exc}")
    if probe.returncode == 0:
        pytest.skip("chmod 000 does not stop this user from reading a file")
    paths = {"locked": locked, "good": good, "out": out, "read-only": read_only}
    result = tokbook(*(_fill(arg, paths) for arg in argv), preexec_fn=as_user)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.splitlines() == [_fill(message, paths)]
    assert not list(out.iterdir()) and not list(read_only.iterdir())
