"""The explanation stage inside the audit: direct use, proxies and the flip test on models whose
use of the sensitive attribute is known by construction; failing soft; determinism."""

from __future__ import annotations

import json
import sys
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import FAST_N_BOOT, Cli, Workspace, linear

import audit.explain.stage
from audit import AuditRequest, AuditResult, CheckStatus, run_audit, to_json
from audit.core.registry import CHECKS
from audit.explain.results import Explanations
from audit.models import load_model
from audit.models.features import from_metadata, parse_metadata

# x1, x2 and proxy are numeric; sex is one-hot encoded (F, M): five model inputs.
METADATA = {
    "format": "rai-audit/features-v1",
    "features": [
        {"column": "x1", "kind": "numeric"},
        {"column": "x2", "kind": "numeric"},
        {"column": "proxy", "kind": "numeric"},
        {"column": "sex", "kind": "categorical", "categories": ["F", "M"]},
    ],
    "class_labels": ["0", "1"],
    "positive_label": "1",
    "output_kind": "logits",
}
# Logit weights over the inputs [x1, x2, proxy, sex=F, sex=M]; one output, read with sigmoid.
USES_SEX = [1.0, 0.0, 0.0, -1.5, 1.5]
USES_PROXY = [1.0, 0.0, 1.5, 0.0, 0.0]
USES_NEITHER = [1.0, 0.5, 0.0, 0.0, 0.0]
EXPLAIN_CHECKS = tuple(check for check in CHECKS if check.id.startswith("explain."))


def explain_frame(rows: int = 600, seed: int = 0) -> pd.DataFrame:
    """proxy tracks sex (correlation ratio about 0.6); x1 and x2 are independent of it."""
    rng = np.random.default_rng(seed)
    sex = rng.choice(["F", "M"], size=rows)
    x1 = rng.normal(size=rows)
    return pd.DataFrame(
        {
            "x1": np.round(x1, 6),
            "x2": np.round(rng.normal(size=rows), 6),
            "proxy": np.round(1.5 * (sex == "M") + rng.normal(size=rows), 6),
            "sex": sex,
            "label": (x1 + rng.normal(scale=0.5, size=rows) > 0).astype(int),
        }
    )


def request(workspace: Workspace, weights: list[float], name: str, **fields: Any) -> AuditRequest:
    frame = fields.pop("frame", None)
    overrides = fields.pop("policy_overrides", {"n_boot": FAST_N_BOOT})
    return AuditRequest(
        data=workspace.table(explain_frame() if frame is None else frame, f"{name}.csv"),
        model=workspace.torchscript(linear([weights], [0.0]), f"{name}.pt", METADATA),
        target="label",
        sensitive=("sex",),
        search_config=False,
        policy_overrides=overrides,
        explain_samples=200,
        **fields,
    )


def audit_explained(
    workspace: Workspace, weights: list[float], name: str, **fields: Any
) -> AuditResult:
    return run_audit(request(workspace, weights, name, **fields), checks=EXPLAIN_CHECKS)


def findings(result: AuditResult, check: str) -> list[Any]:
    """The check's measurements past their thresholds, whether a finding's headline or its
    related evidence (direct use and flips of one attribute are one finding)."""
    return [
        row for finding in result.findings for row in finding.measurements() if row.check == check
    ]


def explanations(result: AuditResult) -> Explanations:
    assert result.explanations is not None
    return result.explanations


def sigmoid(values: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-values))


