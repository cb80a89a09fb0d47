"""Who acts on a finding: the roles (knowledge/roles.toml), each check's shipped ownership
(its knowledge file, audit.core.check_knowledge) and the user's overrides from the policy
file, resolved per check and severity."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from pydantic import BaseModel, ConfigDict

from audit.core.check_knowledge import CheckInfo, Ownership, check_table
from audit.core.findings import Role, RoleInfo, Severity


class AccountabilityOverride(BaseModel):
    """``[accountability."<check id>"]`` in a policy file: replace the owner, add consulted
    roles, append references (e.g. internal control ids), replace a role's action."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    accountable: Role | None = None
    consulted: list[Role] | None = None
    references: list[str] = []
    actions: dict[Role, str] = {}


@cache
def _shipped_roles() -> dict[str, Any]:
    text = resources.files("audit").joinpath("knowledge/roles.toml").read_text("utf-8")
    return tomllib.loads(text)["roles"]


def mapped_checks() -> frozenset[str]:
    # Every knowledge file names its owner, so every described check is mapped.
    return frozenset(check_table())


def role_infos() -> tuple[RoleInfo, ...]:
    return tuple(
        RoleInfo(Role(key), entry["name"], entry["duty"]) for key, entry in _shipped_roles().items()
    )


@dataclass(frozen=True)
class AccountabilityTable:
    overrides: dict[str, AccountabilityOverride]

    def owner(self, info: CheckInfo, severity: Severity) -> Ownership:
        """Who acts on a finding of the check ``info`` describes (shipped or a plugin's)."""
        shipped = info.ownership.at(severity)
        accountable = shipped.accountable
        consulted = list(shipped.consulted)
        references = list(shipped.references)
        actions = dict(shipped.actions)
        override = self.overrides.get(info.id)
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
