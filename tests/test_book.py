"""The book builds with the README's command, with no warnings, and shows executed outputs."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml
from bs4 import BeautifulSoup

from tokbook.display import CHECK_FAILED, check_mark, exercise_tasks

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "_build" / "html"


def _toc_files() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]
    for part in toc.get("parts", []):
        files += [chapter["file"] for chapter in part["chapters"]]
    return files


CHAPTERS = [f for f in _toc_files() if f != "chapters/index"]


@pytest.fixture(scope="module")
def build():
    """Run `make book` once (Jupyter Book with -W -n --keep-going) and return its output."""
    result = subprocess.run(["make", "book"], cwd=ROOT, capture_output=True, text=True, timeout=1800)
    assert result.returncode == 0, f"make book failed:\n{result.stdout[-6000:]}\n{result.stderr[-6000:]}"
    return result.stdout + result.stderr


def _page(name: str) -> BeautifulSoup:
    return BeautifulSoup((HTML / f"{name}.html").read_text(encoding="utf-8"), "html.parser")


def _outputs(name: str) -> str:
    """The text of every executed cell output on a page."""
    return "\n".join(div.get_text() for div in _page(name).select("div.cell_output"))


def failed_checks(html: str) -> list[str]:
    """Every sign of a failed check on a built page, as short descriptions; [] if there is none.

    A chapter's check columns and check lines print ``check_mark(ok)``, which is
    ``CHECK_FAILED`` for a comparison that does not hold; a table cell that says ``False`` or
    ``NO`` in a column whose header names a check is the same failure written by hand; and a
    cell that raised (an ``assert`` included) leaves a traceback in its output.
    """
    soup = BeautifulSoup(html, "html.parser")
    found = [f"marker: {text.strip()[:120]}" for text in soup.find_all(string=lambda t: CHECK_FAILED in t)]
    found += [f"traceback: {div.get_text()[:200]}" for div in soup.select("div.output.traceback")]
    check_words = ("same", "identical", "agree", "round trip", "result", "check")
    for table in soup.select("table"):
        header = [th.get_text(strip=True).lower() for th in table.select("thead th")]
        for row in table.select("tbody tr"):
            for name, cell in zip(header, row.select("td")):
                if any(word in name for word in check_words) and cell.get_text(strip=True) in ("False", "NO"):
                    found.append(f"table: {name} = {cell.get_text(strip=True)}")
    return found


def _page_with(body: str) -> str:
    return f'<html><body><div class="cell_output docutils container">{body}</div></body></html>'


def test_failed_checks_finds_each_kind_of_failure_and_nothing_else():
    """The scanner behind test_no_chapter_shows_a_failed_check, on small pages (no book build)."""
    table = "<table><thead><tr><th>case</th><th>{}</th></tr></thead><tbody><tr><td>x</td><td>{}</td></tr></tbody></table>"
    assert failed_checks(_page_with(table.format("same as CPython", check_mark(True)))) == []
    assert failed_checks(_page_with(table.format("same as CPython", check_mark(False))))
    assert failed_checks(_page_with(table.format("identical", "False")))
    assert failed_checks(_page_with(table.format("round trip", "NO")))
    assert failed_checks(_page_with(table.format("already NFC?", "False"))) == []  # data, not a check
    assert failed_checks(_page_with(f"<pre>same as bpe.merge: {check_mark(False)}</pre>"))
    assert failed_checks(_page_with(f"<pre>same as bpe.merge: {check_mark(True)}</pre>")) == []
    traceback = '<div class="output traceback highlight-ipythontb"><pre>AssertionError</pre></div>'
    assert failed_checks(_page_with(traceback))


def test_exercise_tasks_lists_the_notebooks_tasks_and_refuses_other_files(tmp_path):
    listed = str(exercise_tasks(ROOT / "exercises" / "utf8" / "utf8.ipynb")).splitlines()
    source = (ROOT / "solutions" / "utf8" / "utf8.md").read_text(encoding="utf-8")
    assert len(listed) == len(re.findall(r"^## Task \d+:", source, flags=re.M)) >= 5
    assert listed[0].startswith("1. ") and "`encode_codepoint(" in listed[0]
    empty = tmp_path / "empty.ipynb"
    empty.write_text('{"cells": [{"cell_type": "markdown", "source": ["# Notes"]}]}', encoding="utf-8")
    with pytest.raises(ValueError, match="no Markdown heading"):
        exercise_tasks(empty)
    with pytest.raises(ValueError, match="cannot read"):
        exercise_tasks(tmp_path / "missing.ipynb")


def test_make_book_prints_where_the_book_is(build):
    assert f"{HTML / 'index.html'}" in build
    assert (HTML / "index.html").is_file()


def test_every_page_in_the_toc_is_built_and_nothing_else(build):
    for name in _toc_files():
        assert (HTML / f"{name}.html").is_file(), name
    for md in (ROOT / "chapters").glob("*.md"):
        assert f"chapters/{md.stem}" in _toc_files(), f"{md} exists but is not in _toc.yml"


@pytest.mark.parametrize("name", CHAPTERS)
def test_chapters_are_executed_without_errors(build, name):
    page = _page(name)
    assert len(page.select("div.cell_output")) >= 10, f"{name}: too few executed outputs"
    assert page.select("img"), f"{name}: no figure"
    assert not page.select("div.output.traceback"), f"{name}: a cell raised an exception"
    assert "Traceback (most recent call last)" not in _outputs(name), name


@pytest.mark.parametrize("name", CHAPTERS)
def test_no_chapter_shows_a_failed_check(build, name):
    """Chapters assert their checks; this also catches a check printed without an assert."""
    html = (HTML / f"{name}.html").read_text(encoding="utf-8")
    assert failed_checks(html) == [], f"{name} shows failed checks"


@pytest.mark.parametrize("name", ["chapters/why_tokenization", "chapters/utf8", "chapters/bpe",
                                  "chapters/sentencepiece", "chapters/special_tokens", "chapters/packing",
                                  "chapters/attention"])
def test_chapters_show_their_checks_and_fold_their_setup(build, name):
    """Each teaching chapter prints passed checks and starts with its setup code folded."""
    page = _page(name)
    assert page.get_text().count(check_mark(True)) >= 3, f"{name}: too few checks shown"
    first_cell = page.select("div.cell")[0]
    assert "tag_hide-input" in first_cell.get("class", []), f"{name}: the setup cell is not folded"


def test_the_opening_line_and_the_exercise_instructions_appear_once(build):
    pages = ["chapters/index", *CHAPTERS]
    texts = {name: _page(name).get_text() for name in pages}
    assert sum(t.count("never sees letters") for t in texts.values()) == 1
    assert sum(t.count("it is silent when you pass") for t in texts.values()) == 1


def test_token_ids_on_the_page_come_from_running_the_real_encoding(build):
    """The coloured tokens show gpt2's ids for the chapter's sentence; no id is typed in the source."""
    from tokbook.encodings import get_encoding

    sentence = "Tokenizers turn text into integers.\nModels only see the integers."
    ids = get_encoding("gpt2").encode(sentence)
    html = (HTML / "chapters" / "why_tokenization.html").read_text(encoding="utf-8")
    source = (ROOT / "chapters" / "why_tokenization.md").read_text(encoding="utf-8")
    assert sentence.encode("unicode_escape").decode() in source
    shown = [int(n) for n in re.findall(r'title="id (\d+)', html)]
    assert ids == shown[: len(ids)]
    assert not any(str(i) in source for i in ids if i > 999)


def test_utf8_numbers_in_prose_and_tables_are_computed(build):
    """A glued count in the prose and the bit-layout table's bytes match what the test computes."""
    import unicodedata

    assigned = sum(
        unicodedata.category(chr(cp)) not in ("Cn", "Co", "Cs") for cp in range(0x110000)
    )
    emoji_bits = " ".join(f"{b:08b}" for b in "😀".encode("utf-8"))
    page = _page("chapters/utf8").get_text()
    source = (ROOT / "chapters" / "utf8.md").read_text(encoding="utf-8")
    assert f"{assigned:,}" in page and f"{assigned:,}" not in source
    assert emoji_bits in page and emoji_bits not in source


