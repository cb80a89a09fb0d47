"""The audit trail: what ran, on what, with which versions, and when."""

from __future__ import annotations

import hashlib
import os
import platform
from collections.abc import Sequence
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

from audit.core.errors import UsageError
from audit.core.result import FileInfo

TRACKED_PACKAGES = ("rai-audit", "numpy", "pandas", "scikit-learn", "fairlearn", "torch", "skops")


def file_info(path: Path) -> FileInfo:
    """SHA-256 and size of a file; of a folder (an MLflow model directory), a hash over its
    files' relative paths and hashes in sorted order, and their total size."""
    if path.is_dir():
        files = sorted(
            (part.relative_to(path).as_posix(), part) for part in path.rglob("*") if part.is_file()
        )
        return _combined(path, files)
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return FileInfo(path=str(path), sha256=digest.hexdigest(), bytes=path.stat().st_size)


def dataset_info(data: Path, files: Sequence[Path]) -> FileInfo:
    """``file_info`` of one file; of a partitioned dataset, a hash over its files' names and
    hashes in order, and their total size."""
    if len(files) == 1 and files[0] == data:
        return file_info(data)
    return _combined(data, [(path.name, path) for path in files])


def _combined(root: Path, files: Sequence[tuple[str, Path]]) -> FileInfo:
    """One hash over named files: each name and its file's hash, in the order given."""
    digest = hashlib.sha256()
    size = 0
    for name, path in files:
        part = file_info(path)
        digest.update(f"{name}\0{part.sha256}\n".encode())
        size += part.bytes
    return FileInfo(path=str(root), sha256=digest.hexdigest(), bytes=size)


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
