"""The line bound on a CSV's bytes: a line past it is a DataError naming its line number,
wherever it falls among the buffers, in a plain file and a gzip one, whether or not the
newlines were counted as the bytes passed."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

import audit.data.csv_stream as csv_stream
from audit.core.errors import DataError
from audit.data.csv_stream import bounded_csv


@pytest.fixture(autouse=True)
def small_bounds(monkeypatch: pytest.MonkeyPatch) -> None:
    # Buffers of 64 bytes and a bound of 200: many buffers per line, as 1 MiB and 16 MiB are.
    monkeypatch.setattr(csv_stream, "BUFFER_BYTES", 64)
    monkeypatch.setattr(csv_stream, "MAX_LINE_BYTES", 200)


def write(tmp_path: Path, name: str, lines: list[bytes]) -> Path:
    path = tmp_path / name
    data = b"".join(lines)
    path.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
    return path


def consume(path: Path, whole: bool, lines: int | None = None) -> None:
    with bounded_csv(path, whole, lines) as source:
        if not isinstance(source, Path):
            while source.read(50):
                pass


ROWS = [b"a,b\n", *(f"{index},{'x' * (index % 90)}\n".encode() for index in range(40))]


@pytest.mark.parametrize("name", ["data.csv", "data.csv.gz"])
@pytest.mark.parametrize("whole", [True, False])
@pytest.mark.parametrize("position", [0, 1, 17, 41])
def test_a_long_line_is_named_by_its_number(
    tmp_path: Path, name: str, whole: bool, position: int
) -> None:
    long = b"7," + b"y" * 260 + (b"\n" if position < len(ROWS) else b"")
    path = write(tmp_path, name, [*ROWS[:position], long, *ROWS[position:]])
    with pytest.raises(DataError, match=rf"line {position + 1} is longer than 0 MiB"):
        consume(path, whole)


@pytest.mark.parametrize("name", ["data.csv", "data.csv.gz"])
def test_lines_at_the_bound_pass(tmp_path: Path, name: str) -> None:
    at_bound = b"1," + b"z" * 198 + b"\n"  # 200 bytes before its newline
    consume(write(tmp_path, name, [*ROWS, at_bound, at_bound, *ROWS]), whole=True)


def test_a_read_of_the_first_lines_stops_before_a_later_long_line(tmp_path: Path) -> None:
    path = write(tmp_path, "data.csv", [*ROWS[:5], b"1," + b"y" * 400 + b"\n"])
    consume(path, whole=True, lines=5)
    with pytest.raises(DataError, match="line 6 is longer"):
        consume(path, whole=True, lines=6)