def test_direct_use_is_flagged_and_the_flip_matches_numpy(workspace: Workspace) -> None:
    result = audit_explained(workspace, USES_SEX, "direct")
    found = explanations(result)
    assert found.columns == ("x1", "x2", "proxy", "sex")
    assert found.sensitive_inputs == ("sex",)
    assert {name: method.status for name, method in found.methods.items()} == {
        "shap": "ok",
        "integrated_gradients": "ok",
        "gradient_shap": "ok",
    }
    direct = findings(result, "explain.direct_use")
    assert len(direct) == 1 and direct[0].evidence.feature == ("sex",)
    shap_sex = found.methods["shap"].importance_of("sex")
    assert shap_sex is not None and shap_sex.inputs == 2
    assert direct[0].evidence.value == shap_sex.share > 0.15
    # Columns the model ignores get no attribution from any method.
    for method in found.methods.values():
        for column in ("x2", "proxy"):
            item = method.importance_of(column)
            assert item is not None and item.value == 0.0

    # Flip every F row to M: the logit rises by 3, so the decision (logit >= 0) changes exactly
    # for the rows with -1.5 <= x1 < 1.5; computed here from the table alone.
    frame = explain_frame()
    female = frame[frame["sex"] == "F"]["x1"].to_numpy()
    flip = next(f for f in found.flips if (f.from_group, f.to_group) == ("F", "M"))
    assert flip.n == len(female) and flip.value == "M"
    expected_changed = int(((female >= -1.5) & (female < 1.5)).sum())
    assert flip.changed == expected_changed == flip.to_positive and flip.to_negative == 0
    assert flip.changed_share == pytest.approx(expected_changed / len(female))
    expected_change = np.mean(sigmoid(female + 1.5) - sigmoid(female - 1.5))
    assert flip.mean_score_change == pytest.approx(expected_change, abs=1e-6)
    flagged = findings(result, "explain.counterfactual_flip")
    assert len(flagged) == 1 and flagged[0].severity.value == "critical"


def test_a_correlated_proxy_is_flagged_by_name(workspace: Workspace) -> None:
    result = audit_explained(workspace, USES_PROXY, "proxy")
    proxies = findings(result, "explain.proxy")
    assert [(f.evidence.details["proxy"], f.evidence.details["attribute"]) for f in proxies] == [
        ("proxy", "sex")
    ]
    (finding,) = [f for f in result.findings if f.check == "explain.proxy"]
    assert "proxy stands in for sex" in finding.title
    # The association is the correlation ratio of proxy by sex, computed here independently.
    frame = explain_frame()
    means = frame.groupby("sex")["proxy"].transform("mean")
    eta = np.sqrt(
        ((means - frame["proxy"].mean()) ** 2).sum() / frame["proxy"].var(ddof=0) / len(frame)
    )
    assert proxies[0].evidence.details["association"] == pytest.approx(eta, rel=1e-9)
    assert proxies[0].evidence.details["association_measure"] == "correlation_ratio"
    assert not findings(result, "explain.direct_use")
    assert not findings(result, "explain.counterfactual_flip")


def test_a_model_using_neither_raises_neither_and_flips_nothing(workspace: Workspace) -> None:
    result = audit_explained(workspace, USES_NEITHER, "neither")
    assert not findings(result, "explain.direct_use")
    assert not findings(result, "explain.proxy")
    assert not findings(result, "explain.counterfactual_flip")
    found = explanations(result)
    # proxy is strongly associated with sex but unused; x2 is used but unassociated.
    strength = {(a.column, a.attribute): a.value for a in found.associations}
    assert strength[("proxy", "sex")] > 0.5 and strength[("x2", "sex")] < 0.1
    assert len(found.flips) == 2
    for flip in found.flips:
        assert flip.changed == 0 and flip.changed_share == 0.0
        assert flip.mean_score_change == 0.0 and flip.ci == (0.0, 0.0)
    assert all(run.status is CheckStatus.OK for run in result.checks)


# Encoded copies of sex under other names; sex itself is no model input unless said.
SEX_CODE = {"F": 1, "M": 2}  # an exact integer encoding


def encoded_metadata(*features: dict[str, Any]) -> dict[str, Any]:
    return {**METADATA, "features": [*METADATA["features"][:3], *features]}


def numeric(column: str) -> dict[str, Any]:
    return {"column": column, "kind": "numeric"}


def copied_frame() -> pd.DataFrame:
    frame = explain_frame()
    male = (frame["sex"] == "M").to_numpy()
    return frame.assign(
        sex_code=frame["sex"].map(SEX_CODE), is_f=(~male).astype(int), is_m=male.astype(int)
    )


def audit_copy(
    workspace: Workspace, metadata: dict[str, Any], weights: list[float], bias: float, name: str
) -> tuple[AuditResult, Path]:
    model = workspace.torchscript(linear([weights], [bias]), f"{name}-copy.pt", metadata)
    result = run_audit(
        replace(request(workspace, USES_NEITHER, name, frame=copied_frame()), model=model),
        checks=EXPLAIN_CHECKS,
    )
    return result, model


