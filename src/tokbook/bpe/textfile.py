"""Reading a UTF-8 text file in blocks, exactly as it is written (``\\r\\n`` stays ``\\r\\n``),
with errors that say which file and which byte is wrong.
"""

from __future__ import annotations

import codecs
import os
from collections.abc import Iterator
from pathlib import Path

__all__ = ["BLOCK_BYTES", "read_blocks"]

#: Bytes read at a time.
BLOCK_BYTES = 1 << 20


def read_blocks(path: str | os.PathLike, block_bytes: int = BLOCK_BYTES) -> Iterator[str]:
    """Yield the text of the UTF-8 file at ``path`` in blocks of about ``block_bytes`` bytes
    (a character cut by the end of a block moves to the next one).

    Raises FileNotFoundError or IsADirectoryError for a path that is not a file, and
    ValueError naming the file and the offset of the first byte that is not UTF-8.

    >>> import tempfile
    >>> with tempfile.NamedTemporaryFile(suffix=".txt", delete=False) as f:
    ...     _ = f.write("añ€😀\\r\\n".encode())
    >>> list(read_blocks(f.name, block_bytes=3))
    ['añ', '€', '😀\\r\\n']
    >>> with open(f.name, "wb") as g:
    ...     _ = g.write("añ€".encode() + b"\\xff")
    >>> list(read_blocks(f.name, block_bytes=3))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ValueError: ....txt is not UTF-8 text: byte 6 (0xff) cannot start a character; convert it to UTF-8 first (for example with iconv)
    >>> os.remove(f.name)
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a directory, not a text file")
    if not path.exists():
        raise FileNotFoundError(f"there is no file {path}")
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = 0  # bytes of the file given to the decoder so far
    with open(path, "rb") as f:
        while True:
            block = f.read(block_bytes)
            held = len(decoder.getstate()[0])  # the start of a character cut by the last block
            try:
                text = decoder.decode(block, final=not block)
            except UnicodeDecodeError as exc:
                raise ValueError(f"{path} is not UTF-8 text: {_what_is_wrong(exc, offset - held)}; "
                                 "convert it to UTF-8 first (for example with iconv)") from None
            if text:
                yield text
            if not block:
                return
            offset += len(block)


def _what_is_wrong(exc: UnicodeDecodeError, start: int) -> str:
    """Say where a decoding error is in the file; ``start`` is the file offset of ``exc.object``."""
    at, byte = start + exc.start, exc.object[exc.start]
    if exc.reason == "invalid start byte":
        return f"byte {at} (0x{byte:02x}) cannot start a character"
    if exc.reason == "unexpected end of data":
        return f"the file ends inside the character that starts at byte {at} (0x{byte:02x})"
    return f"the character that starts at byte {at} (0x{byte:02x}) is cut short ({exc.reason})"
