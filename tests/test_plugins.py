"""Third-party checks and stages: the example plugin (examples/plugin) installed and run, and
the one-line errors of a plugin that cannot be used."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from importlib.metadata import EntryPoint
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import Cli, assert_one_line_error

import audit.core.registry as registry
from audit.core.findings import Role, Severity

PLUGIN = Path(__file__).resolve().parents[1] / "examples" / "plugin"
CHECK_ID = "example.mean_score_gap"


def scored_table(path: Path) -> Path:
    """Decisions and scores read from the data: women's scores are 0.3 lower on average."""
    rng = np.random.default_rng(7)
    sex = np.repeat(["F", "M"], 400)
    score = np.clip(np.where(sex == "F", 0.3, 0.6) + rng.normal(0, 0.1, sex.size), 0, 1)
    frame = pd.DataFrame(
        {
            "sex": sex,
            "label": (rng.random(sex.size) < score).astype(int),
            "decision": (score >= 0.5).astype(int),
            "score": score,
        }
    )
    frame.to_csv(path, index=False)
    return path


@pytest.mark.slow
def test_the_installed_example_plugin_runs_in_every_audit(tmp_path: Path) -> None:
    target = tmp_path / "site"
    install = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps"]
    subprocess.run(
        [*install, "--no-build-isolation", "--target", str(target), str(PLUGIN)],
        check=True,
        capture_output=True,
    )
    data = scored_table(tmp_path / "scored.csv")
    out = tmp_path / "out"
    command = [str(Path(sys.executable).parent / "rai-audit"), "run", str(data)]
    command += ["--predictions", "decision", "--scores", "score", "--target", "label"]
    command += ["--sensitive", "sex", "--out", str(out), "--format", "json,html,sarif,junit"]
    env = {"PYTHONPATH": str(target), "PATH": str(Path(sys.executable).parent)}
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=tmp_path)
    assert done.returncode == 1, done.stderr  # the gap fails the gate (fail_on=medium)
    assert "Traceback" not in done.stderr

    document = json.loads((out / "report.json").read_text("utf-8"))
    runs = {check["id"]: check for check in document["checks"]}
    assert runs[CHECK_ID]["status"] == "ok"
    assert runs[CHECK_ID]["description"].startswith("Compares the largest gap")
    (finding,) = [item for item in document["findings"] if item["check"] == CHECK_ID]
    frame = pd.read_csv(data)
    means = frame.groupby("sex")["score"].mean()
    assert finding["evidence"]["value"] == pytest.approx(means["M"] - means["F"], abs=1e-12)
    assert finding["evidence"]["groups"] == [["F"], ["M"]]
    # The whole interval lies past the plugin's critical level 0.25.
    assert finding["evidence"]["interval"][0] > 0.25
    assert finding["severity"] == Severity.HIGH.value
    assert finding["accountable"] == Role.DEVELOPER.value
    assert finding["title"] == (
        f"Mean score of sex differs by {finding['evidence']['value']:.3f} between groups "
        "(maximum 0.100)"
    )
    assert finding["id"] in {violation["finding"] for violation in document["gate"]["violations"]}
    # The other formats carry it too: SARIF names its rule, JUnit fails its suite.
    sarif = json.loads((out / "report.sarif").read_text("utf-8"))
    assert CHECK_ID in {rule["id"] for rule in sarif["runs"][0]["tool"]["driver"]["rules"]}
    junit = (out / "report.junit.xml").read_text("utf-8")
    assert f'<testsuite name="{CHECK_ID}"' in junit
    assert CHECK_ID in (out / "report.html").read_text("utf-8")


def _entry(group: str, value: str, name: str = "broken") -> EntryPoint:
    return EntryPoint(name=name, value=value, group=group)


@pytest.fixture
def installed(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[EntryPoint]]:
    """Entry points as if packages had installed them; the plugin caches cleared."""
    groups: dict[str, list[EntryPoint]] = {registry.CHECK_GROUP: [], registry.STAGE_GROUP: []}
    monkeypatch.setattr(registry, "entry_points", lambda group: groups[group])
    registry.plugin_checks.cache_clear()
    registry.plugin_stages.cache_clear()
    yield groups
    registry.plugin_checks.cache_clear()
    registry.plugin_stages.cache_clear()


def _audit_args(tmp_path: Path) -> list[str | Path]:
    data = scored_table(tmp_path / "scored.csv")
    return [
        "run",
        data,
        "--predictions",
        "decision",
        "--scores",
        "score",
        "--target",
        "label",
        "--sensitive",
        "sex",
        "--out",
        tmp_path / "out",
    ]