def flipped_decisions_changed(model_path: Path, rows: pd.DataFrame, **written: Any) -> int:
    """Decisions that change when ``written`` replaces the rows' values: the model's own
    encoding and output, without the stage (one logit: positive when it is >= 0)."""
    model = load_model(model_path)
    assert model.metadata_text is not None
    metadata = parse_metadata(model.metadata_text, model_path)
    before = model.adapter.predict_proba(from_metadata(rows, metadata, model_path).values[:])
    after = model.adapter.predict_proba(
        from_metadata(rows.assign(**written), metadata, model_path).values[:]
    )
    return int(((before[:, 0] >= 0) != (after[:, 0] >= 0)).sum())


def test_an_integer_copy_of_sex_is_direct_use_and_is_flipped(workspace: Workspace) -> None:
    # Inputs x1, x2, proxy, sex_code; logit = x1 + 1.5 proxy + 3 sex_code - 4.5, so F rows
    # (code 1) get x1 + 1.5 proxy - 1.5 and M rows (code 2) the same + 1.5.
    result, model = audit_copy(
        workspace, encoded_metadata(numeric("sex_code")), [1.0, 0.0, 1.5, 3.0], -4.5, "code"
    )
    found = explanations(result)
    assert found.sensitive_inputs == ()
    (copy,) = found.encoded_copies
    assert (copy.attribute, copy.columns, copy.measure) == (
        "sex",
        ("sex_code",),
        "correlation_ratio",
    )
    assert copy.value == pytest.approx(1.0) and copy.group_code_share == 1.0
    assert copy.codes == {"F": ("1",), "M": ("2",)} and copy.n == 600
    assert found.notes == (
        "sex is not a model input, but sex_code encodes it: direct use and the flip test are of "
        "that encoding; its proxies are the other associated input columns",
    )

    direct = findings(result, "explain.direct_use")
    assert len(direct) == 1
    shap_code = found.methods["shap"].importance_of("sex_code")
    assert shap_code is not None
    evidence = direct[0].evidence
    assert direct[0].severity.value == "critical"
    assert evidence.value == pytest.approx(shap_code.share) and evidence.value > 0.15
    assert evidence.interval == shap_code.share_ci  # one column: the column's own interval
    assert evidence.feature == ("sex",)  # the attribute: its use is one cause however it enters
    assert evidence.details["encoded_as"] == ["sex_code"]
    assert evidence.details["codes"] == {"F": ["1"], "M": ["2"]}
    assert direct[0].title.startswith("Sensitive attribute sex (encoded as sex_code) is a model")
    # Direct use through the copy and the flips of the copy are one finding about sex.
    (uses_sex,) = [f for f in result.findings if f.fingerprint == "explain.direct_use|sex"]
    assert {row.check for row in uses_sex.measurements()} == {
        "explain.direct_use",
        "explain.counterfactual_flip",
    }

    # The copy is direct use, not a proxy; proxy (correlation ratio about 0.6) stays a proxy.
    proxies = findings(result, "explain.proxy")
    assert [f.evidence.details["proxy"] for f in proxies] == ["proxy"]
    strength = {(a.column, a.attribute): a.value for a in found.associations}
    assert 0.3 < strength[("proxy", "sex")] < 0.95

    # Every F row gets M's code 2, and the reverse; the rows are few enough to flip them all.
    frame = copied_frame()
    for source, target in (("F", "M"), ("M", "F")):
        rows = frame[frame["sex"] == source]
        flip = next(f for f in found.flips if (f.from_group, f.to_group) == (source, target))
        assert flip.columns == ("sex_code",) and flip.value == f"sex_code={SEX_CODE[target]}"
        assert flip.n == len(rows)
        changed = flipped_decisions_changed(model, rows, sex_code=SEX_CODE[target])
        assert flip.changed == changed and flip.changed_share == pytest.approx(changed / len(rows))
    female = frame[frame["sex"] == "F"]
    logit = female["x1"] + 1.5 * female["proxy"] - 1.5
    forward = next(f for f in found.flips if f.from_group == "F")
    assert forward.changed == int(((logit < 0) & (logit + 3 >= 0)).sum()) == forward.to_positive
    flagged = findings(result, "explain.counterfactual_flip")
    assert len(flagged) == 1 and flagged[0].severity.value == "critical"
    assert flagged[0].title.startswith("Changing only sex (encoded as sex_code) changes")
    assert flagged[0].evidence.details["columns"] == ["sex_code"]


