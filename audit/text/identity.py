"""Identity terms: the shipped lists (knowledge/identity_terms/), the user's extensions, and
which texts mention which group.

A text mentions a group when it contains one of the group's terms as a whole word or phrase,
case-insensitively; a phrase matches across any run of spaces. The format of the files is
documented in docs/text-models.md ("Identity terms").
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from audit.core.errors import ConfigError

KNOWLEDGE_DIR = "knowledge/identity_terms"
TEMPLATES_KEY = "templates"
PROBE_KINDS = ("noun", "adjective", "name")


@dataclass(frozen=True)
class IdentityGroup:
    name: str
    label: str
    terms: tuple[str, ...]  # mark a text as mentioning the group
    probe_terms: tuple[str, ...]  # fill the template sentences


@dataclass(frozen=True)
class SwapSet:
    """Term pairs exchanged between two groups of a category."""

    groups: tuple[str, str]
    pairs: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class IdentityCategory:
    name: str
    label: str
    probe_kind: str
    groups: tuple[IdentityGroup, ...]
    swaps: tuple[SwapSet, ...]

    def group(self, name: str) -> IdentityGroup:
        return next(group for group in self.groups if group.name == name)


@dataclass(frozen=True)
class IdentityTerms:
    categories: tuple[IdentityCategory, ...]
    templates: dict[str, tuple[str, ...]]  # probe kind -> template sentences with {term}
    sources: tuple[str, ...]  # "shipped" and each user file, in the order applied


def normalized(term: str) -> str:
    """A term as compared: lower-case, single spaces."""
    return " ".join(term.lower().split())


def term_pattern(terms: Iterable[str]) -> re.Pattern[str]:
    """Any of ``terms`` as a whole word or phrase, case-insensitive; longest first, so that
    "african american" wins over "african"."""
    unique = sorted({normalized(term) for term in terms if term.strip()}, key=lambda t: -len(t))
    if not unique:
        return re.compile(r"(?!)")  # matches nothing
    alternatives = "|".join(r"\s+".join(map(re.escape, term.split())) for term in unique)
    return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)


def mentions(texts: Sequence[str], pattern: re.Pattern[str]) -> np.ndarray:
    """bool [n]: which texts contain a match."""
    search = pattern.search
    return np.fromiter((search(text) is not None for text in texts), dtype=bool, count=len(texts))


# ------------------------------------------------------------------------------- loading
def _strings(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValueError(f"{where} must be a list of strings")
    return value


def _merge_category(name: str, entry: Any, known: dict[str, dict[str, Any]]) -> None:
    """Fold one file's ``[<category>]`` table into ``known`` (extending what is there)."""
    if not isinstance(entry, dict):
        raise ValueError(f"[{name}] must be a table with groups, e.g. [{name}.groups.x]")
    unknown = set(entry) - {"label", "probe_kind", "groups", "swaps"}
    if unknown:
        raise ValueError(
            f"[{name}] has unknown key {sorted(unknown)[0]!r}; keys: label, probe_kind, "
            "groups, swaps"
        )
    fresh = {"label": name.replace("_", " "), "probe_kind": "adjective", "groups": {}, "swaps": []}
    category = known.setdefault(name, fresh)
    if "label" in entry:
        category["label"] = str(entry["label"])
    if "probe_kind" in entry:
        if entry["probe_kind"] not in PROBE_KINDS:
            raise ValueError(
                f"[{name}] probe_kind {entry['probe_kind']!r}: use one of {', '.join(PROBE_KINDS)}"
            )
        category["probe_kind"] = entry["probe_kind"]
    groups = entry.get("groups", {})
    if not isinstance(groups, dict):
        raise ValueError(f"[{name}.groups] must be a table of groups")
    for group_name, group in groups.items():
        if not isinstance(group, dict):
            raise ValueError(f"[{name}.groups.{group_name}] must be a table with terms")
        unknown = set(group) - {"label", "terms", "probe_terms"}
        if unknown:
            raise ValueError(
                f"[{name}.groups.{group_name}] has unknown key {sorted(unknown)[0]!r}; keys: "
                "label, terms, probe_terms"
            )
        target = category["groups"].setdefault(
            group_name, {"label": group_name.replace("_", " "), "terms": [], "probe_terms": []}
        )
        if "label" in group:
            target["label"] = str(group["label"])
        for key in ("terms", "probe_terms"):
            for term in _strings(group.get(key, []), f"[{name}.groups.{group_name}] {key}"):
                if normalized(term) not in map(normalized, target[key]):
                    target[key].append(term)
    swaps = entry.get("swaps", [])
    if not isinstance(swaps, list):
        raise ValueError(f"[[{name}.swaps]] must be an array of tables")
    for swap in swaps:
        pairs = swap.get("pairs", []) if isinstance(swap, dict) else None
        groups_named = swap.get("groups") if isinstance(swap, dict) else None
        if (
            not isinstance(groups_named, list)
            or len(groups_named) != 2
            or not isinstance(pairs, list)
            or not all(
                isinstance(pair, list) and len(pair) == 2 and all(isinstance(t, str) for t in pair)
                for pair in pairs
            )
        ):
            raise ValueError(
                f"[[{name}.swaps]] needs groups = [two group names] and pairs = [[term, term], ...]"
            )
        category["swaps"].append((tuple(groups_named), [tuple(pair) for pair in pairs]))


