"""Show how a tokenizer cuts text: coloured token boundaries and token tables.

The helpers take any tokenizer with tiktoken's two methods ``encode(text, *, allowed_special,
disallowed_special)`` and ``decode_tokens_bytes(ids)``, for example a real encoding from
:func:`tokbook.encodings.get_encoding`.

Each token is shown by its *label*: its bytes decoded as UTF-8, with whitespace made visible
(``·`` space, ``↵`` newline, ``⇥`` tab, ``␍`` carriage return) and every byte that is not valid
UTF-8 on its own shown in hex as ``<0xNN>``. A token can hold only part of a character, because
byte-level BPE merges bytes, not characters:

>>> from tokbook.encodings import get_encoding
>>> enc = get_encoding("gpt2")
>>> [token_label(b) for b in enc.decode_tokens_bytes(enc.encode("a b\\n"))]
['a', '·b', '↵']
>>> token_label("é".encode("utf-8")[:1])
'<0xC3>'

:func:`show_tokens` and :func:`compare_tokens` return objects that Jupyter displays as coloured
HTML (the token id is in each token's tooltip); :func:`token_table` returns a Markdown table;
:func:`check_mark` spells the result of a check for a table's yes/no column;
:func:`exercise_tasks` lists the tasks of an exercise notebook, so a chapter never restates them.
Neither needs IPython: they use Jupyter's ``_repr_html_`` / ``_repr_markdown_`` protocol.
"""

from __future__ import annotations

import html
import json
import os
import re
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tokbook.encodings import SpecialArg

__all__ = [
    "CHECK_FAILED", "HTMLView", "MarkdownView", "check_mark", "compare_tokens", "exercise_tasks",
    "markdown_table", "show_tokens", "token_label", "token_table",
]

# Whitespace characters and the visible symbol each one is shown as.
VISIBLE_WHITESPACE = {" ": "·", "\n": "↵", "\t": "⇥", "\r": "␍"}

# Light backgrounds with black text stay readable in light and dark page themes.
PALETTE = ("#ffd6a5", "#caffbf", "#9bf6ff", "#bdb2ff", "#ffc6ff", "#fdffb6")

_SURROGATE_ESCAPE_BASE = 0xDC00  # "surrogateescape" decodes an invalid byte b as chr(0xDC00 + b)

# What a check column shows for a comparison that does not hold. The chapters also assert every
# check they show, and the book's tests fail on any built page that contains this marker.
CHECK_FAILED = "✗ NO"


@dataclass(frozen=True)
class HTMLView:
    """An HTML fragment that Jupyter (and myst-nb) render as HTML; ``str()`` gives the source."""

    html: str

    def _repr_html_(self) -> str:
        return self.html

    def __str__(self) -> str:
        return self.html


@dataclass(frozen=True)
class MarkdownView:
    """A Markdown fragment that Jupyter (and myst-nb) render as Markdown; ``str()`` gives it."""

    markdown: str

    def _repr_markdown_(self) -> str:
        return self.markdown

    def __str__(self) -> str:
        return self.markdown


def _label_chars(token: bytes) -> Iterable[tuple[str, str | None]]:
    """Yield ``(shown, char)`` for each character of ``token``; ``char`` is None for a raw byte."""
    for ch in token.decode("utf-8", errors="surrogateescape"):
        code = ord(ch)
        if 0xDC80 <= code <= 0xDCFF:  # a byte that is not part of a complete UTF-8 character
            yield f"<0x{code - _SURROGATE_ESCAPE_BASE:02X}>", None
        else:
            yield VISIBLE_WHITESPACE.get(ch, ch), ch


def token_label(token: bytes) -> str:
    """Return a one-line, printable label for the bytes of one token.

    Whitespace becomes visible and bytes that do not form a complete UTF-8 character become
    ``<0xNN>``, so two different tokens never look alike because of invisible characters.

    >>> token_label(b"  return")
    '··return'
    >>> token_label(" 가".encode("utf-8")[:3])  # a space and 2 of the 3 bytes of a Hangul syllable
    '·<0xEA><0xB0>'
    >>> token_label("Hello")
    Traceback (most recent call last):
    ...
    TypeError: token_label() takes the token's bytes, got str; pass text.encode('utf-8') or a value from enc.decode_tokens_bytes(...)
    """
    if not isinstance(token, (bytes, bytearray)):
        raise TypeError(
            f"token_label() takes the token's bytes, got {type(token).__name__}; pass "
            "text.encode('utf-8') or a value from enc.decode_tokens_bytes(...)"
        )
    return "".join(piece for piece, _ in _label_chars(bytes(token)))


