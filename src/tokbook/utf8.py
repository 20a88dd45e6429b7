"""UTF-8 by hand: code points to bytes and back, with CPython's error model.

UTF-8 writes each Unicode code point (0 to 0x10FFFF) as 1 to 4 bytes:

============================  =========  =========================================
code points                   bytes      bit layout (x = bits of the code point)
============================  =========  =========================================
U+0000 .. U+007F              1          ``0xxxxxxx``
U+0080 .. U+07FF              2          ``110xxxxx 10xxxxxx``
U+0800 .. U+FFFF              3          ``1110xxxx 10xxxxxx 10xxxxxx``
U+10000 .. U+10FFFF           4          ``11110xxx 10xxxxxx 10xxxxxx 10xxxxxx``
============================  =========  =========================================

The surrogates U+D800..U+DFFF are not characters and have no UTF-8 form. A decoder must reject
*overlong* forms (a code point written with more bytes than it needs, such as ``C0 80`` for
U+0000), surrogates, values above U+10FFFF, sequences cut short, and continuation bytes
(``10xxxxxx``) that do not follow a lead byte.

:func:`decode` with ``errors="replace"`` follows the Unicode Standard's "maximal subpart" practice
(chapter 3, "U+FFFD Substitution of Maximal Subparts"), which is exactly what
``bytes.decode("utf-8", "replace")`` does: each maximal prefix of a valid sequence, or else each
single bad byte, becomes one U+FFFD.

>>> encode("€")
b'\\xe2\\x82\\xac'
>>> decode(b"\\xe2\\x82\\xac")
'€'
>>> decode(b"caf\\xc3", errors="replace")
'caf�'
"""

from __future__ import annotations

__all__ = [
    "MAX_CODE_POINT",
    "REPLACEMENT_CHARACTER",
    "decode",
    "encode",
    "encode_codepoint",
    "repair_mojibake",
    "sequence_length",
]

MAX_CODE_POINT = 0x10FFFF
REPLACEMENT_CHARACTER = "\ufffd"
_SURROGATES = range(0xD800, 0xE000)
_ERROR_MODES = ("strict", "replace")


def sequence_length(cp: int) -> int:
    """Return how many bytes UTF-8 uses for the code point ``cp`` (1, 2, 3 or 4).

    >>> [sequence_length(ord(c)) for c in "aé€😀"]
    [1, 2, 3, 4]
    """
    _check_codepoint(cp)
    if cp < 0x80:
        return 1
    if cp < 0x800:
        return 2
    if cp < 0x10000:
        return 3
    return 4


def encode_codepoint(cp: int) -> bytes:
    """Return the UTF-8 bytes of one code point.

    >>> encode_codepoint(0x41)
    b'A'
    >>> encode_codepoint(0xE9).hex(" ")
    'c3 a9'
    >>> encode_codepoint(0x1F600).hex(" ")
    'f0 9f 98 80'
    >>> encode_codepoint(0xD800)
    Traceback (most recent call last):
    ...
    ValueError: U+D800 is a surrogate (U+D800..U+DFFF); surrogates are not characters and UTF-8 cannot encode them
    """
    n = sequence_length(cp)  # validates cp
    if n == 1:
        return bytes([cp])
    # The lead byte holds n one-bits, a zero, then the highest bits of cp; each continuation
    # byte is 10xxxxxx and holds the next six bits, most significant first.
    lead_marker = (0xF00 >> n) & 0xFF  # n=2: 0xC0, n=3: 0xE0, n=4: 0xF0
    out = bytearray(n)
    for i in range(n - 1, 0, -1):
        out[i] = 0x80 | (cp & 0x3F)
        cp >>= 6
    out[0] = lead_marker | cp
    return bytes(out)


def encode(text: str) -> bytes:
    """Return the UTF-8 encoding of ``text``, exactly as ``text.encode("utf-8")``.

    A lone surrogate in ``text`` raises :class:`UnicodeEncodeError`, as CPython does.

    >>> encode("héllo")
    b'h\\xc3\\xa9llo'
    >>> encode("a\\ud800")
    Traceback (most recent call last):
    ...
    UnicodeEncodeError: 'utf-8' codec can't encode character '\\ud800' in position 1: surrogates not allowed
    """
    if not isinstance(text, str):
        raise TypeError(
            f"encode() takes a str, not {type(text).__name__}; to decode bytes use decode()"
        )
    out = bytearray()
    for i, ch in enumerate(text):
        cp = ord(ch)
        if cp in _SURROGATES:
            raise UnicodeEncodeError("utf-8", text, i, i + 1, "surrogates not allowed")
        out += encode_codepoint(cp)
    return bytes(out)


def _continuation_range(lead: int) -> tuple[int, range] | None:
    """For a lead byte, the number of continuation bytes it needs and the allowed second byte.

    The second byte's narrower ranges are what rule out overlong forms (E0, F0), surrogates (ED)
    and values above U+10FFFF (F4). Returns None for a byte that cannot start a sequence:
    continuation bytes 80..BF, C0 and C1 (only ever overlong) and F5..FF (beyond U+10FFFF).
    """
    if 0xC2 <= lead <= 0xDF:
        return 1, range(0x80, 0xC0)
    if lead == 0xE0:
        return 2, range(0xA0, 0xC0)
    if lead == 0xED:
        return 2, range(0x80, 0xA0)
    if 0xE1 <= lead <= 0xEF:
        return 2, range(0x80, 0xC0)
    if lead == 0xF0:
        return 3, range(0x90, 0xC0)
    if lead == 0xF4:
        return 3, range(0x80, 0x90)
    if 0xF1 <= lead <= 0xF3:
        return 3, range(0x80, 0xC0)
    return None