def _build(known: dict[str, dict[str, Any]]) -> tuple[IdentityCategory, ...]:
    categories = []
    for name, entry in known.items():
        if not entry["groups"]:
            raise ValueError(f"[{name}] has no groups; add [{name}.groups.<group>] with terms")
        groups = tuple(
            IdentityGroup(
                group_name,
                group["label"],
                tuple(group["terms"]),
                tuple(group["probe_terms"]),
            )
            for group_name, group in entry["groups"].items()
        )
        names = {group.name for group in groups}
        swaps = []
        for (first, second), pairs in entry["swaps"]:
            for group_name in (first, second):
                if group_name not in names:
                    raise ValueError(
                        f"[[{name}.swaps]] names group {group_name!r}, which [{name}] does not "
                        f"have; its groups: {', '.join(sorted(names))}"
                    )
            swaps.append(
                SwapSet(
                    (first, second),
                    tuple((normalized(a), normalized(b)) for a, b in pairs),
                )
            )
        categories.append(
            IdentityCategory(name, entry["label"], entry["probe_kind"], groups, tuple(swaps))
        )
    return tuple(categories)


def _merge_templates(value: Any, templates: dict[str, list[str]]) -> None:
    if not isinstance(value, dict):
        raise ValueError(f"[{TEMPLATES_KEY}] must be a table of probe kind = [sentences]")
    for kind, sentences in value.items():
        if kind not in PROBE_KINDS:
            raise ValueError(
                f"[{TEMPLATES_KEY}] kind {kind!r}: use one of {', '.join(PROBE_KINDS)}"
            )
        for sentence in _strings(sentences, f"[{TEMPLATES_KEY}] {kind}"):
            if "{term}" not in sentence:
                raise ValueError(f"template {sentence!r} has no {{term}} to fill")
            if sentence not in templates.setdefault(kind, []):
                templates[kind].append(sentence)


def _apply(
    document: dict[str, Any],
    known: dict[str, dict[str, Any]],
    templates: dict[str, list[str]],
) -> None:
    for key, entry in document.items():
        if key == TEMPLATES_KEY:
            _merge_templates(entry, templates)
        else:
            _merge_category(key, entry, known)


def _shipped_documents() -> list[tuple[str, str]]:
    folder = resources.files("audit").joinpath(KNOWLEDGE_DIR)
    return sorted(
        (entry.name, entry.read_text("utf-8"))
        for entry in folder.iterdir()
        if entry.name.endswith(".toml")
    )


def load_identity_terms(extra_files: Sequence[Path] = ()) -> IdentityTerms:
    """The shipped term lists, then each user file in order (extending or adding)."""
    known: dict[str, dict[str, Any]] = {}
    templates: dict[str, list[str]] = {}
    for name, text in _shipped_documents():
        try:
            _apply(tomllib.loads(text), known, templates)
        except (tomllib.TOMLDecodeError, ValueError) as exc:  # a packaging error, not input
            raise RuntimeError(f"shipped identity terms {name}: {exc}") from exc
    for path in extra_files:
        try:
            document = tomllib.loads(path.read_text("utf-8"))
        except FileNotFoundError as exc:
            raise ConfigError(f"{path}: identity terms file not found; check the path") from exc
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: cannot read the identity terms file ({exc})") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML ({exc}); fix the file's syntax") from exc
        try:
            _apply(document, known, templates)
        except ValueError as exc:
            raise ConfigError(f"{path}: {exc}; see docs/text-models.md") from exc
    try:
        categories = _build(known)
    except ValueError as exc:
        sources = ", ".join(map(str, extra_files)) or "shipped identity terms"
        raise ConfigError(f"{sources}: {exc}; see docs/text-models.md") from exc
    return IdentityTerms(
        categories,
        {kind: tuple(sentences) for kind, sentences in templates.items()},
        ("shipped", *(str(path) for path in extra_files)),
    )


@dataclass(frozen=True)
class Membership:
    """Which rows mention which group: ``rows[(category, group)]`` is bool [n]."""

    rows: dict[tuple[str, str], np.ndarray]

    def any_identity(self, n: int) -> np.ndarray:
        mentioned = np.zeros(n, dtype=bool)
        for mask in self.rows.values():
            mentioned |= mask
        return mentioned


def membership(texts: Sequence[str], identity: IdentityTerms) -> Membership:
    return Membership(
        {
            (category.name, group.name): mentions(texts, term_pattern(group.terms))
            for category in identity.categories
            for group in category.groups
        }
    )