def test_the_exercise_notebook_is_linked_and_downloadable(build):
    links = [a["href"] for a in _page("chapters/utf8").select("a") if a.get("href", "").endswith("utf8.ipynb")]
    assert links, "the UTF-8 chapter does not link to its exercise"
    downloaded = (HTML / "chapters" / links[0]).resolve()
    assert downloaded.read_bytes() == (ROOT / "exercises" / "utf8" / "utf8.ipynb").read_bytes()


def test_bpe_chapter_shows_gpt2_ids_computed_at_build_time(build):
    """The ids of a string with leading spaces (which the notes get wrong) come from running gpt2."""
    from tokbook.encodings import get_encoding

    ids = str(get_encoding("gpt2").encode("    hello world!!!"))
    source = (ROOT / "chapters" / "bpe.md").read_text(encoding="utf-8")
    assert ids in _page("chapters/bpe").get_text() and ids not in source


def test_attention_chapter_shows_vocabulary_sizes_read_from_the_model_files(build):
    """The cost table's vocabulary sizes come from tiktoken's and mistral-common's files, not the source."""
    from tokbook.attention import openai_vocabulary_sizes
    from tokbook.sentencepiece import SentencePieceProcessor
    from tokbook.sentencepiece.model import mistral_model_file

    sizes = [*openai_vocabulary_sizes().values(),
             *(SentencePieceProcessor(mistral_model_file(v)).vocab_size() for v in ("v1", "v3"))]
    page = _page("chapters/attention").get_text()
    source = (ROOT / "chapters" / "attention.md").read_text(encoding="utf-8")
    for n in sizes:
        assert f"{n:,}" in page and f"{n:,}" not in source, n


