"""Pickle-based model files: scanned before loading, and guarded while loading.

Loading a pickle runs whatever its imports point at. Before a ``.pkl``, ``.joblib`` or a
``torch.save`` ``.pt`` is loaded (which needs ``--trust-model``), picklescan (the scanner
Hugging Face runs on uploaded models) lists every import in the file and sorts it into
dangerous (on its blocklist: ``os.system``, ``builtins.eval``, ``subprocess``...),
suspicious (not on its safe list: model classes, sklearn estimators) and innocuous. A file
with a dangerous import is refused, even with ``--trust-model``, unless
``--allow-unsafe-imports`` names every such import. While the file then loads, each import
is checked again as the unpickler resolves it, so that an import the static scan could not
see (in a compressed or partly unreadable stream) is refused just the same.
"""

from __future__ import annotations

import bz2
import gzip
import io
import logging
import lzma
import pickle
import threading
import zlib
from collections.abc import Iterable
from dataclasses import replace
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from pathlib import Path
from types import ModuleType
from typing import IO, Any

from audit.core.errors import ModelError
from audit.privacy.report import ModelFileScan, PickleImport

SCANNER = "picklescan"
EXTRA_HINT = "pip install 'rai-audit[privacy]'"
# The same function under another module name: os.system is pickled as posix.system.
_ALIASES = {
    "posix": "os",
    "nt": "os",
    "__builtin__": "builtins",
    "_io": "io",
    "_operator": "operator",
    "_pickle": "pickle",
}
# How joblib compresses a file, by its first bytes, and how to undo it in memory.
_DECOMPRESSORS = (
    (b"\x78", zlib.decompress),
    (b"\x1f\x8b", gzip.decompress),
    (b"BZh", bz2.decompress),
    (b"\xfd7zXZ", lzma.decompress),
    (b"]\x00\x00", lzma.decompress),
)

# picklescan logs each dangerous import; the report records them instead. Without a handler
# of its own, Python would print those records to stderr.
logging.getLogger("picklescan").addHandler(logging.NullHandler())


def canonical(module: str, name: str) -> str:
    return f"{_ALIASES.get(module, module)}.{name}"


def parse_allowed(names: Iterable[str]) -> frozenset[str]:
    """``os.system,builtins.exec`` as canonical names; a name without a dot is an error."""
    allowed = set()
    for text in names:
        module, dot, name = text.strip().rpartition(".")
        if not dot or not module or not name:
            raise ModelError(
                f"--allow-unsafe-imports {text!r}: expected MODULE.NAME, e.g. os.system"
            )
        allowed.add(canonical(module, name))
    return frozenset(allowed)


def scanner_version() -> str | None:
    try:
        import picklescan.scanner  # noqa: F401
    except ImportError:
        return None
    try:
        return package_version("picklescan")
    except PackageNotFoundError:
        return "unknown"


def _classify(module: str, name: str) -> str:
    """picklescan's verdict on one import: dangerous, suspicious or innocuous."""
    # The scanner's own rules (its blocklist, safe list and parent-module wildcards),
    # applied to a single import through its result builder.
    from picklescan.scanner import _build_scan_result_from_raw_globals

    result = _build_scan_result_from_raw_globals({(module, name)}, "load-guard")
    return str(result.globals[0].safety.value)


def _readable_bytes(path: Path, file_format: str) -> tuple[bytes, str | None]:
    data = path.read_bytes()
    if file_format != "joblib":
        return data, None
    for magic, decompress in _DECOMPRESSORS:
        if data.startswith(magic):
            try:
                return decompress(data), None
            except (OSError, ValueError, zlib.error, lzma.LZMAError) as exc:
                return data, f"could not decompress the joblib file ({exc})"
    if data.startswith(b'\x04"M\x18'):
        return data, "lz4-compressed joblib files cannot be scanned statically"
    return data, None


def scan_model_file(path: Path, file_format: str, allowed: frozenset[str]) -> ModelFileScan:
    """List the file's imports with picklescan; ``scanned`` is False when it is missing."""
    version = scanner_version()
    if version is None:
        return ModelFileScan(
            file=path.name,
            format=file_format,
            scanned=False,
            scanner=None,
            complete=False,
            note=f"not scanned: the pickle scanner is not installed ({EXTRA_HINT})",
        )
    from picklescan.scanner import scan_bytes

    data, problem = _readable_bytes(path, file_format)
    extension = ".pt" if file_format == "torch-pickle" else ".pkl"
    result = scan_bytes(io.BytesIO(data), path.name, extension)
    seen = sorted({(item.module, item.name, item.safety.value) for item in result.globals})
    imports = tuple(
        PickleImport(module, name, safety, canonical(module, name) in allowed)
        for module, name, safety in seen
    )
    complete = problem is None and not result.scan_err
    note = problem
    if result.scan_err and problem is None:
        # joblib writes raw array bytes between pickle opcodes, which stops a static
        # reader; the load-time guard checks the imports it could not reach.
        note = "the scanner could not read the whole stream; imports are also checked while loading"
    return ModelFileScan(
        file=path.name,
        format=file_format,
        scanned=True,
        scanner=f"{SCANNER} {version}",
        complete=complete,
        note=note,
        imports=imports,
        allowed_unsafe=tuple(
            canonical(item.module, item.name)
            for item in imports
            if item.safety == "dangerous" and item.allowed
        ),
        load_guard=True,
    )