def test_one_hot_columns_under_other_names_are_one_copy(workspace: Workspace) -> None:
    # Inputs x1, x2, proxy, is_f, is_m; logit = x1 - 1.5 is_f + 1.5 is_m.
    metadata = encoded_metadata(numeric("is_f"), numeric("is_m"))
    result, model = audit_copy(workspace, metadata, [1.0, 0.0, 0.0, -1.5, 1.5], 0.0, "onehot")
    found = explanations(result)
    (copy,) = found.encoded_copies
    assert (copy.columns, copy.measure) == (("is_f", "is_m"), "cramers_v")
    assert copy.value == pytest.approx(1.0) and copy.group_code_share == 1.0
    assert copy.codes == {"F": ("1", "0"), "M": ("0", "1")}
    shap = found.methods["shap"]
    carried = shap.copy_importance_of(copy)
    columns = [shap.importance_of(column) for column in ("is_f", "is_m")]
    assert carried is not None and all(item is not None for item in columns)
    assert carried.share == pytest.approx(sum(item.share for item in columns if item))
    assert carried.share_ci is not None
    assert carried.share_ci[0] <= carried.share <= carried.share_ci[1]
    (direct,) = findings(result, "explain.direct_use")
    assert direct.evidence.value == carried.share and direct.severity.value == "critical"
    assert "sex (encoded as is_f, is_m)" in direct.title
    assert any(f.fingerprint == "explain.direct_use|sex" for f in result.findings)
    assert not findings(result, "explain.proxy")  # neither column is a proxy of sex

    frame = copied_frame()
    female = frame[frame["sex"] == "F"]
    flip = next(f for f in found.flips if f.from_group == "F")
    assert flip.columns == ("is_f", "is_m") and flip.value == "is_f=0, is_m=1"
    changed = flipped_decisions_changed(model, female, is_f=0, is_m=1)
    x1 = female["x1"]
    assert flip.changed == changed == int(((x1 >= -1.5) & (x1 < 1.5)).sum())
    assert flip.changed_share == pytest.approx(changed / len(female))


def test_a_named_input_and_its_copy_are_flipped_together(workspace: Workspace) -> None:
    # Inputs x1, x2, proxy, sex (one-hot F, M), sex_code: a person who differs only in sex
    # differs in both. logit = x1 - 1 sex_F + 1 sex_M + 1 sex_code - 1.5.
    metadata = {
        **METADATA,
        "features": [*METADATA["features"], numeric("sex_code")],
    }
    result, model = audit_copy(workspace, metadata, [1.0, 0.0, 0.0, -1.0, 1.0, 1.0], -1.5, "both")
    found = explanations(result)
    assert found.sensitive_inputs == ("sex",)
    assert [copy.columns for copy in found.encoded_copies] == [("sex_code",)]
    uses = findings(result, "explain.direct_use")
    assert sorted(f.evidence.details.get("encoded_as", ["(named)"])[0] for f in uses) == [
        "(named)",
        "sex_code",
    ]
    assert {f.evidence.feature for f in uses} == {("sex",)}
    frame = copied_frame()
    female = frame[frame["sex"] == "F"]
    flip = next(f for f in found.flips if f.from_group == "F")
    assert flip.columns == ("sex", "sex_code") and flip.value == "sex=M, sex_code=2"
    changed = flipped_decisions_changed(model, female, sex="M", sex_code=2)
    # F: x1 - 1 + 1 - 1.5; M: x1 + 1 + 2 - 1.5: the logit rises by 3.
    x1 = female["x1"]
    assert flip.changed == changed == int(((x1 >= -1.5) & (x1 < 1.5)).sum())
    (flagged,) = findings(result, "explain.counterfactual_flip")
    assert flagged.title.startswith("Changing only sex (also encoded as sex_code) changes")