def decode(data: bytes | bytearray | memoryview, errors: str = "strict") -> str:
    """Decode UTF-8 ``data`` exactly as ``bytes(data).decode("utf-8", errors)`` does.

    ``errors="strict"`` raises :class:`UnicodeDecodeError` with CPython's ``start``, ``end`` and
    ``reason``; ``errors="replace"`` puts one U+FFFD for each maximal invalid subpart.

    >>> decode(b"\\xf0\\x9f\\x98\\x80")
    '😀'
    >>> decode(b"\\xc0\\x80", errors="replace")  # overlong NUL: two bad bytes, two U+FFFD
    '��'
    >>> decode(b"\\xe2\\x82(", errors="replace")  # a cut-short euro sign: one U+FFFD
    '�('
    >>> decode(b"ab\\xe2\\x82")
    Traceback (most recent call last):
    ...
    UnicodeDecodeError: 'utf-8' codec can't decode bytes in position 2-3: unexpected end of data
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(
            f"decode() takes bytes, not {type(data).__name__}; to encode text use encode()"
        )
    if errors not in _ERROR_MODES:
        raise ValueError(f"errors must be one of {_ERROR_MODES}, not {errors!r}")
    data = bytes(data)
    out: list[str] = []
    i, n = 0, len(data)
    while i < n:
        lead = data[i]
        if lead < 0x80:
            out.append(chr(lead))
            i += 1
            continue
        shape = _continuation_range(lead)
        if shape is None:
            end, reason = i + 1, "invalid start byte"
        else:
            needed, second = shape
            cp = lead & (0x3F >> needed)  # the payload bits of the lead byte
            j = i + 1
            reason = ""
            for k in range(needed):
                if j == n:
                    reason = "unexpected end of data"
                    break
                byte = data[j]
                allowed = second if k == 0 else range(0x80, 0xC0)
                if byte not in allowed:
                    reason = "invalid continuation byte"
                    break
                cp = (cp << 6) | (byte & 0x3F)
                j += 1
            if not reason:
                out.append(chr(cp))
                i = j
                continue
            end = j  # the maximal subpart is data[i:j]; the offending byte (if any) is not in it
        if errors == "strict":
            raise UnicodeDecodeError("utf-8", data, i, end, reason)
        out.append(REPLACEMENT_CHARACTER)
        i = end
    return "".join(out)


def repair_mojibake(text: str, *, wrong_encoding: str = "cp1252") -> str:
    """Undo one round of mojibake: UTF-8 bytes that were wrongly decoded as ``wrong_encoding``.

    Re-encoding with the wrong codec recovers the original bytes, which are then decoded as
    UTF-8. Windows-1252 leaves bytes 81, 8D, 8F, 90 and 9D undefined; the WHATWG Encoding
    Standard, which browsers follow, decodes them as the control characters U+0081, U+008D, ...,
    so a code point below U+0100 whose byte the codec leaves undefined maps back to that byte.

    >>> repair_mojibake("cafÃ© â‚¬5")
    'café €5'
    >>> repair_mojibake("Ã\\x81rbol")  # Á is C3 81, and 81 is undefined in cp1252
    'Árbol'
    >>> repair_mojibake("Ã¼", wrong_encoding="mac_roman")
    Traceback (most recent call last):
    ...
    ValueError: the text is not mojibake of UTF-8 decoded as mac_roman: '¼' (U+00BC) cannot come from decoding bytes as mac_roman
    >>> repair_mojibake("café")
    Traceback (most recent call last):
    ...
    ValueError: the text is not mojibake of UTF-8 decoded as cp1252: re-encoding gives bytes that are not valid UTF-8 ('utf-8' codec can't decode byte 0xe9 in position 3: unexpected end of data)
    """
    if not isinstance(text, str):
        raise TypeError(f"repair_mojibake() takes a str, not {type(text).__name__}")
    raw = bytearray()
    for ch in text:
        try:
            raw += ch.encode(wrong_encoding)
        except UnicodeEncodeError:
            if ord(ch) < 0x100 and _undefined_byte(ord(ch), wrong_encoding):
                raw.append(ord(ch))
            else:
                raise ValueError(
                    f"the text is not mojibake of UTF-8 decoded as {wrong_encoding}: "
                    f"{ch!r} (U+{ord(ch):04X}) cannot come from decoding bytes as {wrong_encoding}"
                ) from None
    try:
        return decode(raw)
    except UnicodeDecodeError as exc:
        raise ValueError(
            f"the text is not mojibake of UTF-8 decoded as {wrong_encoding}: re-encoding gives "
            f"bytes that are not valid UTF-8 ({exc})"
        ) from None


def _undefined_byte(byte: int, encoding: str) -> bool:
    """True if ``encoding`` assigns no character to the single byte ``byte``."""
    try:
        bytes([byte]).decode(encoding)
    except UnicodeDecodeError:
        return True
    return False


def _check_codepoint(cp: int) -> None:
    if isinstance(cp, bool) or not isinstance(cp, int):
        raise TypeError(
            f"a code point is an int, not {type(cp).__name__}; for a character c pass ord(c)"
        )
    if not 0 <= cp <= MAX_CODE_POINT:
        raise ValueError(
            f"{cp:#x} is not a code point; code points run from 0 to 0x10FFFF"
        )
    if cp in _SURROGATES:
        raise ValueError(
            f"U+{cp:04X} is a surrogate (U+D800..U+DFFF); surrogates are not characters "
            "and UTF-8 cannot encode them"
        )
