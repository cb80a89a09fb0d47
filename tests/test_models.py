"""Model adapters and feature sources, each through the whole ``run_audit`` path.

Expected decisions are computed here with numpy (or scikit-learn for its own models) from the
known weights, and compared with per-group metrics of the audit.
"""

from __future__ import annotations

import operator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import scipy.special
from conftest import (
    FAST_N_BOOT,
    Squeeze,
    Workspace,
    default_logits,
    default_module,
    linear,
    make_frame,
    sha256,
)
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler
from torch import nn

from audit import AuditRequest, ModelError, run_audit
from audit.core.result import AuditResult
from audit.models.positive_score import PositiveScore
from audit.models.scoring import detect_output_kind

SENSITIVE = ("sex", "group")


@pytest.fixture
def biased() -> pd.DataFrame:
    # F's x2 is lowered, so groups differ and per-group metrics pin the decisions down.
    return make_frame(bias=0.8)


def audit(data: Path, model: Path | None = None, **options: Any) -> AuditResult:
    options.setdefault("target", "label")
    options.setdefault("sensitive", SENSITIVE)
    return run_audit(
        AuditRequest(
            data=data,
            model=model,
            search_config=False,
            policy_overrides={"n_boot": FAST_N_BOOT},
            **options,
        )
    )


def expected_metrics(
    frame: pd.DataFrame, y: np.ndarray, decisions: np.ndarray, column: str
) -> dict[str, dict[str, float]]:
    """Selection rate, accuracy and true positive rate per value of ``column``."""
    expected = {}
    for group in sorted(frame[column].astype(str).unique()):
        rows = (frame[column].astype(str) == group).to_numpy()
        positives = rows & (y == 1)
        expected[group] = {
            "selection_rate": float(decisions[rows].mean()),
            "accuracy": float((decisions[rows] == y[rows]).mean()),
            "true_positive_rate": float(decisions[positives].mean()),
        }
    return expected


def assert_decisions(
    result: AuditResult,
    frame: pd.DataFrame,
    decisions: np.ndarray,
    y: np.ndarray | None = None,
    columns: tuple[str, ...] = SENSITIVE,
) -> None:
    """The audit's per-group metrics are those of ``decisions`` against labels ``y``."""
    labels = frame["label"].to_numpy() if y is None else y
    for column in columns:
        expected = expected_metrics(frame, labels, decisions.astype(int), column)
        found = {
            entry.group[0]: entry.metrics for entry in result.groups if entry.feature == (column,)
        }
        assert set(found) == set(expected), column
        for group, metrics in expected.items():
            for name, value in metrics.items():
                assert found[group][name] == pytest.approx(value, abs=1e-12), (column, group, name)


def logit_decisions(logits: np.ndarray) -> np.ndarray:
    """Positive when the softmax of column 1 reaches 0.5, i.e. when logit 1 >= logit 0."""
    return logits[:, 1] >= logits[:, 0]


# --- TorchScript ------------------------------------------------------------------------------


def test_torchscript_without_metadata_uses_numeric_columns(
    workspace: Workspace, biased: pd.DataFrame
) -> None:
    data = workspace.table(biased)
    model = workspace.torchscript(default_module())
    result = audit(data, model)
    info = result.run.model
    assert info.kind == "torchscript"
    assert info.trusted is False
    assert info.feature_source == "numeric-columns"
    assert info.features == ("x2", "x1")
    assert info.output_kind == "logits"
    assert info.output_shape == (2,)
    assert info.file is not None and info.file.sha256 == sha256(model)
    assert any("output column 1" in note for note in info.notes)
    decisions = logit_decisions(default_logits(biased))
    assert 0 < decisions.mean() < 1
    assert_decisions(result, biased, decisions)


