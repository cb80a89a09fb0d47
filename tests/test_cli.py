"""The ``rai-audit`` command: exit codes, gate output, help, formats and atomic reports."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import (
    FAST_N_BOOT,
    Cli,
    Workspace,
    assert_one_line_error,
    default_module,
    make_frame,
    shipped_check_files,
)
from typer.main import get_command

import audit.api
import audit.core.output
from audit.cli import app
from audit.core.registry import CHECKS, AuditContext

# Bounds no metric can break: every disparity lies in [0, 1].
LOOSE = [
    *("--max", "demographic_parity_difference=1"),
    *("--min", "demographic_parity_ratio=0"),
    *("--max", "equalized_odds_difference=1"),
    *("--min", "equalized_odds_ratio=0"),
    *("--max", "equal_opportunity_difference=1"),
    *("--min", "selection_rate_ratio=0"),
    *("--max", "base_rate_gap=1"),
]


def audit_args(model: Path, data: Path, out: Path, *extra: str) -> list[str | Path]:
    return [
        "run",
        model,
        data,
        "--target",
        "label",
        "--sensitive",
        "sex,group",
        "--out",
        out,
        "--n-boot",
        str(FAST_N_BOOT),
        *extra,
    ]


def report(out: Path) -> dict:
    loaded: dict = json.loads((out / "report.json").read_text("utf-8"))
    return loaded


def fair_inputs(workspace: Workspace) -> tuple[Path, Path]:
    # Every (sex, group) cell holds the same rows: every disparity is exactly zero.
    return workspace.torchscript(default_module()), workspace.table(make_frame())


def biased_inputs(workspace: Workspace) -> tuple[Path, Path]:
    return workspace.torchscript(default_module()), workspace.table(make_frame(bias=0.8))


def test_gate_passes_for_a_fair_model(cli: Cli, workspace: Workspace, tmp_path: Path) -> None:
    model, data = fair_inputs(workspace)
    out = tmp_path / "out"
    result = cli(*audit_args(model, data, out))
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    assert "Gate passed (fail_on=medium)." in result.stdout
    document = report(out)
    assert document["gate"] == {
        "passed": True,
        "fail_on": "medium",
        "require_significance": False,
        "p_value_alpha": None,
        "violations": [],
        "baseline": None,
    }
    sex_values = [
        entry["value"]
        for entry in document["disparities"]
        if entry["feature"] == ["sex"] and entry["metric"] == "demographic_parity_difference"
    ]
    assert sex_values and all(value == pytest.approx(0.0, abs=1e-12) for value in sex_values)
    assert sorted(path.name for path in out.iterdir()) == ["report.html", "report.json"]


def test_gate_fails_for_a_biased_model_with_one_reason_per_line(
    cli: Cli, workspace: Workspace, tmp_path: Path
) -> None:
    model, data = biased_inputs(workspace)
    out = tmp_path / "out"
    result = cli(*audit_args(model, data, out))
    assert result.exit_code == 1, result.output
    assert result.stderr == ""
    violations = report(out)["gate"]["violations"]
    assert violations
    lines = result.stdout.splitlines()
    header = next(index for index, line in enumerate(lines) if line.startswith("Gate failed:"))
    assert lines[header] == (f"Gate failed: {len(violations)} finding(s) at or above medium:")
    assert lines[header + 1 :] == [f"  {violation['reason']}" for violation in violations]
    assert any("demographic parity" in violation["reason"] for violation in violations)


def test_loose_thresholds_pass_the_same_biased_model(
    cli: Cli, workspace: Workspace, tmp_path: Path
) -> None:
    model, data = biased_inputs(workspace)
    out = tmp_path / "out"
    result = cli(*audit_args(model, data, out, *LOOSE))
    assert result.exit_code == 0, result.output
    document = report(out)
    assert document["gate"]["passed"] is True
    assert document["run"]["config"]["thresholds"]["demographic_parity_ratio"]["min"] == 0
    # Loose bounds change the verdict, not the measurement.
    ratio = next(
        entry["value"]
        for entry in document["disparities"]
        if entry["feature"] == ["sex"] and entry["metric"] == "demographic_parity_ratio"
    )
    assert ratio < 0.8


def test_fail_on_filters_violations_by_severity(
    cli: Cli, workspace: Workspace, tmp_path: Path
) -> None:
    # A mild bias gives findings of several severities.
    model, data = workspace.torchscript(default_module()), workspace.table(make_frame(bias=0.2))
    out = tmp_path / "out"
    ranks = {"info": 0, "low": 1, "medium": 2, "high": 3, "critical": 4}
    everything = cli(*audit_args(model, data, out, "--format", "json", "--fail-on", "info"))
    findings = report(out)["findings"]
    assert everything.exit_code == 1
    assert {"low", "medium", "critical"} <= {finding["severity"] for finding in findings}
    for level in ("info", "medium", "high", "critical"):
        result = cli(*audit_args(model, data, out, "--format", "json", "--fail-on", level))
        expected = sorted(
            finding["id"] for finding in findings if ranks[finding["severity"]] >= ranks[level]
        )
        gate = report(out)["gate"]
        assert gate["fail_on"] == level
        assert sorted(violation["finding"] for violation in gate["violations"]) == expected
        assert result.exit_code == (1 if expected else 0), level


class CrashingCheck:
    id = "test.crashing"
    needs = ()

    def run(self, context: AuditContext) -> tuple:
        raise ZeroDivisionError("deliberate crash in a check")


def test_crashing_check_exits_3_and_still_writes_reports(
    cli: Cli, workspace: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(audit.api, "CHECKS", (*CHECKS, CrashingCheck()))
    model, data = fair_inputs(workspace)
    out = tmp_path / "out"
    result = cli(*audit_args(model, data, out))
    assert result.exit_code == 3, result.output
    assert "Traceback" not in result.output
    assert result.stderr.strip().splitlines() == [
        "rai-audit: audit incomplete: a check crashed (see the report's checks)"
    ]
    assert "Check test.crashing error: ZeroDivisionError: deliberate crash in a check" in (
        result.stdout
    )
    assert sorted(path.name for path in out.iterdir()) == ["report.html", "report.json"]
    checks = {entry["id"]: entry for entry in report(out)["checks"]}
    assert checks["test.crashing"]["status"] == "error"
    assert checks["test.crashing"]["reason"] == "ZeroDivisionError: deliberate crash in a check"
    # The other checks ran or were skipped for a stated reason; none crashed with it.
    for check in CHECKS:
        assert checks[check.id]["status"] in ("ok", "skipped"), checks[check.id]
        assert checks[check.id]["status"] == "ok" or checks[check.id]["reason"]
    assert "deliberate crash in a check" in (out / "report.html").read_text("utf-8")


def test_crash_in_a_registered_check(
    cli: Cli, workspace: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    crashing = CHECKS[0]

    def explode(context: AuditContext) -> tuple:
        raise RuntimeError("bug in a shipped check")

    monkeypatch.setattr(type(crashing), "run", lambda self, context: explode(context))
    model, data = biased_inputs(workspace)
    out = tmp_path / "out"
    result = cli(*audit_args(model, data, out, "--format", "json"))
    assert result.exit_code == 3, result.output
    entry = next(check for check in report(out)["checks"] if check["id"] == crashing.id)
    assert entry == {
        "id": crashing.id,
        "status": "error",
        "reason": "RuntimeError: bug in a shipped check",
        "findings": 0,
        "violations": None,  # it measured nothing
        # A crashed check is still described, from its knowledge file.
        "description": shipped_check_files()[crashing.id]["description"],
    }


def test_typer_usage_errors_exit_2(cli: Cli, workspace: Workspace, tmp_path: Path) -> None:
    model, data = fair_inputs(workspace)
    missing_target = cli("run", model, data, "--sensitive", "sex")
    assert missing_target.exit_code == 2
    assert "Missing option '--target'" in missing_target.stderr
    unknown_option = cli(*audit_args(model, data, tmp_path / "out", "--colour"))
    assert unknown_option.exit_code == 2
    assert "No such option: --colour" in unknown_option.stderr
    not_a_number = cli(*audit_args(model, data, tmp_path / "out", "--threshold", "high"))
    assert not_a_number.exit_code == 2
    assert "Invalid value for '--threshold'" in not_a_number.stderr
    for result in (missing_target, unknown_option, not_a_number):
        assert "Traceback" not in result.output
    assert not (tmp_path / "out").exists()


def test_our_usage_errors_exit_2_in_one_line(cli: Cli, workspace: Workspace) -> None:
    _, data = fair_inputs(workspace)
    result = cli("run", data, "--target", "label", "--sensitive", "sex")
    assert_one_line_error(result, "--predictions COLUMN")


def test_run_help_lists_every_option(cli: Cli) -> None:
    result = cli("run", "--help")
    assert result.exit_code == 0
    command = get_command(app).commands["run"]  # type: ignore[attr-defined]
    options = [param for param in command.params if param.param_type_name == "option"]
    assert len(options) >= 30
    for option in options:
        for name in (*option.opts, *option.secondary_opts):
            assert name in result.stdout, name
        assert option.help, option.name
        if not option.is_flag:
            # Every option that takes a value shows one in use.
            assert "e.g." in option.help, option.name
    for text in (
        "rai-audit run model.pt data.csv --target income --sensitive sex,race",
        "--predictions decision",
        "Exit codes: 0 gate passed, 1 gate failed, 2 usage or input error, 3 audit",
    ):
        assert text in " ".join(result.stdout.split()), text


def test_format_json_writes_only_report_json(
    cli: Cli, workspace: Workspace, tmp_path: Path
) -> None:
    model, data = fair_inputs(workspace)
    out = tmp_path / "out"
    result = cli(*audit_args(model, data, out, "--format", "json"))
    assert result.exit_code == 0, result.output
    assert [path.name for path in out.iterdir()] == ["report.json"]
    assert f"Wrote {out / 'report.json'}" in result.stdout
    assert "report.html" not in result.stdout


def test_format_html_writes_only_report_html(
    cli: Cli, workspace: Workspace, tmp_path: Path
) -> None:
    model, data = fair_inputs(workspace)
    out = tmp_path / "out"
    result = cli(*audit_args(model, data, out, "--format", "HTML"))
    assert result.exit_code == 0, result.output
    assert [path.name for path in out.iterdir()] == ["report.html"]
    assert (out / "report.html").read_text("utf-8").lstrip().lower().startswith("<!doctype html")


def test_reports_replace_old_ones_without_temporary_files(
    cli: Cli, workspace: Workspace, tmp_path: Path
) -> None:
    model, data = fair_inputs(workspace)
    out = tmp_path / "out"
    out.mkdir()
    (out / "report.json").write_text("stale")
    (out / "unrelated.txt").write_text("kept")
    result = cli(*audit_args(model, data, out))
    assert result.exit_code == 0, result.output
    assert sorted(path.name for path in out.iterdir()) == [
        "report.html",
        "report.json",
        "unrelated.txt",
    ]
    assert report(out)["schema_version"]
    assert (out / "unrelated.txt").read_text() == "kept"


def test_reports_get_the_mode_of_any_new_file(
    cli: Cli, workspace: Workspace, tmp_path: Path
) -> None:
    model, data = fair_inputs(workspace)
    out = tmp_path / "out"
    previous = os.umask(0o022)
    try:
        result = cli(*audit_args(model, data, out))
    finally:
        os.umask(previous)
    assert result.exit_code == 0, result.output
    for name in ("report.json", "report.html"):
        assert (out / name).stat().st_mode & 0o777 == 0o644, name


def test_failed_write_leaves_old_report_and_no_temporary_file(
    cli: Cli, workspace: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model, data = fair_inputs(workspace)
    out = tmp_path / "out"
    out.mkdir()
    (out / "report.json").write_text("previous report")

    def refuse(source: str | Path, target: str | Path) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(audit.core.output.os, "replace", refuse)
    result = cli(*audit_args(model, data, out, "--format", "json"))
    assert_one_line_error(result, "report.json", "cannot write it", "No space left on device")
    assert [path.name for path in out.iterdir()] == ["report.json"]
    assert (out / "report.json").read_text() == "previous report"


def test_quiet_prints_only_the_verdict(cli: Cli, workspace: Workspace, tmp_path: Path) -> None:
    model, data = biased_inputs(workspace)
    result = cli(*audit_args(model, data, tmp_path / "out", "--quiet"))
    assert result.exit_code == 1
    assert result.stdout == "Gate failed.\n"


def test_config_file_in_cwd_sets_the_policy(cli: Cli, workspace: Workspace, tmp_path: Path) -> None:
    model, data = biased_inputs(workspace)
    out = tmp_path / "out"
    (cli.cwd / "rai-audit.toml").write_text(
        "\n".join(
            [
                'fail_on = "critical"',
                "[thresholds.demographic_parity_ratio]",
                "min = 0.0",
                "[thresholds.selection_rate_ratio]",
                "min = 0.0",
                "[thresholds.demographic_parity_difference]",
                "max = 1.0",
                "[thresholds.equalized_odds_difference]",
                "max = 1.0",
                "[thresholds.equalized_odds_ratio]",
                "min = 0.0",
                "[thresholds.equal_opportunity_difference]",
                "max = 1.0",
                "",
            ]
        )
    )
    result = cli(*audit_args(model, data, out, "--format", "json"))
    assert result.exit_code == 0, result.output
    document = report(out)
    assert document["run"]["config_file"].endswith("rai-audit.toml")
    assert document["run"]["config"]["fail_on"] == "critical"
    # A flag beats the file.
    result = cli(*audit_args(model, data, out, "--format", "json", "--fail-on", "info"))
    assert report(out)["run"]["config"]["fail_on"] == "info"


def test_version(cli: Cli) -> None:
    result = cli("version")
    assert result.exit_code == 0
    assert result.stdout.startswith("rai-audit ")


def test_internal_error_is_one_line_exit_3(
    workspace: Workspace,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import audit.api
    import audit.cli

    def broken(request: object, progress: object = None) -> None:
        raise KeyError("internal bug")

    model, data = fair_inputs(workspace)
    # The CLI imports the engine when it runs an audit, so the engine's function is patched.
    monkeypatch.setattr(audit.api, "run_audit", broken)
    # This process goes on after the command (tests/test_collector.py tests the freeze).
    monkeypatch.setattr(audit.cli, "freeze_for_exit", lambda: None)
    monkeypatch.chdir(tmp_path)
    argv = ["rai-audit", *map(str, audit_args(model, data, tmp_path / "out"))]
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as exit_info:
        audit.cli.main()
    assert exit_info.value.code == 3
    captured = capsys.readouterr()
    assert captured.err.strip().splitlines() == [
        "rai-audit: internal error: KeyError: 'internal bug' (rerun with --debug and report it)"
    ]
    assert "Traceback" not in captured.err


@pytest.mark.slow
def test_console_script_end_to_end(workspace: Workspace, tmp_path: Path) -> None:
    executable = shutil.which("rai-audit") or str(Path(sys.executable).parent / "rai-audit")
    if not Path(executable).exists():
        pytest.skip("the rai-audit console script is not installed")
    model, data = biased_inputs(workspace)
    out = tmp_path / "out"
    args = [executable, *map(str, audit_args(model, data, out, "--format", "json"))]
    completed = subprocess.run(args, capture_output=True, text=True, cwd=tmp_path, check=False)
    assert completed.returncode == 1, completed.stderr
    assert completed.stderr == ""
    document = report(out)
    assert document["gate"]["passed"] is False
    assert document["run"]["command"][:3] == ["rai-audit", "run", str(model)]