def _check_tokenizer(enc: Any) -> None:
    if not (callable(getattr(enc, "encode", None)) and callable(getattr(enc, "decode_tokens_bytes", None))):
        raise TypeError(
            f"expected a tokenizer with encode() and decode_tokens_bytes(), got {type(enc).__name__}; "
            "pass an encoding such as tokbook.encodings.get_encoding('gpt2')"
        )


def _encode(
    enc: Any, text: str, allowed_special: SpecialArg, disallowed_special: SpecialArg | Collection[str]
) -> tuple[list[int], list[bytes]]:
    _check_tokenizer(enc)
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}; decode bytes to str first")
    ids = list(enc.encode(text, allowed_special=allowed_special, disallowed_special=disallowed_special))
    return ids, list(enc.decode_tokens_bytes(ids))


def _tokens_html(ids: Sequence[int], pieces: Sequence[bytes]) -> str:
    spans = []
    for position, (token_id, token) in enumerate(zip(ids, pieces)):
        parts, partial = [], False
        for shown, ch in _label_chars(token):
            partial |= ch is None
            # A newline also breaks the displayed line, so code keeps its shape.
            parts.append(html.escape(shown) + ("<br>" if ch == "\n" else ""))
        title = f"id {token_id}" + (" (not valid UTF-8 on its own)" if partial else "")
        border = "1px dashed #555" if partial else "1px solid transparent"
        style = (
            f"background:{PALETTE[position % len(PALETTE)]};color:#000;border:{border};"
            "border-radius:3px;padding:1px 1px;margin:0 1px"
        )
        label = "".join(parts)
        spans.append(f'<span class="tok" style="{style}" title="{html.escape(title)}">{label}</span>')
    return "".join(spans)


def _row_html(name: str, ids: Sequence[int], pieces: Sequence[bytes]) -> str:
    count = f"{len(ids)} token" + ("" if len(ids) == 1 else "s")
    head = (
        f'<div style="font-size:0.8em;color:#666;margin-top:0.3em">'
        f"{html.escape(name)} · {count}</div>"
    )
    body = (
        '<div style="font-family:monospace;white-space:pre-wrap;line-height:1.9;'
        f'word-break:break-all">{_tokens_html(ids, pieces)}</div>'
    )
    return head + body


def show_tokens(
    enc: Any,
    text: str,
    *,
    allowed_special: SpecialArg = frozenset(),
    disallowed_special: SpecialArg | Collection[str] = "all",
) -> HTMLView:
    """Encode ``text`` with ``enc`` and show each token as a coloured span.

    Hover over a token to see its id. Tokens that are not valid UTF-8 on their own get a dashed
    border. ``allowed_special`` and ``disallowed_special`` are passed to ``enc.encode``, so, as
    in tiktoken, text that contains a special token such as ``<|endoftext|>`` raises
    ``ValueError`` unless you allow it.

    >>> from tokbook.encodings import get_encoding
    >>> view = show_tokens(get_encoding("gpt2"), "Hi <b>")
    >>> 'title="id 17250"' in str(view), "·&lt;" in str(view), "<b>" in str(view)
    (True, True, False)
    """
    ids, pieces = _encode(enc, text, allowed_special, disallowed_special)
    name = str(getattr(enc, "name", type(enc).__name__))
    return HTMLView(f'<div class="tokbook-tokens">{_row_html(name, ids, pieces)}</div>')


def compare_tokens(
    encodings: Sequence[Any],
    text: str,
    *,
    allowed_special: SpecialArg = frozenset(),
    disallowed_special: SpecialArg | Collection[str] = "all",
) -> HTMLView:
    """Show how each tokenizer in ``encodings`` cuts the same ``text``, one row per tokenizer.

    >>> from tokbook.encodings import get_encoding
    >>> view = compare_tokens([get_encoding("gpt2"), get_encoding("cl100k_base")], "1275")
    >>> "gpt2 · 2 tokens" in str(view), "cl100k_base · 2 tokens" in str(view)
    (True, True)
    """
    if isinstance(encodings, (str, bytes)) or not isinstance(encodings, Sequence) or not encodings:
        raise TypeError("encodings must be a non-empty list of tokenizers, e.g. [get_encoding('gpt2')]")
    rows = []
    for enc in encodings:
        ids, pieces = _encode(enc, text, allowed_special, disallowed_special)
        rows.append(_row_html(str(getattr(enc, "name", type(enc).__name__)), ids, pieces))
    return HTMLView(f'<div class="tokbook-tokens">{"".join(rows)}</div>')


def _markdown_escape(label: str) -> str:
    # Any ASCII punctuation may be backslash-escaped in Markdown; this keeps |, *, `, < and \
    # from breaking the table or turning into formatting.
    return "".join(
        "\\" + ch if ch.isascii() and not ch.isalnum() and not ch.isspace() else ch for ch in label
    )


