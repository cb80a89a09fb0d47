"""Models that read raw columns by name (a scikit-learn pipeline fitted on a DataFrame), model
objects handed to the Python API, and model classes that differ from the target's values.

Expected figures are computed here with fairlearn from the pipeline's own ``predict_proba`` on
the table as pandas reads it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from conftest import FAST_N_BOOT, Cli, Workspace
from fairlearn.metrics import MetricFrame, selection_rate, true_positive_rate
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from audit import AuditRequest, ModelError, run_audit, to_json
from audit.core.errors import DataError
from audit.core.result import AuditResult
from audit.core.serialize import validate_document

NUMERIC = ["age", "hours"]
CATEGORICAL = ["job", "sex"]


def raw_frame(rows: int = 400, seed: int = 0) -> pd.DataFrame:
    """Integer numeric columns (exact in float32) and string columns, like a census extract."""
    rng = np.random.default_rng(seed)
    sex = rng.choice(["Female", "Male"], size=rows)
    job = rng.choice(["clerk", "craft", "exec", "sales"], size=rows)
    age = rng.integers(18, 70, size=rows)
    hours = rng.integers(10, 60, size=rows)
    signal = 0.05 * (age - 40) + 0.08 * (hours - 35) + 0.8 * (job == "exec") + 0.5 * (sex == "Male")
    income = np.where(signal + rng.normal(scale=1.0, size=rows) > 0, ">50K", "<=50K")
    return pd.DataFrame({"age": age, "job": job, "hours": hours, "sex": sex, "income": income})


def fitted_pipeline(frame: pd.DataFrame, target: Any) -> Pipeline:
    pipeline = Pipeline(
        [
            (
                "columns",
                ColumnTransformer(
                    [
                        ("cat", OneHotEncoder(handle_unknown="ignore"), CATEGORICAL),
                        ("num", StandardScaler(), NUMERIC),
                    ]
                ),
            ),
            ("model", LogisticRegression()),
        ]
    )
    return pipeline.fit(frame[NUMERIC + CATEGORICAL], target)


def audit(data: Path, model: Any, **options: Any) -> AuditResult:
    options.setdefault("positive_label", ">50K")
    return run_audit(
        AuditRequest(
            data=data,
            model=model,
            target="income",
            sensitive=("sex",),
            search_config=False,
            policy_overrides={"n_boot": FAST_N_BOOT},
            **options,
        )
    )


def expected_by_sex(
    frame: pd.DataFrame, decisions: np.ndarray, positive: str = ">50K"
) -> dict[str, dict[str, float]]:
    """Fairlearn's per-group figures of ``decisions`` against the target."""
    metrics = MetricFrame(
        metrics={
            "selection_rate": selection_rate,
            "accuracy": accuracy_score,
            "true_positive_rate": true_positive_rate,
        },
        y_true=(frame["income"] == positive).astype(int).to_numpy(),
        y_pred=decisions.astype(int),
        sensitive_features=frame["sex"],
    )
    return {str(group): dict(row) for group, row in metrics.by_group.iterrows()}


def found_by_sex(result: AuditResult) -> dict[str, dict[str, float | None]]:
    return {entry.group[0]: entry.metrics for entry in result.groups if entry.feature == ("sex",)}


def assert_figures(result: AuditResult, expected: dict[str, dict[str, float]]) -> None:
    found = found_by_sex(result)
    assert set(found) == set(expected)
    for group, metrics in expected.items():
        for name, value in metrics.items():
            assert found[group][name] == pytest.approx(value, abs=1e-12), (group, name)


# --- item 4: a pipeline on raw columns, saved with skops ---------------------------------------


@pytest.fixture
def pipeline_case(workspace: Workspace) -> tuple[pd.DataFrame, Path, Pipeline, Path]:
    frame = raw_frame()
    data = workspace.table(frame)
    read = pd.read_csv(data)  # the table as the audit reads it: dtypes as in the CSV
    pipeline = fitted_pipeline(read, read["income"])
    return read, data, pipeline, workspace.skops(pipeline)


