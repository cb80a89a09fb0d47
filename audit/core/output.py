"""Writing reports: atomically, and never over a file the audit read."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path

from audit.core.errors import OutputError


def check_output_dir(out_dir: Path, inputs: Iterable[Path]) -> None:
    """Refuse an --out that is a file or would put a report over an input; call before work."""
    resolved_inputs = {path.resolve() for path in inputs}
    if out_dir.exists() and not out_dir.is_dir():
        what = "an input file" if out_dir.resolve() in resolved_inputs else "a file"
        raise OutputError(
            f"--out {out_dir} is {what}, not a directory; name a directory for the reports"
        )


def _umask() -> int:
    # The umask can only be read by setting it; set it back at once.
    current = os.umask(0o022)
    os.umask(current)
    return current


def atomic_write(path: Path, text: str) -> None:
    """Write a temporary file beside ``path``, then rename: readers never see half a report."""
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        # mkstemp makes the file private (0600); a report gets the mode any new file would.
        os.chmod(temporary, 0o666 & ~_umask())
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_outputs(out_dir: Path, files: Mapping[str, str], inputs: Iterable[Path]) -> list[Path]:
    """Write each ``name -> text`` into ``out_dir``; refuse to replace an input file."""
    input_list = list(inputs)
    check_output_dir(out_dir, input_list)
    resolved_inputs = {path.resolve() for path in input_list}
    targets = [out_dir / name for name in files]
    for target in targets:
        if target.resolve() in resolved_inputs:
            raise OutputError(f"{target} is an input of this audit; choose another --out directory")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(
            f"--out {out_dir}: cannot create it ({exc.strerror}); choose another directory"
        ) from exc
    for target, text in zip(targets, files.values(), strict=True):
        try:
            atomic_write(target, text)
        except OSError as exc:
            raise OutputError(f"{target}: cannot write it ({exc.strerror}); check --out") from exc
    return targets
