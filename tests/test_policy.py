"""Policy: defaults, files, flags, unknown keys, and the gate built on it."""

from __future__ import annotations

from pathlib import Path

import pytest

from audit.core.errors import ConfigError
from audit.core.findings import Evidence, Finding, Role, Severity, finding_id
from audit.core.gate import evaluate_gate
from audit.core.policy import find_config_file, load_policy


def test_documented_defaults() -> None:
    policy = load_policy()
    assert policy.min_group_size == 30
    assert policy.n_boot == 1000
    assert policy.fail_on is Severity.MEDIUM
    assert policy.require_significance is False
    assert policy.threshold("demographic_parity_ratio").min == 0.8
    assert policy.threshold("selection_rate_ratio").min == 0.8
    assert policy.threshold("equalized_odds_difference").max == 0.1


def test_file_then_flags_override_defaults(tmp_path: Path) -> None:
    config = tmp_path / "rai-audit.toml"
    config.write_text(
        'min_group_size = 50\nfail_on = "high"\n'
        "[thresholds.equalized_odds_difference]\nmax = 0.05\n"
        '[reference_groups]\nsex = "Male"\n'
    )
    policy = load_policy(
        config, {"min_group_size": 40, "thresholds": {"demographic_parity_ratio": {"min": 0.9}}}
    )
    assert policy.min_group_size == 40
    assert policy.fail_on is Severity.HIGH
    assert policy.threshold("equalized_odds_difference").max == 0.05
    assert policy.threshold("demographic_parity_ratio").min == 0.9
    # Untouched thresholds keep their defaults.
    assert policy.threshold("equal_opportunity_difference").max == 0.1
    assert policy.reference_groups == {"sex": "Male"}


def test_pyproject_section_is_found(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.rai-audit]\nn_boot = 10\n")
    found = find_config_file(tmp_path)
    assert found == tmp_path / "pyproject.toml"
    assert load_policy(found).n_boot == 10
    (tmp_path / "rai-audit.toml").write_text("n_boot = 20\n")
    assert find_config_file(tmp_path) == tmp_path / "rai-audit.toml"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("colour = 1\n", "unknown key 'colour'"),
        (
            "[thresholds.demographic_parity_ratio]\nminimum = 0.8\n",
            "unknown key 'thresholds.demographic_parity_ratio.minimum'",
        ),
        ("[thresholds.made_up_metric]\nmax = 1\n", "unknown threshold metric 'made_up_metric'"),
        ('fail_on = "severe"\n', "fail_on"),
        ("n_boot = -1\n", "n_boot"),
        (
            "[thresholds.demographic_parity_ratio]\nmin = 0.8\nmax = 1.2\n",
            "exactly one of 'min' or 'max'",
        ),
        ("min_group_size = \n", "not valid TOML"),
    ],
)
def test_bad_config_is_one_clear_error(tmp_path: Path, text: str, message: str) -> None:
    config = tmp_path / "rai-audit.toml"
    config.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_policy(config)
    assert message in str(caught.value)
    assert str(config) in str(caught.value)
    assert "\n" not in str(caught.value)


def test_unknown_key_lists_known_keys(tmp_path: Path) -> None:
    config = tmp_path / "rai-audit.toml"
    config.write_text("min_groupsize = 3\n")
    with pytest.raises(ConfigError, match=r"known keys here: .*min_group_size"):
        load_policy(config)


def _finding(severity: Severity, clear: bool | None) -> Finding:
    return Finding(
        id=finding_id("fairness.disparity", severity.value, clear),
        check="fairness.disparity",
        title=f"{severity.value} finding",
        severity=severity,
        fingerprint=f"fairness.disparity|{severity.value}|{clear}",
        roles=(Role.DEVELOPER,),
        accountable=Role.DEVELOPER,
        consulted=(),
        actions={},
        evidence=Evidence(metric="m", value=0.5, statistically_clear=clear),
        recommendation="",
        references=(),
    )


def test_gate_fails_on_severity_at_or_above_fail_on() -> None:
    findings = (_finding(Severity.LOW, True), _finding(Severity.MEDIUM, False))
    assert not evaluate_gate(findings, load_policy()).passed
    assert evaluate_gate(findings, load_policy(overrides={"fail_on": "high"})).passed
    assert evaluate_gate((), load_policy()).passed


def test_gate_can_require_statistically_clear_violations() -> None:
    findings = (_finding(Severity.MEDIUM, False), _finding(Severity.HIGH, True))
    gate = evaluate_gate(findings, load_policy(overrides={"require_significance": True}))
    assert not gate.passed
    assert [violation.severity for violation in gate.violations] == ["high"]
    only_noise = evaluate_gate(findings[:1], load_policy(overrides={"require_significance": True}))
    assert only_noise.passed


def test_finding_ids_are_stable() -> None:
    assert finding_id("fairness.disparity", ("sex",), "dpd") == finding_id(
        "fairness.disparity", ("sex",), "dpd"
    )
    assert finding_id("fairness.disparity", ("sex",), "dpd") != finding_id(
        "fairness.disparity", ("race",), "dpd"
    )


def test_a_new_limit_keeps_the_inherited_critical_level_while_it_still_applies() -> None:
    tighter = load_policy(overrides={"thresholds": {"equalized_odds_difference": {"max": 0.05}}})
    assert tighter.threshold("equalized_odds_difference").critical == 0.2
    looser = load_policy(overrides={"thresholds": {"equalized_odds_difference": {"max": 0.3}}})
    assert looser.threshold("equalized_odds_difference").critical is None
    flipped = load_policy(overrides={"thresholds": {"equalized_odds_difference": {"min": 0.0}}})
    assert flipped.threshold("equalized_odds_difference").bound == "min"
    assert flipped.threshold("equalized_odds_difference").critical is None


def test_critical_level_inside_the_limit_is_an_error(tmp_path: Path) -> None:
    config = tmp_path / "rai-audit.toml"
    config.write_text("[thresholds.demographic_parity_ratio]\nmin = 0.8\ncritical = 0.9\n")
    with pytest.raises(ConfigError, match=r"'critical' \(0.9\) must lie beyond the min"):
        load_policy(config)


def test_reference_group_for_a_column_that_is_not_sensitive_is_an_error(tmp_path: Path) -> None:
    from audit import AuditRequest, run_audit

    data = tmp_path / "d.csv"
    data.write_text("sex,label,decision\n" + "a,1,1\nb,0,0\n" * 40)
    request = AuditRequest(
        data=data,
        target="label",
        sensitive=("sex",),
        predictions="decision",
        policy_overrides={"reference_groups": {"gnder": "a"}, "n_boot": 10},
        search_config=False,
    )
    with pytest.raises(
        ConfigError, match="'gnder', which is not a sensitive column; sensitive columns: sex"
    ):
        run_audit(request)


def test_one_rule_says_how_a_finding_moved_since_the_baseline() -> None:
    from audit.core.gate import change_kind

    assert change_kind(None, Severity.LOW) == "new"
    assert change_kind(Severity.HIGH, None) == "resolved"
    assert change_kind(Severity.MEDIUM, Severity.HIGH) == "worsened"
    assert change_kind(Severity.HIGH, Severity.MEDIUM) == "improved"
    assert change_kind(Severity.HIGH, Severity.HIGH) == "unchanged"
