"""What each check is, from its file audit/knowledge/checks/<check id>.toml: its wording,
grades and cause, and who acts on its findings (the keys: knowledge/checks/README.md).

Apart from the engine so that reading a report (audit.core.compare, the renderers) can use it
without loading the checks' computations.
"""

from __future__ import annotations

import tomllib
from collections.abc import Collection
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any, Literal

from audit.core.findings import Role, Severity

CHECKS_DIR = "knowledge/checks"
# A file's keys (knowledge/checks/README.md); any other is an error, so a misspelt one is not
# silently ignored.
_CHECK_KEYS = {
    "description",
    "title",
    "recommendation",
    "advice",
    "subject",
    "severity",
    "accountability",
}
_OPTIONAL_CHECK_KEYS = {"name", "reasons", "severity_note", "cause", "metrics", "thresholds"}
_OWNERSHIP_KEYS = {"consulted", "references", "actions"}


@dataclass(frozen=True)
class Ownership:
    """Who acts on a finding: the one accountable role, the roles consulted, the obligations
    the finding speaks to, and what each role should do."""

    accountable: Role
    consulted: tuple[Role, ...]
    references: tuple[str, ...]
    actions: dict[Role, str]


@dataclass(frozen=True)
class CheckOwnership:
    """A check's shipped ``[accountability]``; a policy file adjusts it per finding
    (audit.core.accountability)."""

    base: Ownership
    # [accountability.severity.<level>], each already laid over the base: its keys replace
    # the base's, its actions add to them.
    by_severity: dict[Severity, Ownership]

    def at(self, severity: Severity) -> Ownership:
        return self.by_severity.get(severity, self.base)


@dataclass(frozen=True)
class MetricMeaning:
    """A metric in one plain sentence, and the group metrics it compares (its table and
    chart show them per group)."""

    meaning: str
    components: tuple[str, ...] = ()


@dataclass(frozen=True)
class CheckInfo:
    id: str
    title: str
    recommendation: str  # for one finding, with {placeholders}
    advice: str  # the recommendation in general words, for text about the check
    subject: Literal["model", "data"]  # the file a finding is about (SARIF's location)
    severity: dict[str, Severity]
    description: str  # one sentence on what the check judges, for readers of any report
    # Why a grade that no threshold decides has its severity, per grade, with {placeholders}.
    reasons: dict[str, str]
    # Appended to the severity reason of a grade the check caps below the usual one.
    severity_note: str | None
    # Findings of one cause and one slice become one finding (audit.core.causes); None: each stands.
    cause: str | None
    ownership: CheckOwnership
    # The check in words, for readers who do not know its id; None: reports show the id.
    name: str | None = None
    # The metrics the check's evidence states ([metrics.<name>]), for reports to explain.
    metrics: dict[str, MetricMeaning] = field(default_factory=dict)
    # Default thresholds of metrics that only this check judges (a plugin's), written as a
    # policy file's [thresholds]; the policy validates them and a policy file overrides them.
    thresholds: dict[str, dict[str, float]] = field(default_factory=dict)


def _check_keys(table: dict[str, Any], required: set[str], optional: set[str], where: str) -> None:
    # Named one at a time, in a stable order, so the message says exactly what to fix.
    missing = sorted(required - table.keys())
    if missing:
        raise ValueError(f"{where}missing key {missing[0]!r}")
    unknown = sorted(table.keys() - required - optional)
    if unknown:
        known = ", ".join(sorted(required | optional))
        raise ValueError(f"{where}unknown key {unknown[0]!r}; keys: {known}")


def _roles(names: Collection[str]) -> tuple[Role, ...]:
    return tuple(Role(name) for name in names)


def _actions(table: dict[str, str]) -> dict[Role, str]:
    return {Role(role): text for role, text in table.items()}