def test_a_copy_above_a_raised_threshold_is_a_proxy_again(workspace: Workspace) -> None:
    """max = 1 finds no copy: sex_code is then judged as the strongest of proxies."""
    model = workspace.torchscript(
        linear([[1.0, 0.0, 0.0, 3.0]], [-4.5]),
        "raised-copy.pt",
        encoded_metadata(numeric("sex_code")),
    )
    overrides = {"n_boot": FAST_N_BOOT, "thresholds": {"explain_encoded_copy": {"max": 1.0}}}
    result = run_audit(
        replace(
            request(workspace, USES_NEITHER, "raised", frame=copied_frame()),
            model=model,
            policy_overrides=overrides,
        ),
        checks=EXPLAIN_CHECKS,
    )
    found = explanations(result)
    assert found.encoded_copies == () and found.flips == ()
    assert not findings(result, "explain.direct_use")
    (proxy,) = findings(result, "explain.proxy")
    assert proxy.evidence.details["proxy"] == "sex_code"
    assert proxy.evidence.details["association"] == pytest.approx(1.0)


def test_sklearn_model_skips_captum_with_a_reason_and_shap_still_runs(
    workspace: Workspace,
) -> None:
    from sklearn.linear_model import LogisticRegression

    frame = explain_frame()
    estimator = LogisticRegression().fit(frame[["x1", "x2", "proxy"]], frame["label"])
    result = run_audit(
        AuditRequest(
            data=workspace.table(frame),
            model=workspace.skops(estimator),
            target="label",
            sensitive=("sex",),
            features=("x1", "x2", "proxy"),
            search_config=False,
            policy_overrides={"n_boot": FAST_N_BOOT},
            explain_samples=100,
        ),
        checks=EXPLAIN_CHECKS,
    )
    found = explanations(result)
    assert found.methods["shap"].status == "ok"
    for name in ("integrated_gradients", "gradient_shap"):
        assert found.methods[name].status == "skipped"
        assert "gradients" in (found.methods[name].reason or "")
    assert found.agreement == () and found.sensitive_inputs == ()
    assert found.notes and "sex is not a model input" in found.notes[0]
    assert not result.incomplete


def test_preprocessor_columns_are_traced_and_flipped(workspace: Workspace) -> None:
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    frame = explain_frame()
    prep = ColumnTransformer(
        [("cat", OneHotEncoder(), ["sex"]), ("num", StandardScaler(), ["x1", "proxy"])]
    ).fit(frame)
    estimator = LogisticRegression().fit(prep.transform(frame), frame["label"])
    result = run_audit(
        AuditRequest(
            data=workspace.table(frame),
            model=workspace.skops(estimator),
            preprocessor=workspace.skops(prep, "prep.skops"),
            target="label",
            sensitive=("sex",),
            search_config=False,
            policy_overrides={"n_boot": FAST_N_BOOT},
            explain_samples=100,
        ),
        checks=EXPLAIN_CHECKS,
    )
    found = explanations(result)
    assert found.columns == ("sex", "x1", "proxy")
    assert found.sensitive_inputs == ("sex",)
    assert {(f.from_group, f.to_group) for f in found.flips} == {("F", "M"), ("M", "F")}
    assert found.flip_skipped == {}


def test_skipped_explanations_say_why(workspace: Workspace) -> None:
    off = run_audit(replace(request(workspace, USES_SEX, "off"), explain=False))
    assert off.explanations == Explanations(status="skipped", reason="turned off with --no-explain")
    runs = {run.id: run for run in off.checks}
    for check in EXPLAIN_CHECKS:
        assert runs[check.id].status is CheckStatus.SKIPPED
        assert "--no-explain" in (runs[check.id].reason or "")
    frame = explain_frame().assign(decision=lambda f: (f["x1"] > 0).astype(int))
    predictions = run_audit(
        AuditRequest(
            data=workspace.table(frame, "predictions.csv"),
            predictions="decision",
            target="label",
            sensitive=("sex",),
            search_config=False,
            policy_overrides={"n_boot": FAST_N_BOOT},
        ),
        checks=EXPLAIN_CHECKS,
    )
    assert explanations(predictions).status == "skipped"
    assert "no model" in (explanations(predictions).reason or "")
    document = json.loads(to_json(predictions))
    assert document["explanations"]["status"] == "skipped"


