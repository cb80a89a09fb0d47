"""Who acts on a finding: the shipped role table (knowledge/roles.toml) and the user's
overrides from the policy file, resolved per check and severity."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from pydantic import BaseModel, ConfigDict

from audit.core.findings import Role, Severity


class AccountabilityOverride(BaseModel):
    """``[accountability."<check id>"]`` in a policy file: replace the owner, add consulted
    roles, append references (e.g. internal control ids), replace a role's action."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    accountable: Role | None = None
    consulted: list[Role] | None = None
    references: list[str] = []
    actions: dict[Role, str] = {}


@dataclass(frozen=True)
class RoleInfo:
    role: Role
    name: str
    duty: str


@dataclass(frozen=True)
class Ownership:
    accountable: Role
    consulted: tuple[Role, ...]
    references: tuple[str, ...]
    actions: dict[Role, str]


@cache
def _shipped() -> dict[str, Any]:
    text = resources.files("audit").joinpath("knowledge/roles.toml").read_text("utf-8")
    return tomllib.loads(text)


def mapped_checks() -> frozenset[str]:
    return frozenset(_shipped()["checks"])


def role_infos() -> tuple[RoleInfo, ...]:
    return tuple(
        RoleInfo(Role(key), entry["name"], entry["duty"])
        for key, entry in _shipped()["roles"].items()
    )


@dataclass(frozen=True)
class AccountabilityTable:
    overrides: dict[str, AccountabilityOverride]

    def owner(self, check: str, severity: Severity) -> Ownership:
        shipped = _shipped()["checks"].get(check)
        if shipped is None:
            # Registered checks are all mapped (a test asserts it); this guards plugins.
            raise KeyError(f"check {check!r} has no entry in roles.toml")
        entry = {**shipped, **shipped.get("severity", {}).get(severity.value, {})}
        actions = {
            Role(role): text
            for role, text in {
                **shipped.get("actions", {}),
                **shipped.get("severity", {}).get(severity.value, {}).get("actions", {}),
            }.items()
        }
        accountable = Role(entry["accountable"])
        consulted = [Role(role) for role in entry.get("consulted", [])]
        references = list(entry.get("references", []))
        override = self.overrides.get(check)
        if override is not None:
            accountable = override.accountable or accountable
            if override.consulted is not None:
                consulted = list(override.consulted)
            references += override.references
            actions.update(override.actions)
        return Ownership(
            accountable=accountable,
            consulted=tuple(dict.fromkeys(role for role in consulted if role != accountable)),
            references=tuple(references),
            actions=actions,
        )
