"""Run-to-run comparison: ``rai-audit diff`` and ``rai-audit run --baseline``.

The main fixture audits two real, different models on the same Adult test split: the bundled
TorchScript MLP (which takes sex and race as inputs) and a scikit-learn logistic regression
trained here on the Adult training split without them. Every expected new, resolved,
worsened or changed item is recomputed in this file from the two report.json files.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from conftest import FAST_N_BOOT, Cli, Workspace, assert_one_line_error, default_module, make_frame
from typer.testing import CliRunner, Result

import audit.api
from audit import AuditRequest, run_audit, to_json, validate_document
from audit.cli import app
from audit.core.compare import ReportError, compare, load_report
from audit.core.registry import CHECKS

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "adult"
SEVERITIES = ["info", "low", "medium", "high", "critical"]
VALID = "not a valid rai-audit report"
ADULT_COLUMNS = [
    "age",
    "workclass",
    "fnlwgt",
    "education",
    "education-num",
    "marital-status",
    "occupation",
    "relationship",
    "race",
    "sex",
    "capital-gain",
    "capital-loss",
    "hours-per-week",
    "native-country",
    "income",
]
NUMERIC = ["age", "education-num", "capital-gain", "capital-loss", "hours-per-week"]
# Neither sex nor race is an input of the second model.
CATEGORICAL = ["workclass", "education", "marital-status", "occupation", "relationship"]


# The comparison does not depend on which checks produced the findings. The fairness and data
# checks alone keep these audits to seconds; the privacy and explanation checks, which take
# far longer on 16,281 rows, are tested in their own files.
CORE_CHECKS = tuple(check for check in CHECKS if check.id.split(".")[0] in ("fairness", "data"))


@pytest.fixture(autouse=True)
def core_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(audit.api, "CHECKS", CORE_CHECKS)


def invoke(*args: str | Path) -> Result:
    return CliRunner().invoke(app, [str(arg) for arg in args])


def adult_audit(model: Path, out: Path, *extra: str | Path) -> Result:
    return invoke(
        "run",
        model,
        EXAMPLE / "test.csv.gz",
        "--target",
        "income",
        "--sensitive",
        "sex,race",
        "--positive-label",
        ">50K",
        "--n-boot",
        "200",
        "--format",
        "json",
        "--out",
        out,
        *extra,
    )


def read(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(path.read_text("utf-8"))
    return document


def write(path: Path, document: dict[str, Any]) -> Path:
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def train_logistic_regression(directory: Path) -> tuple[Path, Path]:
    """A LogisticRegression on the Adult training rows and its preprocessor, both skops."""
    import skops.io
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    rows = pd.read_csv(
        EXAMPLE / "data" / "adult.data.gz",
        header=None,
        names=ADULT_COLUMNS,
        skipinitialspace=True,
    )
    preprocessor = ColumnTransformer(
        [
            ("numeric", StandardScaler(), NUMERIC),
            (
                "categorical",
                OneHotEncoder(handle_unknown="ignore", sparse_output=False),
                CATEGORICAL,
            ),
        ]
    )
    inputs = preprocessor.fit_transform(rows[NUMERIC + CATEGORICAL])
    model = LogisticRegression(max_iter=1000).fit(inputs, rows["income"])
    model_path, preprocessor_path = directory / "logistic.skops", directory / "prep.skops"
    skops.io.dump(model, model_path)
    skops.io.dump(preprocessor, preprocessor_path)
    return model_path, preprocessor_path


@dataclass(frozen=True)
class AdultRuns:
    root: Path
    mlp: Path  # report.json of the MLP, absolute gate
    logistic: Path  # report.json of the logistic regression, gated against `mlp`
    logistic_exit: int
    mlp_again: Path  # the MLP again, gated against `mlp`
    mlp_again_result: Result
    edited_baseline: Path  # `mlp` less one finding and with another one milder
    mlp_edited: Path  # the MLP gated against `edited_baseline`
    mlp_edited_result: Result


@pytest.fixture(scope="module")
def adult(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AdultRuns]:
    root = tmp_path_factory.mktemp("adult")
    model, preprocessor = train_logistic_regression(root)
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)  # no rai-audit.toml or pyproject.toml changes the policy
        patch.setattr(audit.api, "CHECKS", CORE_CHECKS)
        first = adult_audit(EXAMPLE / "model.pt", root / "mlp")
        assert first.exit_code == 1, first.output  # the absolute gate fails
        mlp = root / "mlp" / "report.json"
        second = adult_audit(
            model, root / "logistic", "--preprocessor", preprocessor, "--baseline", mlp
        )
        assert second.exit_code in (0, 1), second.output
        again = adult_audit(EXAMPLE / "model.pt", root / "again", "--baseline", mlp)
        edited = read(mlp)
        edited["findings"] = edited["findings"][1:]  # the most severe finding is dropped
        milder = next(f for f in edited["findings"] if f["severity"] == "medium")
        milder["severity"] = "low"
        edited_path = write(root / "edited.json", edited)
        third = adult_audit(EXAMPLE / "model.pt", root / "edited", "--baseline", edited_path)
    yield AdultRuns(
        root=root,
        mlp=mlp,
        logistic=root / "logistic" / "report.json",
        logistic_exit=second.exit_code,
        mlp_again=root / "again" / "report.json",
        mlp_again_result=again,
        edited_baseline=edited_path,
        mlp_edited=root / "edited" / "report.json",
        mlp_edited_result=third,
    )


# --- independent reference computations over report.json files ------------------------------


def findings_by_fingerprint(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {finding["fingerprint"]: finding for finding in document["findings"]}


def rank(finding: dict[str, Any]) -> int:
    return SEVERITIES.index(finding["severity"])


def expected_finding_changes(
    baseline: dict[str, Any], current: dict[str, Any]
) -> dict[str, set[str]]:
    before, after = findings_by_fingerprint(baseline), findings_by_fingerprint(current)
    both = before.keys() & after.keys()
    return {
        "new": set(after) - set(before),
        "resolved": set(before) - set(after),
        "worsened": {key for key in both if rank(after[key]) > rank(before[key])},
        "improved": {key for key in both if rank(after[key]) < rank(before[key])},
    }


def expected_regressions(baseline: dict[str, Any], current: dict[str, Any]) -> set[str]:
    """Finding ids that are new or more severe, at or above fail_on (default policy)."""
    changes = expected_finding_changes(baseline, current)
    after = findings_by_fingerprint(current)
    fail_on = SEVERITIES.index(current["gate"]["fail_on"])
    return {
        after[key]["id"]
        for key in changes["new"] | changes["worsened"]
        if rank(after[key]) >= fail_on
    }


def expected_metric_changes(
    baseline: dict[str, Any], current: dict[str, Any]
) -> dict[tuple[Any, ...], str]:
    """Key -> worse/better/up/down for every metric whose estimate moved beyond the other
    run's interval, with the other run's estimate beyond its own on the opposite side."""

    def estimates(document: dict[str, Any]) -> dict[tuple[Any, ...], tuple[Any, Any]]:
        table = {}
        for group in document["groups"]:
            for metric, value in group["metrics"].items():
                key = ("group", tuple(group["feature"]), tuple(group["group"]), metric)
                table[key] = (value, group["ci"].get(metric))
        for entry in document["disparities"]:
            key = ("disparity", tuple(entry["feature"]), entry["comparison"], entry["metric"])
            table[key] = (entry["value"], entry["ci"])
        return table

    before, after = estimates(baseline), estimates(current)
    changed = {}
    for key in before.keys() & after.keys():
        (old, old_ci), (new, new_ci) = before[key], after[key]
        if None in (old, new, old_ci, new_ci):
            continue
        up = new > old_ci[1] and old < new_ci[0]
        down = new < old_ci[0] and old > new_ci[1]
        if not (up or down):
            continue
        if key[0] == "group":
            changed[key] = "up" if new > old else "down"
        elif key[3].endswith("_ratio"):
            changed[key] = "worse" if new < old else "better"
        else:
            changed[key] = "worse" if new > old else "better"
    return changed


def metric_changes_of(diff: dict[str, Any]) -> dict[tuple[Any, ...], str]:
    found = {}
    for change in diff["metric_changes"]:
        if change["scope"] == "group":
            key = ("group", tuple(change["feature"]), tuple(change["group"]), change["metric"])
            found[key] = change["direction"]
            assert change["assessment"] == "neutral"
        else:
            key = ("disparity", tuple(change["feature"]), change["comparison"], change["metric"])
            found[key] = change["assessment"]
    return found


def json_diff(baseline: Path, current: Path) -> tuple[int, dict[str, Any]]:
    result = invoke("diff", baseline, current, "--format", "json")
    assert result.stderr == "", result.stderr
    return result.exit_code, json.loads(result.stdout)


# --- diff of two real audits of different models ---------------------------------------------


@pytest.mark.parametrize("order", ["mlp_to_logistic", "logistic_to_mlp"])
def test_diff_of_two_models_lists_exactly_the_changed_findings(
    adult: AdultRuns, order: str
) -> None:
    baseline, current = (adult.mlp, adult.logistic)
    if order == "logistic_to_mlp":
        baseline, current = current, baseline
    before, after = read(baseline), read(current)
    exit_code, diff = json_diff(baseline, current)

    expected = expected_finding_changes(before, after)
    listed = {
        kind: {change["fingerprint"] for change in diff["findings"][kind]} for kind in expected
    }
    assert listed == expected
    # Judged by cause, both models fail the same way (each slice's gap is critical, the
    # calibration gap by race medium); they differ in the metrics compared below. The
    # edited-baseline runs exercise new, resolved, worsened and improved findings.
    assert [change["fingerprint"] for change in diff["findings"]["new"]] == []
    old_by_key, new_by_key = findings_by_fingerprint(before), findings_by_fingerprint(after)
    in_both = old_by_key.keys() & new_by_key.keys()
    moved = expected["worsened"] | expected["improved"]
    assert diff["findings"]["unchanged"] == len(in_both - moved)
    for change in diff["findings"]["worsened"] + diff["findings"]["improved"]:
        key = change["fingerprint"]
        severities = (change["baseline_severity"], change["current_severity"])
        assert severities == (old_by_key[key]["severity"], new_by_key[key]["severity"])

    regressions = expected_regressions(before, after)
    flagged = {
        change["finding"]
        for kind in ("new", "worsened")
        for change in diff["findings"][kind]
        if change["regression"]
    }
    assert flagged == regressions

    metric_changes = expected_metric_changes(before, after)
    assert metric_changes_of(diff) == metric_changes
    assert metric_changes  # a different model moves some metric beyond its interval
    worse = {key for key, verdict in metric_changes.items() if verdict == "worse"}
    assert diff["got_worse"] == bool(regressions or worse)
    assert exit_code == (1 if regressions or worse else 0)
    # Same data and policy, different models: nothing to warn about.
    assert diff["warnings"] == []
    kinds = (diff["baseline"]["model_kind"], diff["current"]["model_kind"])
    assert kinds == (
        ("torchscript", "skops") if order == "mlp_to_logistic" else ("skops", "torchscript")
    )


def test_the_mlp_is_worse_than_the_logistic_regression(adult: AdultRuns) -> None:
    # The MLP takes sex and race as inputs; the logistic regression does not.
    before, after = read(adult.logistic), read(adult.mlp)
    worse = {
        key for key, verdict in expected_metric_changes(before, after).items() if verdict == "worse"
    }
    assert worse
    result = invoke("diff", adult.logistic, adult.mlp)
    assert result.exit_code == 1, result.output
    assert "Worse than the baseline:" in result.stdout
    # Both models fail on the same causes: what got worse is the disparities, not findings.
    assert "0 new or worsened finding(s) at or above medium" in result.stdout
    assert "Disparities changed beyond their intervals" in result.stdout


def test_table_counts_match_the_json_diff(adult: AdultRuns) -> None:
    _, diff = json_diff(adult.mlp, adult.logistic)
    table = invoke("diff", adult.mlp, adult.logistic)
    findings = diff["findings"]
    assert (
        f"Findings: {len(findings['new'])} new, {len(findings['resolved'])} resolved, "
        f"{len(findings['worsened'])} worsened, {len(findings['improved'])} improved and "
        f"{findings['unchanged']} unchanged finding(s)."
    ) in table.stdout
    worse = sum(change["assessment"] == "worse" for change in diff["metric_changes"])
    assert (
        f"Metrics: {len(diff['metric_changes'])} of {diff['metrics_compared']} changed beyond "
        f"their intervals ({worse} disparities worse)"
    ) in table.stdout


def test_a_report_against_itself_changes_nothing(adult: AdultRuns) -> None:
    exit_code, diff = json_diff(adult.mlp, adult.mlp)
    assert exit_code == 0
    total = len(read(adult.mlp)["findings"])
    assert diff["findings"] == {
        "new": [],
        "resolved": [],
        "worsened": [],
        "improved": [],
        "unchanged": total,
    }
    assert diff["metric_changes"] == []
    assert diff["got_worse"] is False


def test_a_second_run_of_the_same_model_changes_nothing(adult: AdultRuns) -> None:
    # A separate run with the same seed: the same findings and the same numbers.
    exit_code, diff = json_diff(adult.mlp, adult.mlp_again)
    assert exit_code == 0
    assert diff["findings"]["new"] == diff["findings"]["resolved"] == []
    assert diff["findings"]["worsened"] == diff["findings"]["improved"] == []
    assert diff["metric_changes"] == []
    groups = read(adult.mlp)["groups"]
    assert diff["metrics_compared"] == sum(
        1
        for group in groups
        for metric, value in group["metrics"].items()
        if value is not None and group["ci"].get(metric) is not None
    ) + sum(
        1
        for entry in read(adult.mlp)["disparities"]
        if entry["value"] is not None and entry["ci"] is not None
    )
    table = invoke("diff", adult.mlp, adult.mlp_again)
    assert table.exit_code == 0
    assert table.stdout.strip().endswith("Nothing got worse than the baseline.")


# --- run --baseline ----------------------------------------------------------------------------


def test_baseline_gate_passes_a_run_no_worse_than_its_baseline(adult: AdultRuns) -> None:
    result = adult.mlp_again_result
    assert result.exit_code == 0, result.output
    document = read(adult.mlp_again)
    validate_document(document)
    assert document["schema_version"] == "1.5.0"
    # The same findings would fail the absolute gate...
    assert any(rank(f) >= SEVERITIES.index("medium") for f in document["findings"])
    assert read(adult.mlp)["gate"]["passed"] is False
    # ...but none is new or worse.
    assert document["gate"]["passed"] is True
    assert document["gate"]["violations"] == []
    baseline_bytes = adult.mlp.read_bytes()
    assert document["gate"]["baseline"] == {
        "path": str(adult.mlp),
        "sha256": hashlib.sha256(baseline_bytes).hexdigest(),
        "bytes": len(baseline_bytes),
    }
    # The summary counts the findings that only the baseline lets pass.
    carried = sum(rank(f) >= SEVERITIES.index("medium") for f in document["findings"])
    assert (
        "Gate passed: no new or worsened finding at or above medium; "
        f"{carried} finding(s) at or above it were already in the baseline." in result.stdout
    )


def test_baseline_gate_of_the_second_model(adult: AdultRuns) -> None:
    regressions = expected_regressions(read(adult.mlp), read(adult.logistic))
    gate = read(adult.logistic)["gate"]
    assert {violation["finding"] for violation in gate["violations"]} == regressions
    assert gate["passed"] is (not regressions)
    assert adult.logistic_exit == (1 if regressions else 0)


def test_baseline_gate_fails_on_a_new_and_a_worsened_finding(adult: AdultRuns) -> None:
    result = adult.mlp_edited_result
    assert result.exit_code == 1, result.output
    original, edited = read(adult.mlp), read(adult.edited_baseline)
    dropped = original["findings"][0]
    milder = next(
        f
        for f in edited["findings"]
        if f["severity"] != findings_by_fingerprint(original)[f["fingerprint"]]["severity"]
    )
    gate = read(adult.mlp_edited)["gate"]
    assert gate["passed"] is False
    assert sorted((v["finding"], v["kind"], v["severity"]) for v in gate["violations"]) == sorted(
        [
            (dropped["id"], "new", dropped["severity"]),
            (milder["id"], "worsened", "medium"),
        ]
    )
    assert f"  medium (was low): {milder['title']}" in result.stdout.splitlines()
    assert f"  {dropped['severity']} (new): {dropped['title']}" in result.stdout.splitlines()
    assert "Gate failed: 2 new or worsened finding(s) at or above medium:" in result.stdout


# --- the change rule on edited documents ------------------------------------------------------


def disparity(document: dict[str, Any], feature: list[str], metric: str) -> dict[str, Any]:
    return next(
        entry
        for entry in document["disparities"]
        if entry["feature"] == feature
        and entry["metric"] == metric
        and entry["comparison"] == "between_groups"
    )


def test_a_change_needs_each_estimate_outside_the_other_interval(adult: AdultRuns) -> None:
    baseline = read(adult.mlp)
    current = copy.deepcopy(baseline)
    old = disparity(baseline, ["sex"], "demographic_parity_difference")
    new = disparity(current, ["sex"], "demographic_parity_difference")
    low, high = old["ci"]
    # Current point above the baseline interval, but its own wide interval holds the old point.
    new["value"], new["ci"] = high + 0.01, [old["value"] - 0.01, high + 0.05]
    assert compare(baseline, current).metric_changes == ()
    # Now each point lies outside the other's interval: a worse difference.
    new["ci"] = [high + 0.005, high + 0.05]
    (change,) = compare(baseline, current).metric_changes
    assert (change.metric, change.direction, change.assessment) == (
        "demographic_parity_difference",
        "up",
        "worse",
    )
    assert change.baseline_interval == (low, high)
    # A lower difference is better.
    new["value"], new["ci"] = low - 0.01, [low - 0.05, low - 0.005]
    (change,) = compare(baseline, current).metric_changes
    assert (change.direction, change.assessment) == ("down", "better")


def test_a_lower_ratio_is_worse_and_a_group_metric_is_neutral(adult: AdultRuns) -> None:
    baseline = read(adult.mlp)
    current = copy.deepcopy(baseline)
    ratio = disparity(current, ["sex"], "demographic_parity_ratio")
    low = ratio["ci"][0]
    ratio["value"], ratio["ci"] = low - 0.02, [low - 0.04, low - 0.01]
    group = next(g for g in current["groups"] if g["feature"] == ["sex"])
    high = group["ci"]["accuracy"][1]
    group["metrics"]["accuracy"], group["ci"]["accuracy"] = high + 0.02, [high + 0.01, high + 0.03]
    comparison = compare(baseline, current)
    found = {(change.scope, change.metric): change for change in comparison.metric_changes}
    assert set(found) == {("disparity", "demographic_parity_ratio"), ("group", "accuracy")}
    assert found["disparity", "demographic_parity_ratio"].assessment == "worse"
    assert found["group", "accuracy"].assessment == "neutral"
    assert found["group", "accuracy"].direction == "up"
    assert found["group", "accuracy"].group == tuple(group["group"])
    assert comparison.got_worse  # the ratio; the accuracy alone would not count
    # Without an interval a metric is not judged.
    ratio["ci"] = None
    judged = compare(baseline, current)
    assert judged.metrics_not_judged == compare(baseline, baseline).metrics_not_judged + 1
    assert [change.metric for change in judged.metric_changes] == ["accuracy"]
    assert not judged.got_worse


def test_a_worsened_finding_below_fail_on_is_listed_but_does_not_fail(adult: AdultRuns) -> None:
    baseline = read(adult.mlp)
    current = copy.deepcopy(baseline)
    current["findings"] = [f for f in current["findings"] if f["severity"] == "low"][:1]
    baseline["findings"] = copy.deepcopy(current["findings"])
    baseline["findings"][0]["severity"] = "info"
    comparison = compare(baseline, current)
    (worsened,) = comparison.worsened
    assert (worsened.baseline_severity, worsened.current_severity) == ("info", "low")
    assert worsened.regression is False
    assert not comparison.got_worse


# --- warnings, the Python API, and errors, on small synthetic audits -------------------------


def small_audit(cli: Cli, workspace: Workspace, out: Path, bias: float, *extra: str) -> Path:
    model = workspace.torchscript(default_module())
    data = workspace.table(make_frame(bias=bias), f"data-{bias}.csv")
    args: list[str | Path] = [
        "run",
        model,
        data,
        "--target",
        "label",
        "--sensitive",
        "sex,group",
        "--n-boot",
        str(FAST_N_BOOT),
        "--format",
        "json",
        "--out",
        out,
        *extra,
    ]
    result = cli(*args)
    assert result.exit_code in (0, 1), result.output
    return out / "report.json"


def test_warns_when_data_or_policy_differ(cli: Cli, workspace: Workspace, tmp_path: Path) -> None:
    fair = small_audit(cli, workspace, tmp_path / "fair", 0.0)
    biased = small_audit(cli, workspace, tmp_path / "biased", 0.8, "--fail-on", "high")
    _, diff = json_diff(fair, biased)
    data_warning, policy_warning = diff["warnings"]
    assert data_warning.startswith("the runs audited different data")
    assert "data-0.0.csv" in data_warning and "data-0.8.csv" in data_warning
    assert policy_warning == (
        "the runs used different policy settings (fail_on): findings and intervals may "
        "differ for that reason alone"
    )
    table = invoke("diff", fair, biased)
    assert "Warning: the runs audited different data" in table.stdout
    assert "Warning: the runs used different policy settings (fail_on)" in table.stdout
    # The biased data's disparities are new findings; the current policy (fail_on=high) judges.
    expected = expected_regressions(read(fair), read(biased))
    flagged = {c["finding"] for c in diff["findings"]["new"] if c["regression"]}
    assert flagged == expected
    # run --baseline prints the same warnings above its verdict.
    gated = small_audit(cli, workspace, tmp_path / "gated", 0.8, "--baseline", str(fair))
    assert {v["finding"] for v in read(gated)["gate"]["violations"]} == expected_regressions(
        read(fair), read(gated)
    )
    printed = cli(
        "run", workspace.root / "model.pt", workspace.root / "data-0.8.csv", "--target", "label",
        "--sensitive", "sex,group", "--n-boot", str(FAST_N_BOOT), "--format", "json",
        "--out", tmp_path / "printed", "--baseline", fair,
    )  # fmt: skip
    assert "Warning: the runs audited different data" in printed.stdout


def test_compare_a_document_with_a_fresh_result(workspace: Workspace, tmp_path: Path) -> None:
    model = workspace.torchscript(default_module())
    data = workspace.table(make_frame(bias=0.8))
    request = AuditRequest(
        data=data,
        model=model,
        target="label",
        sensitive=("sex", "group"),
        search_config=False,
        policy_overrides={"n_boot": FAST_N_BOOT},
    )
    first = run_audit(request)
    path = tmp_path / "first.json"
    path.write_text(to_json(first), encoding="utf-8")
    loaded = load_report(path)
    comparison = compare(loaded.document, run_audit(request), baseline_file=loaded.file)
    assert comparison.new == comparison.resolved == comparison.worsened == ()
    assert comparison.unchanged == len(first.findings) > 0
    assert comparison.metric_changes == ()
    assert comparison.baseline.report == loaded.file
    assert comparison.current.report is None

    # Through the API, a baseline turns the gate into a regression gate.
    gated = run_audit(dataclasses.replace(request, baseline=path))
    assert not first.gate.passed
    assert gated.gate.passed
    assert gated.gate.baseline == loaded.file


def test_diff_writes_the_json_diff_with_out(adult: AdultRuns, tmp_path: Path) -> None:
    target = tmp_path / "diff.json"
    result = invoke("diff", adult.mlp, adult.logistic, "--format", "json", "--out", target)
    assert result.exit_code in (0, 1)
    assert json.loads(target.read_text("utf-8")) == json.loads(result.stdout)
    assert json.loads(result.stdout)["format"] == "rai-audit-diff/1"


@pytest.mark.parametrize(
    ("edit", "needles"),
    [
        (
            lambda d: d["findings"][0].update(severity="severe"),
            [VALID, ".findings[0].severity: 'severe' is not one of"],
        ),
        (lambda d: d.pop("gate"), [VALID, "the top level: 'gate' is a required property"]),
        (lambda d: d.update(schema_version="2.0.0"), ["schema version 2.0.0", "1.x"]),
        (
            lambda d: d["run"]["data"].update(rows="many"),
            [VALID, ".run.data.rows: 'many' is not of type 'integer'"],
        ),
    ],
    ids=["bad-severity", "no-gate", "major-2", "bad-rows"],
)
def test_diff_names_the_failing_path_of_an_invalid_report(
    adult: AdultRuns, tmp_path: Path, edit: Any, needles: list[str]
) -> None:
    document = read(adult.mlp)
    edit(document)
    bad = write(tmp_path / "bad.json", document)
    for args in ((bad, adult.mlp), (adult.mlp, bad)):
        assert_one_line_error(invoke("diff", *args), str(bad), *needles)


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("{", "not valid JSON"),
        ('{"schema_version": NaN}', "NaN is not a JSON number"),
        ("[1, 2]", "the JSON is list, not an object"),
        (b"\xff\xfe", "not UTF-8 text"),
    ],
    ids=["truncated", "nan", "list", "binary"],
)
def test_diff_rejects_unreadable_json_in_one_line(
    adult: AdultRuns, tmp_path: Path, content: str | bytes, needle: str
) -> None:
    bad = tmp_path / "bad.json"
    if isinstance(content, bytes):
        bad.write_bytes(content)
    else:
        bad.write_text(content, encoding="utf-8")
    assert_one_line_error(invoke("diff", adult.mlp, bad), str(bad), needle)


def test_diff_usage_errors(adult: AdultRuns, tmp_path: Path) -> None:
    missing = tmp_path / "missing.json"
    assert_one_line_error(invoke("diff", missing, adult.mlp), str(missing), "not found")
    assert_one_line_error(invoke("diff", tmp_path, adult.mlp), str(tmp_path), "is a directory")
    assert_one_line_error(invoke("diff", adult.mlp, adult.mlp, "--format", "xml"), "--format 'xml'")
    before = adult.mlp.read_bytes()
    assert_one_line_error(
        invoke("diff", adult.mlp, adult.logistic, "--out", adult.mlp), "is an input"
    )
    assert adult.mlp.read_bytes() == before


def test_run_refuses_a_bad_baseline_before_auditing(
    cli: Cli, workspace: Workspace, tmp_path: Path
) -> None:
    model = workspace.torchscript(default_module())
    data = workspace.table(make_frame())
    newer = workspace.text("newer.json", json.dumps({"schema_version": "2.0.0"}))
    broken = workspace.text("broken.json", "not json")
    for baseline, needle in (
        (broken, "not valid JSON"),
        (newer, "schema version 2.0.0"),
        (tmp_path / "absent.json", "not found"),
    ):
        out = tmp_path / f"out-{baseline.stem}"
        result = cli(
            "run", model, data, "--target", "label", "--sensitive", "sex", "--out", out,
            "--baseline", baseline,
        )  # fmt: skip
        assert_one_line_error(result, str(baseline), needle)
        assert not out.exists()
    # A baseline is an input: the new report.json may not replace it.
    first = tmp_path / "first"
    cli("run", model, data, "--target", "label", "--sensitive", "sex", "--out", first)
    before = (first / "report.json").read_bytes()
    result = cli(
        "run", model, data, "--target", "label", "--sensitive", "sex", "--out", first,
        "--baseline", first / "report.json",
    )  # fmt: skip
    assert_one_line_error(result, "is an input of this audit")
    assert (first / "report.json").read_bytes() == before
    with pytest.raises(ReportError, match="not valid JSON"):
        run_audit(
            AuditRequest(
                data=data, model=model, target="label", sensitive=("sex",), baseline=broken
            )
        )
