"""``audit.export.torchscript``: a torch module trained behind a fitted scikit-learn encoder
becomes a model file the audit reads with no flags; torch files that cannot be run say how to
export instead.

The expected scores are the module's own output on the encoder's own transform of the frame.
"""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import FAST_N_BOOT, Workspace
from fairlearn.metrics import MetricFrame, selection_rate
from sklearn.compose import ColumnTransformer
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from torch import nn

import audit.export
from audit import AuditRequest, ModelError, run_audit
from audit.models import load_model


class MLP(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(width, 8), nn.ReLU(), nn.Linear(8, 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


def census(rows: int = 300, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "age": rng.integers(18, 70, size=rows),
            "job": rng.choice(["clerk", "craft", "exec"], size=rows),
            "sex": rng.choice(["Female", "Male"], size=rows),
            "income": rng.choice(["<=50K", ">50K"], size=rows),
        }
    )


def fitted_encoder(frame: pd.DataFrame) -> ColumnTransformer:
    encoder = ColumnTransformer(
        [("cat", OneHotEncoder(), ["job", "sex"]), ("num", StandardScaler(), ["age"])],
        sparse_threshold=0.0,
    )
    return encoder.fit(frame)


def test_exported_module_is_audited_with_its_own_scores(workspace: Workspace) -> None:
    frame = census()
    data = workspace.table(frame)
    read = pd.read_csv(data)
    encoder = fitted_encoder(read)
    torch.manual_seed(0)
    module = MLP(6)
    path = audit.export.torchscript(
        module,
        read,
        features=encoder,
        path=workspace.root / "mlp.pt",
        class_labels=["<=50K", ">50K"],
        positive_label=">50K",
        output_kind="logits",
    )
    with torch.no_grad():
        logits = module(torch.tensor(encoder.transform(read), dtype=torch.float32)).double()
    expected = torch.softmax(logits, dim=1)[:, 1].numpy()

    loaded = load_model(path)
    assert loaded.kind == "torchscript" and loaded.metadata_text is not None
    metadata = audit.models.features.parse_metadata(loaded.metadata_text, path)
    assert [spec.column for spec in metadata.features] == ["job", "sex", "age"]
    values = audit.models.features.from_metadata(read, metadata, data).values[:]
    output = loaded.adapter.predict_proba(values)
    scores = np.exp(output[:, 1]) / np.exp(output).sum(axis=1)
    np.testing.assert_allclose(scores, expected, atol=1e-6)

    result = run_audit(
        AuditRequest(
            data=data,
            model=path,
            target="income",
            sensitive=("sex",),
            search_config=False,
            policy_overrides={"n_boot": FAST_N_BOOT},
            explain=False,
        )
    )
    assert result.run.model.feature_source == "metadata"
    assert result.run.model.positive_label == ">50K"
    rates = MetricFrame(
        metrics=selection_rate,
        y_true=(read["income"] == ">50K").astype(int),
        y_pred=(expected >= 0.5).astype(int),
        sensitive_features=read["sex"],
    ).by_group
    found = {
        e.group[0]: e.metrics["selection_rate"] for e in result.groups if e.feature == ("sex",)
    }
    assert found == pytest.approx({str(g): float(v) for g, v in rates.items()}, abs=1e-12)


def test_torch_export_program_carries_its_metadata(workspace: Workspace) -> None:
    frame = census(80)
    encoder = fitted_encoder(frame)
    torch.manual_seed(1)
    module = MLP(6)
    path = audit.export.torch_export(
        module, frame, features=encoder, path=workspace.root / "mlp.pt2", class_labels=[0, 1]
    )
    loaded = load_model(path)
    assert loaded.kind == "torch-export" and loaded.metadata_text is not None
    metadata = audit.models.features.parse_metadata(loaded.metadata_text, path)
    assert metadata.class_labels == ["0", "1"]
    values = audit.models.features.from_metadata(frame, metadata, path).values[:]
    with torch.no_grad():
        expected = module(torch.tensor(encoder.transform(frame), dtype=torch.float32)).numpy()
    np.testing.assert_allclose(loaded.adapter.predict_proba(values), expected, atol=1e-6)


def test_column_spec_learns_categories_from_the_frame(workspace: Workspace) -> None:
    frame = census(60)
    metadata = audit.export.feature_metadata(
        frame,
        [
            {"column": "sex", "kind": "categorical"},
            {"column": "age", "kind": "numeric", "scale": 10},
        ],
    )
    assert metadata.features[0].categories == ["Female", "Male"]  # type: ignore[union-attr]
    assert metadata.width == 3


def test_state_dict_says_how_to_export(workspace: Workspace) -> None:
    path = workspace.root / "weights.pt"
    torch.save(MLP(3).state_dict(), path)
    for trust in (False, True):
        with pytest.raises(ModelError) as raised:
            load_model(path, trust=trust)
        message = str(raised.value)
        assert "holds a state_dict" in message
        assert "audit.export.torchscript" in message
        assert "--trust-model" not in message


def test_pickled_module_of_a_missing_class_names_it(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    main = sys.modules["__main__"]

    class Missing(MLP):
        pass

    Missing.__module__, Missing.__qualname__, Missing.__name__ = "__main__", "MLP", "MLP"
    monkeypatch.setattr(main, "MLP", Missing, raising=False)
    path = workspace.root / "whole.pt"
    torch.save(Missing(3), path)
    monkeypatch.delattr(main, "MLP")
    with pytest.raises(ModelError) as raised:
        load_model(path, trust=True)
    message = str(raised.value)
    assert "class MLP from module __main__ is not importable here" in message
    assert "Can't get attribute" not in message
    assert "audit.export.torchscript" in message