def token_table(
    enc: Any,
    text: str,
    *,
    allowed_special: SpecialArg = frozenset(),
    disallowed_special: SpecialArg | Collection[str] = "all",
) -> MarkdownView:
    """Return a Markdown table with one row per token: position, id, byte count and label.

    >>> from tokbook.encodings import get_encoding
    >>> print(token_table(get_encoding("gpt2"), "Hello, world!"))
    | # | id | bytes | token |
    | ---: | ---: | ---: | :--- |
    | 0 | 15496 | 5 | Hello |
    | 1 | 11 | 1 | \\, |
    | 2 | 995 | 6 | ·world |
    | 3 | 0 | 1 | \\! |
    """
    ids, pieces = _encode(enc, text, allowed_special, disallowed_special)
    lines = ["| # | id | bytes | token |", "| ---: | ---: | ---: | :--- |"]
    for position, (token_id, token) in enumerate(zip(ids, pieces)):
        label = _markdown_escape(token_label(token))
        lines.append(f"| {position} | {token_id} | {len(token)} | {label} |")
    return MarkdownView("\n".join(lines))


def check_mark(ok: bool) -> str:
    """Return ``"yes"`` for a check that holds and :data:`CHECK_FAILED` for one that does not.

    Use it for the yes/no column of a table that compares two implementations, and assert the
    same checks in the cell, so that a failed comparison fails the build instead of printing.

    >>> check_mark(True), check_mark(False)
    ('yes', '✗ NO')
    >>> check_mark("yes")
    Traceback (most recent call last):
    ...
    TypeError: check_mark() takes the result of a comparison (a bool), got str
    """
    if not isinstance(ok, bool):
        raise TypeError(f"check_mark() takes the result of a comparison (a bool), got {type(ok).__name__}")
    return "yes" if ok else CHECK_FAILED


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> MarkdownView:
    """Return a Markdown table; numbers are right-aligned, other columns left-aligned.

    Cells are converted with ``str`` (floats with 2 decimals); a ``|`` inside a cell is escaped.

    >>> print(markdown_table(["encoding", "tokens"], [["gpt2", 7], ["a|b", 0.5]]))
    | encoding | tokens |
    | :--- | ---: |
    | gpt2 | 7 |
    | a\\|b | 0.50 |
    """
    rows = [list(row) for row in rows]
    if isinstance(header, str) or not header:
        raise TypeError("header must be a non-empty list of column names, e.g. ['text', 'tokens']")
    for n, row in enumerate(rows):
        if len(row) != len(header):
            raise ValueError(
                f"row {n} has {len(row)} cells but the header has {len(header)}; pass one cell per column"
            )

    def cell(value: object) -> str:
        text = f"{value:.2f}" if isinstance(value, float) else str(value)
        return text.replace("|", "\\|").replace("\n", " ")

    numeric = [bool(rows) and all(isinstance(row[c], (int, float)) for row in rows)
               for c in range(len(header))]
    lines = ["| " + " | ".join(cell(h) for h in header) + " |"]
    lines.append("| " + " | ".join("---:" if num else ":---" for num in numeric) + " |")
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return MarkdownView("\n".join(lines))


_TASK_HEADING = re.compile(r"##\s+Task\s+\d+\s*:\s*(.+)")
_DEF = re.compile(r"^def\s+(\w+\(.*?\))", re.M | re.S)


def exercise_tasks(notebook: str | os.PathLike) -> MarkdownView:
    """Return a numbered Markdown list of an exercise notebook's tasks, read from the notebook.

    Each task starts at a Markdown cell whose first line is a heading ``## Task N: title``; the
    list gives each title and the first function the task's code cells define, so a chapter that
    shows it always matches the notebook.
    """
    path = Path(notebook)
    try:
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    except (OSError, ValueError, KeyError) as exc:
        raise ValueError(f"cannot read the cells of notebook {path} ({exc}); pass the path of an .ipynb file") from exc
    tasks: list[list[str]] = []  # [title, signature or ""]
    for cell in cells:
        source = "".join(cell.get("source", ""))
        lines = source.strip().splitlines()
        match = _TASK_HEADING.fullmatch(lines[0].strip()) if cell.get("cell_type") == "markdown" and lines else None
        if match:
            tasks.append([match.group(1).strip(), ""])
        elif tasks and not tasks[-1][1] and cell.get("cell_type") == "code" and (found := _DEF.search(source)):
            tasks[-1][1] = " ".join(found.group(1).split())
    if not tasks:
        raise ValueError(f"{path} has no Markdown heading '## Task N: title'; is it an exercise notebook?")
    return MarkdownView("\n".join(
        f"{n}. {title}" + (f": `{signature}`" if signature else "") for n, (title, signature) in enumerate(tasks, 1)
    ))