def test_torchscript_with_embedded_metadata(workspace: Workspace, biased: pd.DataFrame) -> None:
    # Inputs: (x1 - 0.5) / 2, then group one-hot over [b, a] (an order that is not sorted).
    weights = np.array([[0.0, 0.0, 0.0, 0.0], [2.0, 0.4, -0.4, 0.0]])
    metadata = {
        "format": "rai-audit/features-v1",
        "features": [
            {"column": "x1", "kind": "numeric", "mean": 0.5, "scale": 2.0},
            {"column": "group", "kind": "categorical", "categories": ["b", "a"]},
        ],
        "class_labels": ["0", "1"],
    }
    model = workspace.torchscript(linear(weights[:, :3], np.zeros(2)), metadata=metadata)
    data = workspace.table(biased)
    result = audit(data, model)

    inputs = np.column_stack(
        [
            (biased["x1"] - 0.5) / 2.0,
            biased["group"] == "b",
            biased["group"] == "a",
        ]
    ).astype(float)
    logits = inputs @ weights[:, :3].T
    assert result.run.model.feature_source == "metadata"
    assert result.run.model.features == ("x1", "group")
    # group "c" is not among the model's categories: counted, and encoded as all zeros.
    assert result.run.data.unseen_categories == {"group": int((biased["group"] == "c").sum())}
    assert result.run.model.notes == ()
    assert_decisions(result, biased, logit_decisions(logits))


def test_metadata_class_labels_pick_the_positive_column(
    workspace: Workspace, biased: pd.DataFrame
) -> None:
    frame = biased.assign(label=np.where(biased["label"] == 1, "good", "bad"))
    metadata = {
        "format": "rai-audit/features-v1",
        "features": [{"column": "x2", "kind": "numeric"}, {"column": "x1", "kind": "numeric"}],
        "class_labels": ["good", "bad"],
        "positive_label": "good",
    }
    model = workspace.torchscript(default_module(), metadata=metadata)
    data = workspace.table(frame)
    # "good"/"bad" cannot be told apart by spelling: the embedded positive_label decides.
    result = audit(data, model)
    assert result.run.model.positive_label == "good"
    logits = default_logits(frame)
    y = (frame["label"] == "good").to_numpy().astype(int)
    # class_labels put "good" in column 0.
    assert_decisions(result, frame, logits[:, 0] >= logits[:, 1], y)

    # --positive-label overrides the metadata: "bad" is column 1.
    flipped = audit(data, model, positive_label="bad")
    assert flipped.run.model.positive_label == "bad"
    assert_decisions(flipped, frame, logits[:, 1] >= logits[:, 0], 1 - y)


def test_features_flag_sets_columns_and_order(workspace: Workspace, biased: pd.DataFrame) -> None:
    data = workspace.table(biased)
    model = workspace.torchscript(default_module())
    result = audit(data, model, features=("x1", "x2"))
    assert result.run.model.feature_source == "features"
    assert result.run.model.features == ("x1", "x2")
    swapped = biased[["x1", "x2"]].to_numpy() @ np.array([[0.0, 0.0], [1.0, 0.5]]).T
    decisions = logit_decisions(swapped)
    assert not np.array_equal(decisions, logit_decisions(default_logits(biased)))
    assert_decisions(result, biased, decisions)


def test_features_flag_overrides_embedded_metadata(
    workspace: Workspace, biased: pd.DataFrame
) -> None:
    metadata = {
        "format": "rai-audit/features-v1",
        "features": [{"column": "x1", "kind": "numeric"}, {"column": "x2", "kind": "numeric"}],
    }
    model = workspace.torchscript(default_module(), metadata=metadata)
    data = workspace.table(biased)
    result = audit(data, model, features=("x2", "x1"))
    assert result.run.model.feature_source == "features"
    assert_decisions(result, biased, logit_decisions(default_logits(biased)))


def test_invalid_embedded_metadata(workspace: Workspace, biased: pd.DataFrame) -> None:
    metadata = {"format": "rai-audit/features-v1", "features": [{"column": "x1", "kind": "text"}]}
    model = workspace.torchscript(default_module(), metadata=metadata)
    data = workspace.table(biased)
    with pytest.raises(ModelError, match=r"rai_audit\.json is invalid at 'features\.0"):
        audit(data, model)