def test_a_plugin_that_cannot_be_imported_is_one_line(
    cli: Cli, tmp_path: Path, installed: dict[str, list[EntryPoint]]
) -> None:
    installed[registry.CHECK_GROUP].append(_entry(registry.CHECK_GROUP, "no_such_package:Check"))
    assert_one_line_error(
        cli(*_audit_args(tmp_path)),
        "check plugin 'broken' (no_such_package:Check)",
        "ModuleNotFoundError",
        "fix or uninstall the package",
    )
    assert not (tmp_path / "out").exists()


def test_a_plugin_without_the_check_protocol_is_one_line(
    cli: Cli, tmp_path: Path, installed: dict[str, list[EntryPoint]]
) -> None:
    installed[registry.STAGE_GROUP].append(_entry(registry.STAGE_GROUP, "json:JSONDecoder"))
    assert_one_line_error(
        cli(*_audit_args(tmp_path)),
        "stage plugin 'broken' (json:JSONDecoder) has no string 'id' and 'run' method",
        "docs/plugins.md",
    )


def test_a_plugin_may_not_take_a_released_id(
    cli: Cli, tmp_path: Path, installed: dict[str, list[EntryPoint]]
) -> None:
    value = "audit.fairness.checks.four_fifths:FourFifthsCheck"
    installed[registry.CHECK_GROUP].append(_entry(registry.CHECK_GROUP, value, "copy"))
    assert_one_line_error(
        cli(*_audit_args(tmp_path)),
        "uses the id 'fairness.four_fifths', which another check already has",
    )


@pytest.fixture
def example_plugin(monkeypatch: pytest.MonkeyPatch, installed: dict[str, list[EntryPoint]]) -> None:
    """The example plugin, importable and registered as its pyproject.toml registers it."""
    monkeypatch.syspath_prepend(str(PLUGIN))
    installed[registry.STAGE_GROUP].append(
        _entry(registry.STAGE_GROUP, "rai_audit_example_plugin.stage:ScoreMeansStage", "means")
    )
    installed[registry.CHECK_GROUP].append(
        _entry(registry.CHECK_GROUP, "rai_audit_example_plugin.check:MeanScoreGapCheck", "gap")
    )


def _plugin_findings(out: Path) -> list[dict[str, object]]:
    document = json.loads((out / "report.json").read_text("utf-8"))
    return [finding for finding in document["findings"] if finding["check"] == CHECK_ID]


def test_a_policy_file_sets_a_plugins_threshold_and_owner(
    cli: Cli, tmp_path: Path, example_plugin: None
) -> None:
    args = _audit_args(tmp_path)
    assert cli(*args).exit_code == 1
    (finding,) = _plugin_findings(tmp_path / "out")
    assert finding["accountable"] == "developer"

    owned = tmp_path / "owned.toml"
    owned.write_text('[accountability."example.mean_score_gap"]\naccountable = "deployer"\n')
    assert cli(*args, "--config", owned).exit_code == 1
    (finding,) = _plugin_findings(tmp_path / "out")
    # The shipped consulted role is the new owner, so no one else is consulted.
    assert (finding["accountable"], finding["consulted"]) == ("deployer", [])

    # A wider limit than the gap (about 0.3): the measurement passes and no finding is made.
    wider = tmp_path / "wider.toml"
    wider.write_text("[thresholds.mean_score_gap]\nmax = 0.5\ncritical = 0.6\n")
    cli(*args, "--config", wider)
    assert _plugin_findings(tmp_path / "out") == []
    document = json.loads((tmp_path / "out" / "report.json").read_text("utf-8"))
    assert document["run"]["config"]["thresholds"]["mean_score_gap"]["max"] == 0.5


def test_a_plugin_may_not_redefine_a_released_metric(
    cli: Cli, tmp_path: Path, example_plugin: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rai_audit_example_plugin.check import MeanScoreGapCheck

    knowledge = MeanScoreGapCheck.knowledge
    clashing = dataclasses.replace(knowledge, thresholds={"base_rate_gap": {"max": 0.5}})
    monkeypatch.setattr(MeanScoreGapCheck, "knowledge", clashing)
    assert_one_line_error(
        cli(*_audit_args(tmp_path)),
        "'example.mean_score_gap' declares a default threshold for 'base_rate_gap'",
    )