def test_pipeline_on_raw_columns_gets_the_frame(
    pipeline_case: tuple[pd.DataFrame, Path, Pipeline, Path],
) -> None:
    read, data, pipeline, model = pipeline_case
    result = audit(data, model, explain_samples=60)
    info = result.run.model
    assert info.kind == "skops"
    assert info.feature_source == "frame"
    assert info.features == ("age", "hours", "job", "sex")  # feature_names_in_
    probabilities = pipeline.predict_proba(read[NUMERIC + CATEGORICAL])
    positive = list(pipeline.classes_).index(">50K")
    decisions = probabilities[:, positive] >= 0.5
    assert 0.1 < decisions.mean() < 0.9
    assert_figures(result, expected_by_sex(read, decisions))
    # The explanation attributes to the raw columns, one input each.
    explanations = result.explanations
    assert explanations is not None and explanations.status == "ok"
    assert explanations.columns == ("age", "hours", "job", "sex")
    shap = explanations.methods["shap"]
    assert shap.status == "ok"
    assert {item.column for item in shap.global_importance} == {"age", "hours", "job", "sex"}
    assert all(item.inputs == 1 for item in shap.global_importance)
    for name in ("integrated_gradients", "gradient_shap"):
        assert explanations.methods[name].status == "skipped"
    # sex is a model input: the flip test writes the other group's raw value into it.
    assert explanations.sensitive_inputs == ("sex",)
    assert {(f.from_group, f.to_group) for f in explanations.flips} == {
        ("Female", "Male"),
        ("Male", "Female"),
    }
    # Every row is flipped here (fewer than the flip test's per-group sample): the count of
    # changed decisions is the pipeline's own on the rewritten frame.
    for flip in explanations.flips:
        rows = read[read["sex"] == flip.from_group]
        rewritten = rows.assign(sex=flip.to_group)
        before = pipeline.predict_proba(rows[NUMERIC + CATEGORICAL])[:, positive] >= 0.5
        after = pipeline.predict_proba(rewritten[NUMERIC + CATEGORICAL])[:, positive] >= 0.5
        assert (flip.n, flip.changed) == (len(rows), int((before != after).sum()))


def test_streamed_pipeline_audit_equals_the_in_memory_one(
    pipeline_case: tuple[pd.DataFrame, Path, Pipeline, Path],
) -> None:
    _, data, _, model = pipeline_case
    whole = audit(data, model, explain=False)
    streamed = audit(data, model, explain=False, chunk_rows=70)
    assert streamed.run.model.feature_source == "frame"
    assert found_by_sex(streamed) == found_by_sex(whole)


def test_pipeline_column_missing_from_the_data_names_it(
    workspace: Workspace, pipeline_case: tuple[pd.DataFrame, Path, Pipeline, Path]
) -> None:
    read, _, _, model = pipeline_case
    data = workspace.table(read.drop(columns=["job"]), "nojob.csv")
    with pytest.raises(DataError, match="job"):
        audit(data, model, explain=False)


# --- item 5: a model object in this process ------------------------------------------------------


def test_in_process_pipeline_is_recorded_and_not_hashed(
    pipeline_case: tuple[pd.DataFrame, Path, Pipeline, Path],
) -> None:
    read, data, pipeline, _ = pipeline_case
    result = audit(data, pipeline, explain=False)
    info = result.run.model
    assert info.kind == "in-process"
    assert info.file is None
    assert "in-process model, not hashed" in info.notes
    document = json.loads(to_json(result))
    validate_document(document)
    assert document["run"]["model"]["kind"] == "in-process"
    assert document["run"]["model"]["file"] is None
    positive = list(pipeline.classes_).index(">50K")
    decisions = pipeline.predict_proba(read[NUMERIC + CATEGORICAL])[:, positive] >= 0.5
    assert_figures(result, expected_by_sex(read, decisions))