# --- torch.export -----------------------------------------------------------------------------


@pytest.mark.parametrize("batch_size", [7, 239, 8192])
def test_exported_program_with_dynamic_batch(
    workspace: Workspace, biased: pd.DataFrame, batch_size: int
) -> None:
    # 240 rows in batches of 7 end with 2 rows; in batches of 239 with a single row.
    data = workspace.table(biased)
    model = workspace.exported(default_module(), width=2)
    result = audit(data, model, batch_size=batch_size)
    assert result.run.model.kind == "torch-export"
    assert result.run.model.trusted is False
    assert result.run.model.output_kind == "logits"
    assert_decisions(result, biased, logit_decisions(default_logits(biased)))


# --- scikit-learn with skops ------------------------------------------------------------------


def test_skops_logistic_regression(workspace: Workspace, biased: pd.DataFrame) -> None:
    frame = biased.assign(label=np.where(biased["label"] == 1, "yes", "no"))
    inputs = frame[["x2", "x1"]].to_numpy()
    estimator = LogisticRegression().fit(inputs, frame["label"])
    model = workspace.skops(estimator)
    data = workspace.table(frame)
    result = audit(data, model)

    assert result.run.model.kind == "skops"
    assert result.run.model.trusted is False
    assert result.run.model.output_kind == "probabilities"
    assert result.run.model.positive_label == "yes"
    scores = estimator.predict_proba(inputs)[:, list(estimator.classes_).index("yes")]
    y = (frame["label"] == "yes").to_numpy().astype(int)
    assert_decisions(result, frame, scores >= 0.5, y)
    for sex in ("F", "M"):
        rows = (frame["sex"] == sex).to_numpy()
        auc = next(entry.metrics["roc_auc"] for entry in result.groups if entry.group == (sex,))
        assert auc == pytest.approx(roc_auc_score(y[rows], scores[rows]))

    # The classes_ of the estimator, not column 1, say where "no" is.
    flipped = audit(data, model, positive_label="no")
    assert_decisions(flipped, frame, (1 - scores) >= 0.5, 1 - y)


def test_skops_untrusted_type_refused_then_accepted(
    workspace: Workspace, biased: pd.DataFrame
) -> None:
    inputs = biased[["x2", "x1"]].to_numpy()
    pipeline = make_pipeline(FunctionTransformer(operator.pos), LogisticRegression())
    pipeline.fit(inputs, biased["label"])
    model = workspace.skops(pipeline)
    data = workspace.table(biased)
    with pytest.raises(ModelError, match=r"does not trust \(_operator\.pos\).*--trust-model"):
        audit(data, model)

    result = audit(data, model, trust_model=True)
    assert result.run.model.trusted is True
    assert result.run.model.notes == ("accepted untrusted skops types: _operator.pos",)
    assert_decisions(result, biased, pipeline.predict_proba(inputs)[:, 1] >= 0.5)


def test_trusted_joblib_estimator(workspace: Workspace, biased: pd.DataFrame) -> None:
    inputs = biased[["x2", "x1"]].to_numpy()
    estimator = LogisticRegression().fit(inputs, biased["label"])
    model = workspace.joblib(estimator)
    result = audit(workspace.table(biased), model, trust_model=True)
    assert result.run.model.kind == "pickle"
    assert result.run.model.trusted is True
    assert_decisions(result, biased, estimator.predict_proba(inputs)[:, 1] >= 0.5)


# --- predictions already made -----------------------------------------------------------------


def test_predictions_only_without_scores(workspace: Workspace, biased: pd.DataFrame) -> None:
    decisions = (biased["x2"] > 0.2).to_numpy()
    frame = biased.assign(decision=decisions.astype(int))
    result = audit(workspace.table(frame), predictions="decision")
    info = result.run.model
    assert (info.kind, info.output_kind, info.file, info.threshold) == (
        "predictions",
        "decisions",
        None,
        None,
    )
    assert info.features == ()
    assert_decisions(result, frame, decisions)
    for entry in result.groups:
        assert entry.metrics["roc_auc"] is None
        assert entry.undefined["roc_auc"]