def _ownership(table: dict[str, Any]) -> CheckOwnership:
    _check_keys(table, {"accountable"}, _OWNERSHIP_KEYS | {"severity"}, "[accountability] ")
    base = Ownership(
        accountable=Role(table["accountable"]),
        consulted=_roles(table.get("consulted", ())),
        references=tuple(table.get("references", ())),
        actions=_actions(table.get("actions", {})),
    )
    by_severity = {}
    for level, entry in table.get("severity", {}).items():
        where = f"[accountability.severity.{level}] "
        _check_keys(entry, set(), _OWNERSHIP_KEYS | {"accountable"}, where)
        by_severity[Severity(level)] = Ownership(
            accountable=Role(entry.get("accountable", base.accountable)),
            consulted=_roles(entry["consulted"]) if "consulted" in entry else base.consulted,
            references=tuple(entry.get("references", base.references)),
            actions={**base.actions, **_actions(entry.get("actions", {}))},
        )
    return CheckOwnership(base, by_severity)


def _metrics(table: dict[str, Any]) -> dict[str, MetricMeaning]:
    metrics = {}
    for metric, entry in table.items():
        _check_keys(entry, {"meaning"}, {"components"}, f"[metrics.{metric}] ")
        metrics[metric] = MetricMeaning(entry["meaning"], tuple(entry.get("components", ())))
    return metrics


def load_check_info(check_id: str, text: str, source: str | None = None) -> CheckInfo:
    """One check's knowledge file, the TOML ``text``; a plugin ships its own the same way.
    Errors name ``source`` (the file; ``<check id>.toml`` unless given) and the key."""
    try:
        entry = tomllib.loads(text)
        _check_keys(entry, _CHECK_KEYS, _OPTIONAL_CHECK_KEYS, "")
        subject = entry["subject"]
        if subject not in ("model", "data"):
            raise ValueError(f"subject must be 'model' or 'data', got {subject!r}")
        return CheckInfo(
            id=check_id,
            title=entry["title"],
            recommendation=entry["recommendation"],
            advice=entry["advice"],
            subject=subject,
            description=entry["description"],
            severity={grade: Severity(level) for grade, level in entry["severity"].items()},
            reasons=entry.get("reasons", {}),
            severity_note=entry.get("severity_note"),
            cause=entry.get("cause"),
            ownership=_ownership(entry["accountability"]),
            name=entry.get("name"),
            metrics=_metrics(entry.get("metrics", {})),
            thresholds=entry.get("thresholds", {}),
        )
    except ValueError as exc:  # tomllib.TOMLDecodeError and an unknown role or severity too
        raise ValueError(f"{source or f'{check_id}.toml'}: {exc}") from exc


@cache
def check_table() -> dict[str, CheckInfo]:
    folder = resources.files("audit").joinpath(CHECKS_DIR)
    table = {}
    # The file's name is the check's id; sorted so the table does not depend on the file system.
    for entry in sorted(folder.iterdir(), key=lambda entry: entry.name):
        if entry.name.endswith(".toml"):
            check_id = entry.name.removesuffix(".toml")
            source = f"audit/{CHECKS_DIR}/{entry.name}"
            table[check_id] = load_check_info(check_id, entry.read_text("utf-8"), source)
    return table


def causes() -> dict[str, str]:
    """Check id -> the cause its findings are merged under (audit.core.causes)."""
    return {check: info.cause for check, info in check_table().items() if info.cause is not None}


WORDS_FILE = "knowledge/words.toml"


@cache
def _word_rules() -> tuple[frozenset[str], dict[str, str]]:
    table = tomllib.loads(resources.files("audit").joinpath(WORDS_FILE).read_text("utf-8"))
    return frozenset(table["abbreviations"]), dict(table["names"])


def in_words(identifier: str) -> str:
    """An identifier as a reader sees it, the same in a finding's title, the reports and the
    terminal: its own name (``cramers_v`` reads "Cramér's V"), or its words with abbreviations
    in capitals (``roc_auc`` reads "ROC AUC"); the rules are knowledge/words.toml."""
    abbreviations, names = _word_rules()
    text = str(identifier)
    if text in names:
        return names[text]
    return " ".join(word.upper() if word in abbreviations else word for word in text.split("_"))
