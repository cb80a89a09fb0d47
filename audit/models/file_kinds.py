"""What a model file is when rai-audit cannot load it, and how to convert it.

The kinds are data (audit/knowledge/model_kinds.toml). A file's content decides before its
suffix, so that a renamed file is still named for what it is. Written by hand because the
libraries that detect file types (python-magic, filetype) know neither model formats nor
their conversion commands.
"""

from __future__ import annotations

import functools
import tomllib
import zipfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from audit.core.errors import ModelError

KINDS_FILE = "knowledge/model_kinds.toml"
# The file that makes a folder a Hugging Face model (audit.text.huggingface).
HF_CONFIG_FILE = "config.json"
HEAD_BYTES = 4096
DOC = "docs/model-formats.md"
# What load_model reads, for the error of a file that matches no known kind.
LOADABLE = (
    ".pt (TorchScript), .pt2 (torch.export), .onnx, .skops, a Hugging Face save_pretrained "
    "folder or an MLflow model folder"
)
LOADABLE_SUFFIXES = (".pt", ".pth", ".pt2", ".onnx", ".skops")


@dataclass(frozen=True)
class FileKind:
    id: str
    name: str
    fix: str
    doc: str  # anchor in docs/model-formats.md
    suffixes: tuple[str, ...] = ()
    magic: bytes | None = None
    offset: int = 0
    zip_member: str | None = None
    text: str | None = None
    marker: str | None = None

    def matches_content(self, path: Path, head: bytes, members: frozenset[str]) -> bool:
        if self.marker is not None:
            return path.is_dir() and (path / self.marker).is_file()
        if self.magic is not None:
            return head[self.offset : self.offset + len(self.magic)] == self.magic
        if self.zip_member is not None:
            return self.zip_member in members
        return self.text is not None and self.text.encode() in head

    def matches_suffix(self, path: Path) -> bool:
        return path.is_file() and path.name.lower().endswith(self.suffixes or ("\0",))


@functools.cache
def known_kinds() -> tuple[FileKind, ...]:
    text = resources.files("audit").joinpath(KINDS_FILE).read_text("utf-8")
    kinds = []
    for entry in tomllib.loads(text)["kinds"]:
        magic = entry.pop("magic", None)
        kinds.append(
            FileKind(
                **{**entry, "suffixes": tuple(entry.get("suffixes", ()))},
                magic=bytes.fromhex(magic) if magic is not None else None,
            )
        )
    return tuple(kinds)


def _zip_members(path: Path) -> frozenset[str]:
    """Member names of a zip archive; a member under one top folder counts by its rest too,
    as torch.save writes ``<name>/data.pkl``."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError):
        return frozenset()
    return frozenset(names) | frozenset(name.split("/", 1)[-1] for name in names)


def detect(path: Path) -> FileKind | None:
    """The known kind that ``path`` is, by content first, then by suffix; None if none."""
    head, members = b"", frozenset[str]()
    if path.is_file():
        with path.open("rb") as handle:
            head = handle.read(HEAD_BYTES)
        members = _zip_members(path)
    kinds = known_kinds()
    found = next((kind for kind in kinds if kind.matches_content(path, head, members)), None)
    return found or next((kind for kind in kinds if kind.matches_suffix(path)), None)


def _folder_error(path: Path) -> ModelError:
    inside = sorted(p.name for p in path.iterdir() if p.suffix.lower() in LOADABLE_SUFFIXES)
    if inside:
        which = "it" if len(inside) == 1 else "the one to audit"
        return ModelError(
            f"{path}: is a folder holding {', '.join(inside)}, with no MLmodel or config.json "
            f"that says which model it is; name {which} (e.g. {path / inside[0]})"
        )
    return ModelError(
        f"{path}: is a folder with no model rai-audit recognises (no MLmodel, no config.json, "
        f"no model file); rai-audit loads {LOADABLE} (see {DOC})"
    )


def unsupported_model(path: Path) -> ModelError:
    """One line: what ``path`` was detected to be and how to convert it, or what loads."""
    kind = detect(path)
    if kind is not None:
        fix = kind.fix.replace("{path}", str(path))
        return ModelError(
            f"{path}: is {kind.name}, which rai-audit does not load; {fix} ({DOC}#{kind.doc})"
        )
    if path.is_dir():
        return _folder_error(path)
    return ModelError(
        f"{path}: unknown model format {path.suffix or '(no suffix)'!r}; rai-audit loads "
        f"{LOADABLE} (see {DOC}), or audits decisions already in the data with --predictions COL"
    )