def test_predictions_only_with_scores(workspace: Workspace, biased: pd.DataFrame) -> None:
    frame = biased.assign(
        decision=np.where(biased["x2"] > 0.2, "1", "0"), risk=biased["x2"] + 0.1 * biased["x1"]
    )
    result = audit(workspace.table(frame), predictions="decision", scores="risk")
    assert_decisions(result, frame, (frame["x2"] > 0.2).to_numpy())
    y = frame["label"].to_numpy()
    for column in SENSITIVE:
        for value in frame[column].unique():
            rows = (frame[column] == value).to_numpy()
            auc = next(
                entry.metrics["roc_auc"]
                for entry in result.groups
                if entry.feature == (column,) and entry.group == (value,)
            )
            assert auc == pytest.approx(roc_auc_score(y[rows], frame["risk"][rows]))


def test_predictions_in_target_labels(workspace: Workspace, biased: pd.DataFrame) -> None:
    frame = biased.assign(
        label=np.where(biased["label"] == 1, "approve", "deny"),
        decision=np.where(biased["x2"] > 0, "approve", "deny"),
    )
    result = audit(workspace.table(frame), predictions="decision", positive_label="approve")
    y = (frame["label"] == "approve").to_numpy().astype(int)
    assert_decisions(result, frame, (frame["x2"] > 0).to_numpy(), y)


# --- preprocessor -----------------------------------------------------------------------------


def test_preprocessor_column_transformer(workspace: Workspace, biased: pd.DataFrame) -> None:
    preprocessor = ColumnTransformer(
        [("num", StandardScaler(), ["x2", "x1"]), ("cat", OneHotEncoder(), ["group"])]
    ).fit(biased[["x2", "x1", "group"]])
    prep = workspace.skops(preprocessor, "prep.skops")
    weights = np.array([[0.0] * 5, [1.0, 0.5, 0.3, 0.0, -0.3]])
    model = workspace.torchscript(linear(weights, np.zeros(2)))
    data = workspace.table(biased)
    result = audit(data, model, preprocessor=prep)

    assert result.run.model.feature_source == "preprocessor"
    assert result.run.model.features == ("x2", "x1", "group")
    # Independent of the engine: scale and one-hot with numpy.
    numeric = biased[["x2", "x1"]].to_numpy()
    scaled = (numeric - numeric.mean(axis=0)) / numeric.std(axis=0)
    one_hot = np.column_stack([biased["group"] == g for g in ("a", "b", "c")]).astype(float)
    logits = np.hstack([scaled, one_hot]) @ weights.T
    assert_decisions(result, biased, logit_decisions(logits))


def test_preprocessor_standard_scaler_with_skops_model(
    workspace: Workspace, biased: pd.DataFrame
) -> None:
    columns = biased[["x1", "x2"]]
    scaler = StandardScaler().fit(columns)
    estimator = LogisticRegression().fit(scaler.transform(columns), biased["label"])
    data = workspace.table(biased)
    result = audit(
        data,
        workspace.skops(estimator),
        preprocessor=workspace.skops(scaler, "prep.skops"),
    )
    assert result.run.model.features == ("x1", "x2")
    scores = estimator.predict_proba(scaler.transform(columns))[:, 1]
    assert_decisions(result, biased, scores >= 0.5)


