"""Each check's knowledge file (audit/knowledge/checks/<id>.toml): it parses into the table,
its owners are described roles, and a broken file names itself and the key to fix."""

from __future__ import annotations

import re

import pytest
from conftest import CHECK_FILES, shipped_check_files

from audit import Role, Severity
from audit.core.accountability import role_infos
from audit.core.check_knowledge import check_table, load_check_info

DISPARITY = (CHECK_FILES / "fairness.disparity.toml").read_text("utf-8")


def test_every_file_parses_into_the_table() -> None:
    for path in sorted(CHECK_FILES.glob("*.toml")):
        check = path.name.removesuffix(".toml")
        info = load_check_info(check, path.read_text("utf-8"), str(path))
        assert info == check_table()[check]
        assert info.id == check


def test_every_shipped_check_has_a_name_in_words() -> None:
    """Reports head a check's findings with its name; one without shows its bare id to a
    reader who does not know the ids (the calibration check once did)."""
    for check, entry in shipped_check_files().items():
        name = entry.get("name", "")
        assert name.strip() and check not in name, check
        assert check_table()[check].name == name


def test_every_file_names_described_roles_and_severities() -> None:
    described = {info.role.value for info in role_infos()}
    for check, entry in shipped_check_files().items():
        owners = entry["accountability"]
        for table in (owners, *owners.get("severity", {}).values()):
            named = {table.get("accountable", owners["accountable"])}
            named |= {*table.get("consulted", ()), *table.get("actions", {})}
            assert named <= described, check
        assert set(owners.get("severity", {})) <= {level.value for level in Severity}, check
    assert described == {role.value for role in Role}


def test_a_severity_entry_replaces_keys_and_adds_actions() -> None:
    ownership = check_table()["fairness.disparity"].ownership
    assert ownership.at(Severity.HIGH) == ownership.base
    critical = ownership.at(Severity.CRITICAL)
    assert critical.consulted == (Role.DEPLOYER, Role.REGULATOR)
    assert critical.references == ownership.base.references
    assert critical.actions == {
        **ownership.base.actions,
        Role.REGULATOR: critical.actions[Role.REGULATOR],
    }


@pytest.mark.parametrize(
    ("broken", "message"),
    [
        (re.sub(r"(?m)^title = .*\n", "", DISPARITY), "missing key 'title'"),
        (DISPARITY.replace("advice =", "advise ="), "missing key 'advice'"),
        ('colour = "red"\n' + DISPARITY, "unknown key 'colour'"),
        (DISPARITY + 'board = "Escalate."\n', "'board' is not a valid Role"),
        (DISPARITY.replace('subject = "model"', 'subject = "both"'), "subject must be"),
        (DISPARITY.replace('accountable = "developer"', 'accountable = "board"'), "'board'"),
        (DISPARITY.partition("[accountability]")[0], "missing key 'accountability'"),
        (
            DISPARITY.replace('accountable = "developer"\n', ""),
            "[accountability] missing key 'accountable'",
        ),
        (DISPARITY.replace("severity.critical]", "severity.dire]"), "'dire'"),
        (DISPARITY.replace('title = "', "title = "), "fairness.disparity.toml: "),
    ],
)
def test_a_broken_file_names_the_file_and_the_key(broken: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)) as caught:
        load_check_info("fairness.disparity", broken)
    assert str(caught.value).startswith("fairness.disparity.toml: ")


def test_an_error_names_the_file_it_was_given() -> None:
    broken = re.sub(r"(?m)^title = .*\n", "", DISPARITY)
    with pytest.raises(ValueError, match=r"^plugins/acme\.bias\.toml: missing key 'title'$"):
        load_check_info("acme.bias", broken, "plugins/acme.bias.toml")
