"""The audit trail: what ran, on what, with which versions, and when."""

from __future__ import annotations

import hashlib
import os
import platform
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from types import TracebackType

from audit.core.errors import UsageError
from audit.core.result import FileInfo

TRACKED_PACKAGES = ("rai-audit", "numpy", "pandas", "scikit-learn", "fairlearn", "torch", "skops")


class _Stopped(Exception):
    """Raised inside a hash that was told to stop; its future is never read."""


def file_info(path: Path, stop: threading.Event | None = None) -> FileInfo:
    """SHA-256 and size of a file; of a folder (an MLflow model directory), a hash over its
    files' relative paths and hashes in sorted order, and their total size. ``stop``, once
    set, ends the hash at its next 1 MiB block (``_Stopped``)."""
    if path.is_dir():
        files = sorted(
            (part.relative_to(path).as_posix(), part) for part in path.rglob("*") if part.is_file()
        )
        return _combined(path, files, stop)
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            if stop is not None and stop.is_set():
                raise _Stopped(str(path))
            digest.update(block)
    return FileInfo(path=str(path), sha256=digest.hexdigest(), bytes=path.stat().st_size)


def dataset_info(
    data: Path, files: Sequence[Path], stop: threading.Event | None = None
) -> FileInfo:
    """``file_info`` of one file; of a partitioned dataset, a hash over its files' names and
    hashes in order, and their total size."""
    if len(files) == 1 and files[0] == data:
        return file_info(data, stop)
    return _combined(data, [(path.name, path) for path in files], stop)


def _combined(
    root: Path, files: Sequence[tuple[str, Path]], stop: threading.Event | None
) -> FileInfo:
    """One hash over named files: each name and its file's hash, in the order given."""
    digest = hashlib.sha256()
    size = 0
    for name, path in files:
        part = file_info(path, stop)
        digest.update(f"{name}\0{part.sha256}\n".encode())
        size += part.bytes
    return FileInfo(path=str(root), sha256=digest.hexdigest(), bytes=size)


class TrailDigests:
    """The trail's hashes of the data and the model file, computed on a thread of their own
    while the audit reads, prepares and runs. The hashing starts when the object is made;
    use it as a context manager, whose exit ends the thread.

    Started before the data is read: reading a CSV takes one core, and hashlib and file
    reads release the GIL, so the hashes (0.06 s for 1M rows of CSV) take the core that the
    read leaves idle instead of one the stages use. An error that leaves the ``with`` block
    (bad input found while preparing) stops the hashes at their next 1 MiB block, so it is
    reported at once, however large the file.
    """

    def __init__(
        self, data: Path, data_files: Callable[[], Sequence[Path]], model: Path | None
    ) -> None:
        self._stop = threading.Event()
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="rai-digest")
        # ``data_files`` lists a partitioned dataset; a bad path raises there and again, for
        # the user, when the audit reads the data, so this future's error is never read.
        self._data: Future[FileInfo] = self._pool.submit(
            lambda: dataset_info(data, data_files(), self._stop)
        )
        self._model = self._pool.submit(file_info, model, self._stop) if model else None

    def __enter__(self) -> TrailDigests:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if kind is not None:
            self._stop.set()
        self._pool.shutdown(wait=True, cancel_futures=True)

    def data(self) -> FileInfo:
        return self._data.result()

    def model(self) -> FileInfo | None:
        return self._model.result() if self._model else None


def versions(runtime: Sequence[str] = ()) -> dict[str, str]:
    """Python's and each tracked package's version, then those of the packages that ran the
    model (``LoadedModel.runtime``)."""
    found = {"python": platform.python_version()}
    for package in dict.fromkeys((*TRACKED_PACKAGES, *runtime)):
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = "not installed"
    return found


def tool_version() -> str:
    try:
        return metadata.version("rai-audit")
    except metadata.PackageNotFoundError:
        return "unknown"


def started_at() -> str:
    """Now, or SOURCE_DATE_EPOCH when set, so that reproducible builds get identical reports."""
    epoch = source_date_epoch()
    moment = datetime.fromtimestamp(epoch, UTC) if epoch is not None else datetime.now(UTC)
    return moment.isoformat(timespec="seconds")


def source_date_epoch() -> int | None:
    """SOURCE_DATE_EPOCH (whole seconds since 1970 UTC), None when unset or empty."""
    text = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if not text:
        return None
    fix = "set it to whole seconds since 1970, e.g. $(git log -1 --format=%ct), or unset it"
    if not text.isdigit():
        raise UsageError(f"SOURCE_DATE_EPOCH={text[:40]!r} is not a number of seconds; {fix}")
    try:
        datetime.fromtimestamp(int(text), UTC)
    except (OverflowError, OSError, ValueError) as exc:
        raise UsageError(f"SOURCE_DATE_EPOCH={text[:40]!r} is out of range; {fix}") from exc
    return int(text)


def platform_name() -> str:
    return f"{platform.system()} {platform.machine()}"
