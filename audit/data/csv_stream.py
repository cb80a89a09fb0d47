"""A CSV file's bytes, decompressed when it is gzip, with the memory a read may take bounded.

pandas' parser holds a whole line in memory and has no limit of its own: a file that is one
line of gigabytes (a 50 MB line without a newline, a gzip bomb of one value) ends in a
MemoryError after minutes, and a gzip bomb of short lines fills memory row by row. The bytes
are checked a buffer at a time, so a line past ``MAX_LINE_BYTES`` or a file that expands
more than ``MAX_EXPANSION`` times is a DataError naming the file.
"""

from __future__ import annotations

import gzip
import io
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, cast

from audit.core.errors import DataError

# A table row longer than this is not a row: a binary file, an unclosed quote or a bomb.
MAX_LINE_BYTES = 16 << 20
# CSV text compresses 3-20 times with gzip; a file that expands more, past the floor, is a
# decompression bomb or belongs in a streamed audit after decompressing it knowingly.
MAX_EXPANSION = 200
EXPANSION_FLOOR = 1 << 30
BUFFER_BYTES = 1 << 20


class _BoundedBytes(io.RawIOBase):
    """A file's bytes, counted: a DataError past the expansion bound or the line bound.

    ``count_lines``: keep the number of lines begun (``lines_seen``) as the bytes pass.
    Counting every newline costs four times as long as finding the first and last of each
    buffer, which is all the bound needs, so without it a long line's number is counted
    only for its error message, from the file again.
    """

    def __init__(
        self, raw: BinaryIO, path: Path, compressed: int | None, count_lines: bool = False
    ) -> None:
        self._raw = raw
        self._path = path
        self._limit = (
            max(EXPANSION_FLOOR, MAX_EXPANSION * compressed) if compressed is not None else None
        )
        self._count_lines = count_lines
        self._total = 0
        self._line_start = 0  # offset of the current line's first byte
        self._lines = 1

    @property
    def lines_seen(self) -> int:
        """Lines begun so far (with ``count_lines``): one more than the newlines checked."""
        return self._lines

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        read = self._raw.readinto(buffer)  # type: ignore[attr-defined]
        if read:
            chunk = bytes(memoryview(buffer)[:read])
            self.check(chunk, read)
        return int(read or 0)

    def check(self, buffer: bytes | bytearray, size: int) -> None:
        """Count ``buffer[:size]``, the next bytes of the file; a DataError past a bound."""
        start = self._total
        self._total += size
        if self._limit is not None and self._total > self._limit:
            raise DataError(
                f"{self._path}: expands to more than {self._limit >> 20:,} MiB, over "
                f"{MAX_EXPANSION} times its compressed size (a decompression bomb?); if the "
                "data is genuine, decompress it yourself and audit it with --chunk-rows"
            )
        first = buffer.find(b"\n", 0, size)
        longest = start - self._line_start + (size if first < 0 else first)
        if longest > MAX_LINE_BYTES:
            raise DataError(
                f"{self._path}: line {self._line_number():,} is longer than "
                f"{MAX_LINE_BYTES >> 20} MiB (no newline); a CSV row is never that long: check "
                "that this is a CSV file and that its quotes are closed"
            )
        if first >= 0:
            if self._count_lines:
                self._lines += buffer.count(b"\n", 0, size)
            self._line_start = start + buffer.rfind(b"\n", 0, size) + 1

    def _line_number(self) -> int:
        """The number of the line being read: one more than the newlines before it."""
        if self._count_lines:
            return self._lines
        newlines, left = 0, self._line_start
        with _open_bytes(self._path) as again:
            while left > 0:
                block = again.read(min(left, BUFFER_BYTES))
                newlines += block.count(b"\n")
                left -= len(block)
        return newlines + 1

    def close(self) -> None:
        self._raw.close()
        super().close()


def _is_gzip(path: Path) -> bool:
    return path.name.lower().endswith(".gz")


def _open_bytes(path: Path) -> BinaryIO:
    """The file's bytes, decompressed when it is gzip."""
    return cast(BinaryIO, gzip.open(path, "rb") if _is_gzip(path) else path.open("rb"))


@contextmanager
def bounded_csv(path: Path, whole: bool, lines: int | None = None) -> Iterator[Path | BinaryIO]:
    """What ``pandas.read_csv(..., compression=None)`` should read: the path of a plain file
    whose lines were checked, or a gzip file's bytes checked as they are decompressed.

    pandas reads a path several times faster than any Python file object, so a plain file is
    scanned once before (a ``find`` per MiB, about 0.03 s per 100 MB) instead of passing
    through here. ``whole``: the rows are all read into memory, so a gzip file's expansion is
    bounded too; a streamed read holds one chunk at a time and bounds only its lines.
    ``lines``: the parser reads only this many lines (a header, the first rows), so the scan
    stops after them instead of reading the whole file.
    """
    if not _is_gzip(path):
        # One buffer, filled again and again: a new one per read costs fresh pages each time.
        buffer = bytearray(BUFFER_BYTES)
        with path.open("rb", buffering=0) as plain:
            checker = _BoundedBytes(plain, path, None, count_lines=lines is not None)
            while size := plain.readinto(buffer):
                checker.check(buffer, size)
                if lines is not None and checker.lines_seen > lines:
                    break
        yield path
        return
    compressed = path.stat().st_size if whole else None
    # The buffered reader closes the bounded stream, which closes the file.
    raw = _open_bytes(path)
    with io.BufferedReader(_BoundedBytes(raw, path, compressed), BUFFER_BYTES) as handle:
        yield cast(BinaryIO, handle)