def test_special_tokens_chapter_shows_ids_read_from_the_tokenizers(build):
    """The end-of-text id of each tiktoken encoding (which the notes get wrong) and the ids of
    'Hello world' come from running the encodings; none of them is typed into the source."""
    from tokbook.encodings import get_encoding

    page = _page("chapters/special_tokens").get_text()
    source = (ROOT / "chapters" / "special_tokens.md").read_text(encoding="utf-8")
    for name in ["cl100k_base", "o200k_base"]:
        eot = str(get_encoding(name).eot_token)
        assert eot in page and eot not in source, name
    hello = str(get_encoding("gpt2").encode("Hello world"))
    assert hello in page and hello not in source


def test_sentencepiece_chapter_shows_mistral_ids_computed_at_build_time(build):
    """The Korean example's ids come from running Mistral's real model, and are not typed in the source."""
    import sentencepiece as spm

    from tokbook.sentencepiece import mistral_model_file

    ids = str(spm.SentencePieceProcessor(model_file=str(mistral_model_file("v1"))).encode("hello 안녕하세요"))
    source = (ROOT / "chapters" / "sentencepiece.md").read_text(encoding="utf-8")
    assert ids in _page("chapters/sentencepiece").get_text() and ids not in source


def test_packing_chapter_runs_the_proof_and_the_window_check_live(build):
    """The packed-equals-unpacked table and the tail the notes' window loop drops are computed on
    the page: the correct packing equals the documents alone, the maskless one does not."""
    page = _page("chapters/packing")
    rows = {}
    for table in page.select("table"):
        header = [th.get_text(strip=True) for th in table.select("thead th")]
        if header[:2] == ["positions", "packed with"]:
            for tr in table.select("tbody tr"):
                cells = [td.get_text(strip=True) for td in tr.select("td")]
                rows[cells[0], cells[1]] = cells[-1]
    assert rows[("learned", "block mask + position reset")] == rows[("rope", "block mask + position reset")] == "yes"
    assert rows[("learned", "no block mask (plain causal)")] == rows[("learned", "no position reset (0..T-1)")] == "no"
    assert rows[("rope", "no position reset (0..T-1)")] == "yes"
    assert "positions the notes' loop leaves out: [23, 24]" in _outputs("chapters/packing")