def test_streamed_preprocessor_is_loaded_once_per_file_version(
    workspace: Workspace, biased: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    from audit.models import inference

    loads: list[Path] = []
    load = inference.load_skops_object

    def counted(path: Path, trust: bool) -> Any:
        loads.append(path)
        return load(path, trust)

    monkeypatch.setattr(inference, "load_skops_object", counted)
    columns = biased[["x1", "x2"]]
    scaler = StandardScaler().fit(columns)
    estimator = LogisticRegression().fit(scaler.transform(columns), biased["label"])
    model, data = workspace.skops(estimator), workspace.table(biased)
    prep = workspace.skops(scaler, "prep.skops")
    chunked = audit(data, model, preprocessor=prep, chunk_rows=50)  # several chunks
    assert len(biased) > 100 and loads == [prep]
    assert_decisions(
        chunked, biased, estimator.predict_proba(scaler.transform(columns))[:, 1] >= 0.5
    )
    # A rewritten file is a new version: loaded again, its transformer used.
    shifted = StandardScaler().fit(columns + 1.0)
    prep.unlink()
    workspace.skops(shifted, "prep.skops")
    again = audit(data, model, preprocessor=prep, chunk_rows=50)
    assert loads == [prep, prep]
    scores = estimator.predict_proba(shifted.transform(columns))[:, 1]
    assert_decisions(again, biased, scores >= 0.5)


# --- the model's output -----------------------------------------------------------------------


def _probability_model() -> nn.Module:
    # [n, 1] probability sigmoid(x2 + 0.5 x1 - 0.2)
    return nn.Sequential(linear([[1.0, 0.5]], [-0.2]), nn.Sigmoid())


def _probabilities(frame: pd.DataFrame) -> np.ndarray:
    z = frame["x2"].to_numpy() + 0.5 * frame["x1"].to_numpy() - 0.2
    return 1.0 / (1.0 + np.exp(-z))


@pytest.mark.parametrize(
    ("shape", "module", "kind", "output_shape"),
    [
        ("[n, 2] logits", default_module(), "logits", (2,)),
        (
            "[n, 2] probabilities",
            nn.Sequential(default_module(), nn.Softmax(dim=1)),
            "probabilities",
            (2,),
        ),
        ("[n] logit", nn.Sequential(linear([[1.0, 0.5]], [-0.2]), Squeeze()), "logits", ()),
        ("[n, 1] probability", _probability_model(), "probabilities", (1,)),
    ],
)
def test_output_kind_detection(
    workspace: Workspace,
    biased: pd.DataFrame,
    shape: str,
    module: nn.Module,
    kind: str,
    output_shape: tuple[int, ...],
) -> None:
    result = audit(workspace.table(biased), workspace.torchscript(module))
    assert result.run.model.output_kind == kind, shape
    assert result.run.model.output_shape == output_shape, shape
    if output_shape == (2,):
        decisions = logit_decisions(default_logits(biased))
    else:
        decisions = _probabilities(biased) >= 0.5
    assert_decisions(result, biased, decisions)


@pytest.mark.parametrize("width", [2, 3, 9, 40])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_positive_score_of_logits(width: int, dtype: type) -> None:
    """The positive class's probability from logit columns: scipy's softmax to rounding, and
    bit for bit the same as the row maximum and row sum numpy's reductions give (the reports'
    goldens), two columns included, which are added without the reduction."""
    logits = (np.random.default_rng(width).standard_normal((1000, width)) * 30).astype(dtype)
    column = width - 1
    scores = PositiveScore("logits", column).from_numpy(logits)
    expected = scipy.special.softmax(logits.astype(np.float64), axis=1)[:, column]
    np.testing.assert_allclose(
        scores, expected, rtol=1e-5 if dtype is np.float32 else 1e-12, atol=1e-30
    )
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    np.testing.assert_array_equal(scores, exp[:, column] / exp.sum(axis=1))


def test_output_kind_override_changes_decisions(workspace: Workspace, biased: pd.DataFrame) -> None:
    data = workspace.table(biased)
    model = workspace.torchscript(_probability_model())
    detected = audit(data, model)
    assert detected.run.model.output_kind == "probabilities"
    assert_decisions(detected, biased, _probabilities(biased) >= 0.5)

    # Read as logits, every probability (> 0) becomes sigmoid(p) > 0.5: all positive.
    forced = audit(data, model, output_kind="logits")
    assert forced.run.model.output_kind == "logits"
    assert_decisions(forced, biased, np.ones(len(biased), dtype=bool))


def test_output_kind_probabilities_refused_for_logits(
    workspace: Workspace, biased: pd.DataFrame
) -> None:
    model = workspace.torchscript(nn.Sequential(linear([[1.0, 0.5]], [-0.2]), Squeeze()))
    with pytest.raises(ModelError, match=r"outside \[0, 1\].*--output-kind logits"):
        audit(workspace.table(biased), model, output_kind="probabilities")


@pytest.mark.parametrize("threshold", [0.3, 0.7])
def test_threshold(workspace: Workspace, biased: pd.DataFrame, threshold: float) -> None:
    result = audit(
        workspace.table(biased), workspace.torchscript(_probability_model()), threshold=threshold
    )
    assert result.run.model.threshold == threshold
    decisions = _probabilities(biased) >= threshold
    assert not np.array_equal(decisions, _probabilities(biased) >= 0.5)
    assert_decisions(result, biased, decisions)


def test_positive_label_flips_the_labels(workspace: Workspace, biased: pd.DataFrame) -> None:
    data = workspace.table(biased)
    model = workspace.torchscript(_probability_model())
    result = audit(data, model, positive_label="0")
    assert result.run.model.positive_label == "0"
    y = 1 - biased["label"].to_numpy()
    # A single score is the positive class's: decisions stay, the labels flip.
    assert_decisions(result, biased, _probabilities(biased) >= 0.5, y)
    base_rates = {
        entry.group[0]: entry.metrics["base_rate"]
        for entry in result.groups
        if entry.feature == ("sex",)
    }
    assert base_rates["F"] == pytest.approx(float((biased["label"] == 0).mean()))


def test_default_features_are_numeric_non_target_non_sensitive_in_file_order(
    workspace: Workspace, biased: pd.DataFrame
) -> None:
    rng = np.random.default_rng(3)
    frame = pd.DataFrame(
        {
            "z": rng.normal(size=len(biased)),
            "x2": biased["x2"],
            "sex": biased["sex"],
            "flag": rng.random(len(biased)) > 0.5,  # boolean: not a feature
            "age": rng.integers(18, 80, len(biased)),  # numeric but sensitive
            "x1": biased["x1"],
            "group": biased["group"],
            "label": biased["label"],
            "note": biased["note"],
        }
    )
    weights = np.array([[0.0, 0.0, 0.0], [0.4, 1.0, 0.5]])
    model = workspace.torchscript(linear(weights, np.zeros(2)))
    result = audit(workspace.table(frame), model, sensitive=("sex", "age"))
    assert result.run.model.features == ("z", "x2", "x1")
    logits = frame[["z", "x2", "x1"]].to_numpy() @ weights.T
    assert_decisions(result, frame, logit_decisions(logits), columns=("sex",))


@pytest.mark.parametrize("name", ["data.csv", "data.csv.gz", "data.parquet"])
def test_table_formats(workspace: Workspace, biased: pd.DataFrame, name: str) -> None:
    data = workspace.table(biased, name)
    result = audit(data, workspace.torchscript(default_module()))
    assert result.run.data.rows == len(biased)
    assert result.run.data.columns == biased.shape[1]
    assert result.run.data.file.sha256 == sha256(data)
    assert result.run.data.file.bytes == data.stat().st_size
    assert_decisions(result, biased, logit_decisions(default_logits(biased)))


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        ([[0.2, 0.8], [1.0, 0.0]], "probabilities"),  # rows sum to one, bounds included
        ([[0.2, 0.7], [0.5, 0.5]], "logits"),  # in [0, 1] but a row sums to 0.9
        ([[-0.3, 1.2], [0.4, 0.6]], "logits"),
        ([[0.0], [1.0], [0.37]], "probabilities"),  # one column: only the bounds matter
        ([0.5, 1.0000001], "logits"),
        ([-1e-9, 0.5], "logits"),
        (np.empty((0, 2)), "probabilities"),
    ],
)
def test_output_kind_is_read_from_the_values(output: Any, expected: str) -> None:
    assert detect_output_kind(np.asarray(output, dtype=np.float64)) == expected
