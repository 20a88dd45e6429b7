"""tokbook.utf8 agrees with CPython's UTF-8 codec on every input, including every error."""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tokbook import utf8

# Bytes that matter to UTF-8: ASCII, every kind of continuation byte, every kind of lead byte.
INTERESTING = st.sampled_from(
    [0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC1, 0xC2, 0xDF, 0xE0, 0xE1,
     0xEC, 0xED, 0xEE, 0xEF, 0xF0, 0xF1, 0xF3, 0xF4, 0xF5, 0xF8, 0xFE, 0xFF]
)
NEAR_UTF8 = st.lists(INTERESTING, max_size=24).map(bytes)
ANY_BYTES = st.one_of(st.binary(max_size=64), NEAR_UTF8, st.text().map(str.encode))


def cpython_outcome(data: bytes):
    try:
        return ("ok", data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        return ("error", exc.start, exc.end, exc.reason)


def our_outcome(data: bytes):
    try:
        return ("ok", utf8.decode(data))
    except UnicodeDecodeError as exc:
        assert exc.encoding == "utf-8" and exc.object == data
        return ("error", exc.start, exc.end, exc.reason)


@given(st.text())
def test_encode_matches_cpython_on_any_text(text):
    assert utf8.encode(text) == text.encode("utf-8")


@given(st.integers(0, utf8.MAX_CODE_POINT).filter(lambda cp: not 0xD800 <= cp <= 0xDFFF))
@example(0x7F)
@example(0x80)
@example(0x7FF)
@example(0x800)
@example(0xFFFF)
@example(0x10000)
@example(0x10FFFF)
def test_encode_codepoint_matches_cpython_at_every_code_point(cp):
    got = utf8.encode_codepoint(cp)
    assert got == chr(cp).encode("utf-8")
    assert len(got) == utf8.sequence_length(cp)


@settings(max_examples=500)
@given(ANY_BYTES)
@example(b"\xed\xa0\x80")
@example(b"\xf4\x90\x80\x80")
@example(b"\xe0\x80\x80")
@example(b"\xf0\x9f\x98")
def test_strict_decode_matches_cpython_on_any_bytes(data):
    assert our_outcome(data) == cpython_outcome(data)


@settings(max_examples=500)
@given(ANY_BYTES)
def test_replace_matches_cpython_on_any_bytes(data):
    assert utf8.decode(data, errors="replace") == data.decode("utf-8", "replace")


@given(st.text())
def test_round_trip(text):
    assert utf8.decode(utf8.encode(text)) == text


@pytest.mark.parametrize("data", [bytearray(b"caf\xc3\xa9"), memoryview(b"caf\xc3\xa9")])
def test_decode_accepts_bytes_like(data):
    assert utf8.decode(data) == "café"


@pytest.mark.parametrize(
    "cp, error, words",
    [
        (0xD800, ValueError, "surrogate"),
        (0xDFFF, ValueError, "surrogate"),
        (0x110000, ValueError, "0x10FFFF"),
        (-1, ValueError, "0x10FFFF"),
        ("A", TypeError, r"pass ord\(c\)"),
        (65.0, TypeError, "int"),
        (True, TypeError, "int"),
    ],
)
def test_encode_codepoint_rejects_what_is_not_a_character(cp, error, words):
    with pytest.raises(error, match=words):
        utf8.encode_codepoint(cp)


def test_encode_rejects_lone_surrogates_like_cpython():
    with pytest.raises(UnicodeEncodeError) as ours:
        utf8.encode("ab\udc80c")
    with pytest.raises(UnicodeEncodeError) as theirs:
        "ab\udc80c".encode("utf-8")
    assert (ours.value.start, ours.value.end, ours.value.reason) == (
        theirs.value.start, theirs.value.end, theirs.value.reason)


def test_bad_arguments_say_what_to_pass():
    with pytest.raises(TypeError, match="use decode"):
        utf8.encode(b"bytes")
    with pytest.raises(TypeError, match="use encode"):
        utf8.decode("text")
    with pytest.raises(ValueError, match="'strict', 'replace'"):
        utf8.decode(b"x", errors="ignore")


@pytest.mark.parametrize("original", ["café", "Árbol", "Tōkyō", "€5 😀", "“quotes”", "plain"])
def test_repair_mojibake_undoes_a_browser_style_misreading(original):
    # The WHATWG decoder maps cp1252's five undefined bytes to U+0081 etc.
    broken = "".join(bytes([b]).decode("cp1252", "ignore") or chr(b) for b in original.encode())
    assert utf8.repair_mojibake(broken) == original


@pytest.mark.parametrize("text", ["café", "\u4e00", "Ã"])
def test_repair_mojibake_refuses_text_that_is_not_mojibake(text):
    with pytest.raises(ValueError, match="not mojibake"):
        utf8.repair_mojibake(text)


def test_repair_mojibake_other_wrong_encodings():
    broken = "naïve".encode().decode("mac_roman")
    assert utf8.repair_mojibake(broken, wrong_encoding="mac_roman") == "naïve"
    # Mac Roman defines every byte, so no character below U+0100 may slip through unencoded.
    with pytest.raises(ValueError, match="cannot come from decoding bytes as mac_roman"):
        utf8.repair_mojibake("Ã¼", wrong_encoding="mac_roman")
