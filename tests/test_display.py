"""Tests for tokbook.display: labels, coloured HTML and Markdown tables of tokens."""

from __future__ import annotations

import html
import re

import pytest

from tokbook.display import HTMLView, MarkdownView, compare_tokens, show_tokens, token_label, token_table
from tokbook.encodings import get_encoding


@pytest.fixture(scope="module")
def gpt2():
    return get_encoding("gpt2")


@pytest.fixture(scope="module")
def cl100k():
    return get_encoding("cl100k_base")


def _titles(view: HTMLView) -> list[str]:
    return re.findall(r'title="([^"]*)"', str(view))


def _span_texts(view: HTMLView) -> list[str]:
    inner = re.findall(r'<span class="tok"[^>]*>(.*?)</span>', str(view))
    return [html.unescape(t.replace("<br>", "")) for t in inner]


# --- token_label ------------------------------------------------------------------------------

def test_label_makes_whitespace_visible():
    assert token_label(b" a\tb\r\n") == "·a⇥b␍↵"


def test_label_keeps_complete_multibyte_characters():
    assert token_label("日本".encode("utf-8")) == "日本"


def test_label_shows_partial_utf8_as_hex_bytes():
    euro = "€".encode("utf-8")  # e2 82 ac
    assert token_label(euro[:2]) == "<0xE2><0x82>"
    assert token_label(b" " + euro[:1]) == "·<0xE2>"
    assert token_label(euro[2:] + b"x") == "<0xAC>x"


def test_label_rejects_str_with_a_helpful_message():
    with pytest.raises(TypeError, match="encode"):
        token_label("abc")  # type: ignore[arg-type]


# --- show_tokens ------------------------------------------------------------------------------

def test_show_tokens_has_one_span_per_token_with_its_id(gpt2):
    text = "Hello, world!"
    view = show_tokens(gpt2, text)
    assert isinstance(view, HTMLView) and view._repr_html_() == str(view)
    assert _titles(view) == [f"id {i}" for i in gpt2.encode(text)] == ["id 15496", "id 11", "id 995", "id 0"]
    assert _span_texts(view) == ["Hello", ",", "·world", "!"]
    assert "gpt2 · 4 tokens" in str(view)


def test_show_tokens_escapes_html(gpt2):
    text = '<script>alert("x") & </script>'
    view = show_tokens(gpt2, text)
    assert "<script>" not in str(view) and "&lt;" in str(view) and "&amp;" in str(view)
    # The labels, unescaped and with visible spaces turned back, give the text again.
    assert "".join(_span_texts(view)).replace("·", " ") == text


def test_show_tokens_visible_whitespace_and_line_breaks(cl100k):
    text = "def f():\n        return 1\n"
    view = show_tokens(cl100k, text)
    assert "↵<br>" in str(view)
    labels = _span_texts(view)
    assert "·······" in labels  # cl100k merges the run of 7 spaces before " return" into one token
    assert "".join(labels).replace("·", " ").replace("↵", "\n") == text


def test_show_tokens_marks_partial_utf8_tokens(gpt2):
    view = show_tokens(gpt2, "가")  # one Hangul syllable is 3 bytes and 3 gpt2 tokens
    assert _span_texts(view) == ["<0xEA>", "<0xB0>", "<0x80>"]
    assert all(t.endswith("(not valid UTF-8 on its own)") for t in _titles(view))
    assert "dashed" in str(view)


def test_show_tokens_special_tokens_follow_tiktoken(gpt2):
    with pytest.raises(ValueError, match="disallowed special token"):
        show_tokens(gpt2, "end<|endoftext|>")
    allowed = show_tokens(gpt2, "end<|endoftext|>", allowed_special={"<|endoftext|>"})
    assert _titles(allowed)[-1] == "id 50256"
    as_text = show_tokens(gpt2, "<|endoftext|>", disallowed_special=())
    assert "id 50256" not in _titles(as_text) and len(_titles(as_text)) > 1


def test_show_tokens_bad_input(gpt2):
    with pytest.raises(TypeError, match="get_encoding"):
        show_tokens("gpt2", "hi")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="str"):
        show_tokens(gpt2, b"hi")  # type: ignore[arg-type]


# --- compare_tokens ---------------------------------------------------------------------------

def test_compare_tokens_one_row_per_encoding(gpt2, cl100k):
    view = compare_tokens([gpt2, cl100k], "1275")
    assert "gpt2 · 2 tokens" in str(view) and "cl100k_base · 2 tokens" in str(view)
    assert _span_texts(view) == ["12", "75", "127", "5"]


def test_compare_tokens_rejects_a_single_encoding(gpt2):
    with pytest.raises(TypeError, match="list"):
        compare_tokens(gpt2, "x")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="list"):
        compare_tokens([], "x")


# --- token_table ------------------------------------------------------------------------------

def test_token_table_rows_and_escaping(gpt2):
    table = token_table(gpt2, "a|b *c*")
    assert isinstance(table, MarkdownView) and table._repr_markdown_() == str(table)
    lines = str(table).splitlines()
    ids = gpt2.encode("a|b *c*")
    assert len(lines) == 2 + len(ids)
    assert [int(line.split(" | ")[1]) for line in lines[2:]] == ids
    # No unescaped pipe may appear inside a cell: each row has exactly 5 unescaped pipes.
    assert all(len(re.findall(r"(?<!\\)\|", line)) == 5 for line in lines)
    assert "\\*" in str(table)


def test_token_table_partial_bytes(gpt2):
    rows = str(token_table(gpt2, "가")).splitlines()[2:]
    assert [row.split(" | ")[2] for row in rows] == ["1", "1", "1"]
    assert rows[0].endswith("\\<0xEA\\> |")


# --- markdown_table ---------------------------------------------------------------------------

def test_markdown_table_alignment_formatting_and_escaping():
    from tokbook.display import markdown_table

    table = str(markdown_table(["name", "n", "ratio"], [["a|b", 3, 1.0], ["c", 10, 2.345]]))
    assert table.splitlines() == [
        "| name | n | ratio |",
        "| :--- | ---: | ---: |",
        "| a\\|b | 3 | 1.00 |",
        "| c | 10 | 2.35 |",
    ]


def test_markdown_table_bad_input():
    from tokbook.display import markdown_table

    with pytest.raises(ValueError, match="row 1 has 1 cells but the header has 2"):
        markdown_table(["a", "b"], [[1, 2], [3]])
    with pytest.raises(TypeError, match="list of column names"):
        markdown_table("ab", [])


def test_only_real_newlines_break_the_line(gpt2):
    view = show_tokens(gpt2, "a↵b\nc")  # a literal "↵" in the text is shown but does not break
    assert str(view).count("<br>") == 1
