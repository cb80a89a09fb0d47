"""The trail's file hashes, computed beside the audit from its start (audit.core.trail)."""

from __future__ import annotations

import hashlib
import threading
import time
from pathlib import Path

import pytest

from audit.core.errors import DataError
from audit.core.trail import TrailDigests
from audit.stream.dataset import partition_files


def _digest_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name.startswith("rai-digest")]


def test_a_file_and_a_model_are_hashed_whole(tmp_path: Path) -> None:
    data, model = tmp_path / "data.csv", tmp_path / "model.pt"
    data.write_bytes(b"a,b\n1,2\n" * 300_000)  # over two of the hash's 1 MiB blocks
    model.write_bytes(b"weights")
    with TrailDigests(data, lambda: partition_files(data), model) as digests:
        found, model_found = digests.data(), digests.model()
    assert found.sha256 == hashlib.sha256(data.read_bytes()).hexdigest()
    assert found.bytes == data.stat().st_size and found.path == str(data)
    assert model_found is not None
    assert model_found.sha256 == hashlib.sha256(b"weights").hexdigest()
    assert not _digest_threads()


def test_a_partitioned_dataset_is_hashed_over_its_files_names_and_hashes(tmp_path: Path) -> None:
    root = tmp_path / "parts"
    root.mkdir()
    for name, text in (("b.csv", b"x\n2\n"), ("a.csv", b"x\n1\n")):
        (root / name).write_bytes(text)
    with TrailDigests(root, lambda: partition_files(root), None) as digests:
        found, model_found = digests.data(), digests.model()
    parts = "".join(
        f"{name}\0{hashlib.sha256((root / name).read_bytes()).hexdigest()}\n"
        for name in ("a.csv", "b.csv")
    )
    assert found.sha256 == hashlib.sha256(parts.encode()).hexdigest()
    assert found.bytes == 8 and found.path == str(root)
    assert model_found is None


def test_bad_input_found_while_preparing_does_not_wait_for_a_large_files_hash(
    tmp_path: Path,
) -> None:
    # 8 GiB of holes: a few seconds to hash whole on any machine, no disk space taken.
    large = tmp_path / "large.csv"
    with large.open("wb") as handle:
        handle.truncate(8 << 30)
    clock = time.perf_counter()
    with (
        pytest.raises(DataError, match="bad input"),
        TrailDigests(large, lambda: (large,), None),
    ):
        time.sleep(0.05)  # the hash is under way
        raise DataError("bad input")
    assert time.perf_counter() - clock < 2.0
    assert not _digest_threads()  # stopped at its next block, not left running