def test_in_process_callable_scores_the_numeric_columns(
    pipeline_case: tuple[pd.DataFrame, Path, Pipeline, Path],
) -> None:
    read, data, _, _ = pipeline_case
    seen: list[tuple[int, ...]] = []

    def score(batch: np.ndarray) -> np.ndarray:
        seen.append(batch.shape)
        return 1 / (1 + np.exp(-(0.05 * (batch[:, 0] - 40) + 0.08 * (batch[:, 1] - 35))))

    result = audit(data, score, features=("age", "hours"), explain=False)
    assert result.run.model.kind == "in-process"
    assert seen and all(shape[1] == 2 for shape in seen)
    expected = score(read[["age", "hours"]].to_numpy(dtype=np.float32)) >= 0.5
    assert_figures(result, expected_by_sex(read, expected))


def test_in_process_object_without_a_model_method_is_refused(workspace: Workspace) -> None:
    data = workspace.table(raw_frame(40))
    from audit.core.errors import UsageError

    with pytest.raises(UsageError, match="predict_proba"):
        audit(data, 42)


# --- item 7: a 0/1 model against a '<=50K'/'>50K' target ---------------------------------------


@pytest.fixture
def zero_one_model(
    workspace: Workspace, pipeline_case: tuple[pd.DataFrame, Path, Pipeline, Path]
) -> tuple[pd.DataFrame, Path, Pipeline, Path]:
    read, data, _, _ = pipeline_case
    pipeline = fitted_pipeline(read, (read["income"] == ">50K").astype(int))
    return read, data, pipeline, workspace.skops(pipeline, "zero_one.skops")


def test_target_value_as_model_class_says_which_flag(
    zero_one_model: tuple[pd.DataFrame, Path, Pipeline, Path],
) -> None:
    _, data, _, model = zero_one_model
    with pytest.raises(ModelError) as raised:
        audit(data, model, positive_label=">50K", explain=False)
    message = str(raised.value)
    assert "the target's positive value '>50K' (--positive-label)" in message
    assert "not one of the model's classes ('0', '1')" in message
    assert "--model-positive-class '1'" in message


def test_model_class_as_target_value_says_which_flag(
    zero_one_model: tuple[pd.DataFrame, Path, Pipeline, Path],
) -> None:
    _, data, _, model = zero_one_model
    with pytest.raises(DataError) as raised:
        audit(data, model, positive_label="1", explain=False)
    message = str(raised.value)
    assert "--positive-label '1' is not a value of target column 'income'" in message
    assert "--model-positive-class" in message
    with pytest.raises(ModelError, match="--model-positive-class '2' is not one of the model's"):
        audit(
            data,
            model,
            positive_label=">50K",
            model_positive_class="2",
            explain=False,
        )


def test_model_positive_class_reads_the_right_column(
    zero_one_model: tuple[pd.DataFrame, Path, Pipeline, Path],
) -> None:
    read, data, pipeline, model = zero_one_model
    result = audit(
        data,
        model,
        positive_label=">50K",
        model_positive_class="1",
        explain_samples=40,
    )
    assert result.run.model.positive_label == ">50K"
    assert any("--model-positive-class" in note for note in result.run.model.notes)
    decisions = pipeline.predict_proba(read[NUMERIC + CATEGORICAL])[:, 1] >= 0.5
    assert_figures(result, expected_by_sex(read, decisions))
    # Class 0 read as positive: the scores of the other column.
    other = audit(data, model, model_positive_class="0", explain=False)
    zero = pipeline.predict_proba(read[NUMERIC + CATEGORICAL])[:, 0] >= 0.5
    assert_figures(other, expected_by_sex(read, zero))


def test_cli_errors_name_the_flag_for_each_side(
    cli: Cli, zero_one_model: tuple[pd.DataFrame, Path, Pipeline, Path]
) -> None:
    _, data, _, model = zero_one_model
    common = ("run", model, data, "--target", "income", "--sensitive", "sex", "--no-explain")
    cli.input_error(
        (*common, "--positive-label", ">50K"),
        "(--positive-label)",
        "--model-positive-class '1'",
    )
    cli.input_error((*common, "--positive-label", "1"), "--model-positive-class")
    result = cli(*common, "--positive-label", ">50K", "--model-positive-class", "1", "-o", "out")
    assert result.exit_code in (0, 1), result.output