def refuse_unsafe(scan: ModelFileScan, path: Path) -> None:
    """Raise a ModelError naming every dangerous import that was not allowed."""
    blocked = sorted(
        {
            canonical(item.module, item.name)
            for item in scan.imports
            if item.safety == "dangerous" and not item.allowed
        }
    )
    if blocked:
        raise unsafe_error(path, blocked)


def unsafe_error(path: Path, blocked: list[str]) -> ModelError:
    names = ",".join(blocked)
    return ModelError(
        f"{path}: refused: the file imports {', '.join(blocked)}, which can run code on this "
        f"machine when it is unpickled ({SCANNER} flags it as dangerous); --trust-model does "
        f"not cover that. Re-save the model as TorchScript, torch.export or skops, or, if you "
        f"have checked that these imports are harmless, pass --allow-unsafe-imports {names}"
    )


class PickleGuard:
    """Checks each import as the unpickler resolves it, and remembers what it saw."""

    def __init__(self, path: Path, allowed: frozenset[str], active: bool) -> None:
        self.path = path
        self.allowed = allowed
        self.active = active  # False without the scanner: nothing to check against
        self.seen: dict[tuple[str, str], str] = {}

    def check(self, module: str, name: str) -> None:
        key = (module, name)
        if key not in self.seen:
            self.seen[key] = _classify(module, name)
        if self.seen[key] == "dangerous" and canonical(module, name) not in self.allowed:
            raise unsafe_error(self.path, [canonical(module, name)])

    def record(self, scan: ModelFileScan) -> ModelFileScan:
        """The scan, with the imports that only the load revealed added."""
        known = {(item.module, item.name) for item in scan.imports}
        extra = tuple(
            PickleImport(module, name, safety, canonical(module, name) in self.allowed)  # type: ignore[arg-type]
            for (module, name), safety in sorted(self.seen.items())
            if (module, name) not in known
        )
        if not extra:
            return scan
        imports = scan.imports + extra
        return replace(
            scan,
            imports=imports,
            allowed_unsafe=tuple(
                sorted(
                    {
                        canonical(item.module, item.name)
                        for item in imports
                        if item.safety == "dangerous" and item.allowed
                    }
                )
            ),
        )


def _guarded_unpickler(base: type, guard: PickleGuard) -> type:
    class GuardedUnpickler(base):
        def find_class(self, module: str, name: str) -> Any:
            guard.check(module, name)
            return super().find_class(module, name)

    return GuardedUnpickler


def load_pickle(path: Path, guard: PickleGuard) -> Any:
    with path.open("rb") as handle:
        if not guard.active:
            return pickle.load(handle)  # the user passed --trust-model; nothing to check with
        return _guarded_unpickler(pickle.Unpickler, guard)(handle).load()


# joblib builds its unpickler from a module attribute; the swap is serialized so that two
# loads in one process cannot see each other's guard.
_JOBLIB_LOCK = threading.Lock()


def load_joblib(path: Path, guard: PickleGuard) -> Any:
    import joblib
    from joblib import numpy_pickle

    if not guard.active:
        return joblib.load(path)
    with _JOBLIB_LOCK:
        original = numpy_pickle.NumpyUnpickler
        numpy_pickle.NumpyUnpickler = _guarded_unpickler(original, guard)
        try:
            return joblib.load(path)
        finally:
            numpy_pickle.NumpyUnpickler = original


def torch_load_options(guard: PickleGuard) -> dict[str, Any]:
    """``torch.load`` keywords: a stand-in ``pickle_module`` that checks every import."""
    if not guard.active:
        return {}
    unpickler = _guarded_unpickler(pickle.Unpickler, guard)
    module = ModuleType("rai_audit_guarded_pickle")

    def load(handle: IO[bytes], **kwargs: Any) -> Any:
        return unpickler(handle, **kwargs).load()

    module.Unpickler = unpickler  # type: ignore[attr-defined]
    module.load = load  # type: ignore[attr-defined]
    module.UnpicklingError = pickle.UnpicklingError  # type: ignore[attr-defined]
    return {"pickle_module": module}


def check_pickle_file(
    path: Path, file_format: str, allow: Iterable[str]
) -> tuple[ModelFileScan, PickleGuard]:
    """Scan a pickle-based model file before it loads; refuse it on an unallowed danger.

    Returns the scan and the guard to load the file with.
    """
    allowed = parse_allowed(allow)
    scan = scan_model_file(path, file_format, allowed)
    refuse_unsafe(scan, path)
    return scan, PickleGuard(path, allowed, active=scan.load_guard)
