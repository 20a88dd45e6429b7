"""The `tokbook bpe` command line: train from a file, encode a file, report bytes per token."""

from __future__ import annotations

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
    assert "trained 400 tokens (144 merges, 1 special)" in capsys.readouterr().err
    tok = Tokenizer.load(model)
    assert tok.special_tokens == {"<|endoftext|>": 400}

    out = tmp_path / "ids.txt"
    assert main(["bpe", "encode", "--model", str(model), str(corpus), "--out", str(out)]) == 0
    ids = [int(x) for x in out.read_text().split()]
    assert ids == tok.encode(TEXT, disallowed_special=())
    assert tok.decode(ids) == TEXT  # \r\n survives: the file is read with newline=""

    main(["bpe", "stats", "--model", str(model), str(corpus), "--allow-special"])
    n = len(tok.encode(TEXT, allowed_special="all"))
    assert f"{len(TEXT.encode())} bytes, {n} tokens" in capsys.readouterr().out


def test_stats_with_a_real_encoding_matches_tiktoken(corpus, capsys):
    main(["bpe", "stats", "--model", "cl100k_base", str(corpus)])
    n = len(get_encoding("cl100k_base").encode_ordinary(TEXT))
    assert f" {n} tokens, " in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["bpe", "stats", "--model", "gpt-5", "x.txt"], "no model 'gpt-5'"),
        (["bpe", "stats", "--model", "gpt2", "/no/such/file.txt"], "no input file"),
        (["bpe", "train", "/no/such/file.txt", "--vocab-size", "300", "--out", "m.json"], "no training file"),
        (["bpe", "train", "README.md", "--vocab-size", "10", "--out", "m.json"], "at least 256"),
    ],
)
def test_mistakes_are_explained(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert message in str(exit_.value)


def test_the_console_script_is_installed(corpus):
    script = Path(sys.executable).parent / "tokbook"  # where pip puts the `tokbook` entry point
    assert script.is_file(), f"{script} is missing: install the package (make .venv/.installed)"
    result = subprocess.run([str(script), "bpe", "stats", "--model", "gpt2", str(corpus)], capture_output=True, text=True)
    assert result.returncode == 0 and "bytes per token" in result.stdout