def test_without_the_extra_captum_skips_naming_it_and_shap_needs_no_library(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    # None in sys.modules makes ``import shap`` (and captum) fail as if not installed.
    for module in ("shap", "captum", "captum.attr"):
        monkeypatch.setitem(sys.modules, module, None)
    result = audit_explained(workspace, USES_SEX, "no-extra")
    found = explanations(result)
    for name in ("integrated_gradients", "gradient_shap"):
        assert found.methods[name].status == "skipped"
        assert found.methods[name].reason == (
            "captum is not installed: pip install 'rai-audit[explain]'"
        )
    # SHAP values are computed by rai-audit's batched permutation explainer (shap's algorithm,
    # held equal to shap's own in test_shap_batched.py), so they need no extra.
    assert found.methods["shap"].status == "ok"
    runs = {run.id: run for run in result.checks}
    assert runs["explain.direct_use"].status is CheckStatus.OK
    assert not result.incomplete
    direct = findings(result, "explain.direct_use")
    assert direct and direct[0].evidence.details["method"] == "shap"
    assert findings(result, "explain.counterfactual_flip")


def test_an_explainer_that_errors_is_recorded_and_the_audit_goes_on(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("deliberate explainer failure")

    monkeypatch.setattr(audit.explain.stage, "shap_attributions", broken)
    result = run_audit(request(workspace, USES_SEX, "broken"))
    found = explanations(result)
    assert found.methods["shap"].status == "error"
    assert found.methods["shap"].reason == "RuntimeError: deliberate explainer failure"
    stage = next(run for run in result.checks if run.id == "explain")
    assert stage.status is CheckStatus.ERROR and "deliberate explainer failure" in (
        stage.reason or ""
    )
    assert result.incomplete
    # Captum carries the findings, and every other check ran.
    direct = findings(result, "explain.direct_use")
    assert direct and direct[0].evidence.details["method"] == "integrated_gradients"
    assert all(run.status is not CheckStatus.ERROR for run in result.checks if run.id != "explain")
    assert any(finding.check == "fairness.disparity" for finding in result.findings)


def _without_timings(document: dict[str, Any]) -> dict[str, Any]:
    for method in document["methods"].values():
        method["seconds"] = None
    return document


def test_explanations_follow_the_seed(workspace: Workspace) -> None:
    first = run_audit(request(workspace, USES_SEX, "a"), checks=EXPLAIN_CHECKS)
    second = run_audit(request(workspace, USES_SEX, "b"), checks=EXPLAIN_CHECKS)
    other = run_audit(
        request(workspace, USES_SEX, "c", policy_overrides={"n_boot": FAST_N_BOOT, "seed": 5}),
        checks=EXPLAIN_CHECKS,
    )
    documents = [
        _without_timings(json.loads(to_json(result))["explanations"])
        for result in (first, second, other)
    ]
    assert documents[0] == documents[1]
    assert documents[0]["methods"]["shap"] != documents[2]["methods"]["shap"]


def test_report_json_carries_rows_per_group_and_validates(workspace: Workspace) -> None:
    frame = explain_frame(rows=800)
    frame.loc[:19, "sex"] = "X"  # a group of 20 rows: fewer than min_group_size, still explained
    result = run_audit(request(workspace, USES_NEITHER, "groups", frame=frame))
    document = json.loads(to_json(result))  # to_json validates against the shipped schema
    sample = document["explanations"]["sample"]
    counts = {tuple(g["group"]): (g["rows"], g["explained"]) for g in sample["groups"]}
    assert counts[("X",)] == (20, 20)
    assert counts[("F",)][1] == counts[("M",)][1] == 90 and sample["rows"] == 200
    shap = document["explanations"]["methods"]["shap"]
    assert {item["column"] for item in shap["global_importance"]} == {"x1", "x2", "proxy", "sex"}
    assert {tuple(g["group"]): g["n"] for g in shap["groups"]} == {
        ("F",): 90,
        ("M",): 90,
        ("X",): 20,
    }


def test_cli_options(cli: Cli, workspace: Workspace, tmp_path: Path) -> None:
    explain_request = request(workspace, USES_SEX, "cli")
    common = [
        "run",
        str(explain_request.model),
        str(explain_request.data),
        *("--target", "label", "--sensitive", "sex", "--n-boot", str(FAST_N_BOOT)),
    ]
    cli.input_error(
        [*common, "--explain-samples", "0", "--out", str(tmp_path / "x")],
        "--explain-samples must be at least 1",
    )
    out = tmp_path / "out"
    result = cli(*common, "--no-explain", "--format", "json", "--out", str(out))
    assert result.exit_code in (0, 1), result.output
    document = json.loads((out / "report.json").read_text("utf-8"))
    assert document["explanations"] == {
        **document["explanations"],
        "status": "skipped",
        "reason": "turned off with --no-explain",
    }


def test_threads_are_bounded_and_given_back(cli: Cli, workspace: Workspace, tmp_path: Path) -> None:
    explained = request(workspace, USES_SEX, "threads")
    cli.input_error(
        [
            "run",
            str(explained.model),
            str(explained.data),
            *("--target", "label", "--sensitive", "sex", "--threads", "0"),
            *("--out", str(tmp_path / "x")),
        ],
        "--threads must be at least 1, got 0",
    )
    before = torch.get_num_threads()
    one, two = (
        run_audit(replace(explained, threads=count), checks=EXPLAIN_CHECKS) for count in (1, 2)
    )
    # The caller's torch setting comes back, and the SHAP values do not depend on the threads.
    assert torch.get_num_threads() == before
    # (Bootstrap intervals may differ in the 16th digit: BLAS sums in another order.)
    assert [item.value for item in explanations(one).methods["shap"].global_importance] == [
        item.value for item in explanations(two).methods["shap"].global_importance
    ]


EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "adult"


def test_adult_example_uses_sex_directly_and_flips_decisions() -> None:
    result = run_audit(
        AuditRequest(
            data=EXAMPLE / "test.csv.gz",
            model=EXAMPLE / "model.pt",
            target="income",
            sensitive=("sex", "race"),
            search_config=False,
            policy_overrides={"n_boot": FAST_N_BOOT},
            explain_samples=100,
        ),
        checks=EXPLAIN_CHECKS,
    )
    found = explanations(result)
    assert found.sensitive_inputs == ("race", "sex")
    assert found.methods["shap"].importance_of("native-country") is not None
    direct = {f.evidence.feature for f in findings(result, "explain.direct_use")}
    assert ("sex",) in direct
    flipped = {
        f.evidence.feature: f.evidence.value
        for f in findings(result, "explain.counterfactual_flip")
    }
    assert set(flipped) == {("sex",), ("race",)}
    # An independent flip of every Male row to Female, through the model's own encoding:
    # the stage flips a seeded subsample of 2000, so it agrees within sampling error.
    frame = pd.read_csv(EXAMPLE / "test.csv.gz")
    model = load_model(EXAMPLE / "model.pt")
    assert model.metadata_text is not None
    metadata = parse_metadata(model.metadata_text, EXAMPLE / "model.pt")
    male = frame[frame["sex"] == "Male"]
    before = model.adapter.predict_proba(from_metadata(male, metadata, EXAMPLE).values[:])
    after = model.adapter.predict_proba(
        from_metadata(male.assign(sex="Female"), metadata, EXAMPLE).values[:]
    )
    # Logits [<=50K, >50K]: the positive decision is the larger logit (probability >= 0.5).
    changed = float(np.mean((before[:, 1] > before[:, 0]) != (after[:, 1] > after[:, 0])))
    flip = next(f for f in found.flips if (f.from_group, f.to_group) == ("Male", "Female"))
    assert flip.n == 2000 and flip.value == "Female"
    standard_error = np.sqrt(changed * (1 - changed) / flip.n)
    assert flip.changed_share == pytest.approx(changed, abs=4 * standard_error)
    assert changed > 0.05


class SexFromCode(torch.nn.Module):
    """The Adult model behind an input that holds sex as one code (Female 1, Male 2) where the
    model had its one-hot pair: the same model, using sex under another name."""

    def __init__(self, model: torch.nn.Module, width: int, position: int) -> None:
        super().__init__()
        # An exact identity first, so that the file's first layer shows the narrower input.
        self.inputs = torch.nn.Linear(width, width, bias=False)
        with torch.no_grad():
            self.inputs.weight.copy_(torch.eye(width))
        self.model = model
        self.position = position

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.inputs(x)
        code = x[:, self.position : self.position + 1]
        one_hot = torch.cat([(code == 1.0).float(), (code == 2.0).float()], dim=1)
        return self.model(
            torch.cat([x[:, : self.position], one_hot, x[:, self.position + 1 :]], dim=1)
        )


def test_adult_model_reading_sex_as_a_code_is_direct_use_as_with_sex(
    workspace: Workspace,
) -> None:
    original = load_model(EXAMPLE / "model.pt")
    assert original.metadata_text is not None
    metadata = json.loads(original.metadata_text)
    features = metadata["features"]
    index = next(i for i, spec in enumerate(features) if spec["column"] == "sex")
    position = sum(len(spec.get("categories") or [0]) for spec in features[:index])
    features[index] = {"column": "sex_code", "kind": "numeric"}
    with warnings.catch_warnings():
        # torch 2.13 deprecates TorchScript; the engine still reads such files.
        warnings.simplefilter("ignore", DeprecationWarning)
        module = SexFromCode(torch.jit.load(str(EXAMPLE / "model.pt")), 106, position)
    frame = pd.read_csv(EXAMPLE / "test.csv.gz")
    frame["sex_code"] = frame["sex"].map({"Female": 1, "Male": 2})
    common = {
        "target": "income",
        "sensitive": ("sex", "race"),
        "search_config": False,
        "policy_overrides": {"n_boot": FAST_N_BOOT},
        "explain_samples": 100,
    }
    named, coded = (
        run_audit(AuditRequest(data=EXAMPLE / "test.csv.gz", model=EXAMPLE / "model.pt", **common)),
        run_audit(
            AuditRequest(
                data=workspace.table(frame, "adult-code.csv.gz"),
                model=workspace.torchscript(module, "adult-code.pt", metadata),
                **common,
            )
        ),
    )
    found = explanations(coded)
    assert found.sensitive_inputs == ("race",)
    (copy,) = found.encoded_copies
    assert (copy.attribute, copy.columns) == ("sex", ("sex_code",))
    assert copy.value == pytest.approx(1.0) and copy.group_code_share == 1.0
    assert copy.codes == {"Female": ("1",), "Male": ("2",)} and copy.n == len(frame)
    # The same model and the same players: sex_code carries exactly what sex carried.
    (was,) = findings(named, "explain.direct_use")
    (now,) = findings(coded, "explain.direct_use")
    assert now.evidence.feature == was.evidence.feature == ("sex",)
    assert now.evidence.details["encoded_as"] == ["sex_code"]
    assert now.evidence.value == pytest.approx(was.evidence.value, abs=1e-9)
    assert now.severity == was.severity and now.severity.value in ("high", "critical")
    assert "Sensitive attribute sex (encoded as sex_code) is a model input" in now.title
    # Flipping the code changes exactly the decisions that flipping sex did, pair by pair.
    flips = {(f.from_group, f.to_group): f for f in explanations(named).flips}
    for flip in (f for f in found.flips if f.attribute == "sex"):
        assert flip.columns == ("sex_code",)
        before = flips[(flip.from_group, flip.to_group)]
        assert (flip.n, flip.changed, flip.ci) == (before.n, before.changed, before.ci)
    titles = {f.evidence.feature: f.title for f in findings(coded, "explain.counterfactual_flip")}
    assert titles[("sex",)].startswith("Changing only sex (encoded as sex_code) changes 11.")
    # sex_code is no proxy; the columns that were proxies of sex still are.
    proxies = {f.evidence.feature for f in findings(coded, "explain.proxy")}
    assert proxies == {f.evidence.feature for f in findings(named, "explain.proxy")}
    assert all("sex_code" not in feature for feature in proxies)
