"""The role table: every check mapped, exactly one accountable role, user overrides."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from audit import AuditRequest, ConfigError, Role, Severity, run_audit
from audit.core.accountability import AccountabilityTable, mapped_checks, role_infos
from audit.core.policy import load_policy
from audit.core.registry import CHECKS, check_table
from reports import render


def test_every_registered_check_is_mapped_at_every_severity() -> None:
    registered = {check.id for check in CHECKS}
    assert registered <= mapped_checks()
    assert registered <= set(check_table())
    table = AccountabilityTable({})
    for check in registered:
        for severity in Severity:
            owner = table.owner(check_table()[check], severity)
            assert isinstance(owner.accountable, Role)
            assert owner.accountable not in owner.consulted
            assert owner.references, check
            # The accountable role is always told what to do.
            assert owner.actions.get(owner.accountable), (check, severity)


def test_every_role_is_described() -> None:
    assert {info.role for info in role_infos()} == set(Role)
    assert all(info.name and info.duty for info in role_infos())


def test_severity_specific_entries_refine_the_check_entry() -> None:
    table = AccountabilityTable({})
    high = table.owner(check_table()["fairness.disparity"], Severity.HIGH)
    critical = table.owner(check_table()["fairness.disparity"], Severity.CRITICAL)
    assert Role.REGULATOR not in high.consulted
    assert Role.REGULATOR in critical.consulted
    assert Role.REGULATOR in critical.actions and Role.REGULATOR not in high.actions


def test_four_fifths_cites_the_eeoc_rule() -> None:
    owner = AccountabilityTable({}).owner(check_table()["fairness.four_fifths"], Severity.HIGH)
    assert owner.accountable is Role.DEPLOYER
    assert any("1607.4(D)" in reference for reference in owner.references)


def _audit(tmp_path: Path, config: str) -> dict:
    rng = np.random.default_rng(2)
    rows = 600
    sex = rng.choice(["a", "b"], rows)
    label = rng.integers(0, 2, rows)
    decision = np.where(sex == "a", rng.random(rows) < 0.7, rng.random(rows) < 0.2).astype(int)
    data = tmp_path / "d.csv"
    pd.DataFrame({"sex": sex, "label": label, "decision": decision}).to_csv(data, index=False)
    policy = tmp_path / "rai-audit.toml"
    policy.write_text(config)
    result = run_audit(
        AuditRequest(
            data=data,
            target="label",
            sensitive=("sex",),
            predictions="decision",
            config_file=policy,
            policy_overrides={"n_boot": 50},
        )
    )
    return json.loads(render(result, ["json"])["report.json"])


def test_findings_carry_owner_consulted_and_actions(tmp_path: Path) -> None:
    report = _audit(tmp_path, "")
    assert report["findings"]
    for finding in report["findings"]:
        assert finding["accountable"] in ("developer", "deployer", "regulator")
        assert finding["roles"][0] == finding["accountable"]
        assert finding["roles"][1:] == finding["consulted"]
        assert finding["accountable"] in finding["actions"]
        assert finding["fingerprint"].startswith(finding["check"] + "|")


def test_policy_file_overrides_owner_and_extends_references(tmp_path: Path) -> None:
    report = _audit(
        tmp_path,
        '[accountability."fairness.disparity"]\n'
        'accountable = "deployer"\n'
        'references = ["ACME-AI-07: model fairness review"]\n'
        'actions = { deployer = "Escalate to the ACME fairness board." }\n',
    )
    disparity = [f for f in report["findings"] if f["check"] == "fairness.disparity"]
    assert disparity
    for finding in disparity:
        assert finding["accountable"] == "deployer"
        assert "deployer" not in finding["consulted"]
        assert "ACME-AI-07: model fairness review" in finding["references"]
        assert any("EU AI Act" in reference for reference in finding["references"])
        assert finding["actions"]["deployer"] == "Escalate to the ACME fairness board."


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '[accountability."fairness.made_up"]\naccountable = "developer"\n',
            "unknown check 'fairness.made_up'",
        ),
        (
            '[accountability."fairness.disparity"]\nowner = "developer"\n',
            "known keys here: accountable, actions, consulted, references",
        ),
        ('[accountability."fairness.disparity"]\naccountable = "auditor"\n', "accountable"),
    ],
)
def test_bad_accountability_override_is_a_config_error(
    tmp_path: Path, text: str, message: str
) -> None:
    config = tmp_path / "rai-audit.toml"
    config.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_policy(config)
