"""Save your own torch module as a model file the audit reads with no flags.

``torchscript(model, frame, features=encoder, path="model.pt")`` writes the TorchScript file
with its feature metadata (``rai_audit.json``, docs/model-formats.md): the input columns in
order, each categorical column's categories, each numeric column's scaling, the class labels,
the positive label and the output kind. ``features`` is the fitted scikit-learn encoder the
module was trained behind (a ColumnTransformer of OneHotEncoder and StandardScaler steps, or
one of those alone) or a column spec. The frame checks that the metadata encodes rows as the
encoder does and that the module runs on them.
"""

from __future__ import annotations

import json
import os
import tempfile
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch

from audit.core.errors import ModelError
from audit.models.features import (
    METADATA_FILE,
    METADATA_FORMAT,
    CategoricalInput,
    FeatureMetadata,
    NumericInput,
    from_metadata,
)

# A column spec: a numeric column's name, or a dict in the metadata's own format, e.g.
# {"column": "sex", "kind": "categorical"} (categories then come from the frame, sorted) or
# {"column": "age", "kind": "numeric", "mean": 38.6, "scale": 13.6}.
ColumnSpec = str | dict[str, Any]
Spec = NumericInput | CategoricalInput


def feature_metadata(
    frame: pd.DataFrame,
    features: Any,
    class_labels: Sequence[Any] | None = None,
    positive_label: Any = None,
    output_kind: Literal["logits", "probabilities"] | None = None,
) -> FeatureMetadata:
    """The embedded metadata for ``features`` (a fitted encoder or a column spec)."""
    specs = (
        _from_encoder(features)
        if hasattr(features, "transform")
        else [_from_spec(item, frame) for item in features]
    )
    metadata = FeatureMetadata.model_validate(
        {
            "format": METADATA_FORMAT,
            "features": specs,
            "class_labels": [str(label) for label in class_labels] if class_labels else None,
            "positive_label": str(positive_label) if positive_label is not None else None,
            "output_kind": output_kind,
        }
    )
    if hasattr(features, "transform"):
        _check_encoding(frame, features, metadata)
    return metadata


def torchscript(
    model: torch.nn.Module,
    frame: pd.DataFrame,
    features: Any,
    path: str | Path,
    class_labels: Sequence[Any] | None = None,
    positive_label: Any = None,
    output_kind: Literal["logits", "probabilities"] | None = None,
) -> Path:
    """Write ``model`` as TorchScript with its feature metadata to ``path``; returns it.

    The module is compiled with ``torch.jit.script``, or traced on the encoded ``frame`` if it
    cannot be scripted.
    """
    metadata = feature_metadata(frame, features, class_labels, positive_label, output_kind)
    example = _example(frame, metadata)
    model = model.eval()
    with warnings.catch_warnings():
        # torch 2.13 deprecates TorchScript; the audit still reads such files.
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            compiled = torch.jit.script(model)
        except Exception:  # scripting rejects much valid Python; tracing then records the ops
            compiled = torch.jit.trace(model, example)
        with torch.no_grad():
            compiled(example)  # fails here, not in the audit, if the width is wrong
        return _write(
            Path(path),
            lambda temporary, extra: torch.jit.save(compiled, temporary, _extra_files=extra),
            metadata,
        )


def torch_export(
    model: torch.nn.Module,
    frame: pd.DataFrame,
    features: Any,
    path: str | Path,
    class_labels: Sequence[Any] | None = None,
    positive_label: Any = None,
    output_kind: Literal["logits", "probabilities"] | None = None,
) -> Path:
    """Write ``model`` as a ``torch.export`` program (``.pt2``) with a dynamic batch size and
    its feature metadata to ``path``; returns it."""
    metadata = feature_metadata(frame, features, class_labels, positive_label, output_kind)
    example = _example(frame, metadata)
    program = torch.export.export(
        model.eval(), (example,), dynamic_shapes=({0: torch.export.Dim("batch")},)
    )
    return _write(
        Path(path),
        lambda temporary, extra: torch.export.save(program, temporary, extra_files=extra),
        metadata,
    )


def _example(frame: pd.DataFrame, metadata: FeatureMetadata) -> torch.Tensor:
    """The frame encoded as the audit will encode it: the module's example input."""
    values = from_metadata(frame, metadata, Path("frame")).values
    return torch.from_numpy(np.ascontiguousarray(values))


def _write(
    target: Path, save: Callable[[str, dict[str, str]], None], metadata: FeatureMetadata
) -> Path:
    """Saved beside ``target`` and renamed into place: a half-written model never exists."""
    handle, temporary = tempfile.mkstemp(dir=target.parent, suffix=".tmp")
    os.close(handle)
    try:
        save(
            temporary,
            {METADATA_FILE: json.dumps(metadata.model_dump(mode="json", exclude_none=True))},
        )
        os.replace(temporary, target)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    return target


def _from_spec(item: ColumnSpec, frame: pd.DataFrame) -> Spec:
    if isinstance(item, str):
        return NumericInput(column=item, kind="numeric")
    if item.get("kind") == "categorical" and "categories" not in item:
        values = frame[item["column"]].dropna().astype(str).str.strip().unique()
        item = {**item, "categories": sorted(values.tolist())}
    if item.get("kind") == "categorical":
        return CategoricalInput.model_validate(item)
    return NumericInput.model_validate(item)


def _from_encoder(encoder: Any) -> list[Spec]:
    """The inputs a fitted encoder writes, in its output order."""
    steps = getattr(encoder, "transformers_", None)
    if steps is None:  # one OneHotEncoder or StandardScaler on its own columns
        return _from_step(encoder, [str(name) for name in encoder.feature_names_in_])
    specs: list[Spec] = []
    names = [str(name) for name in encoder.feature_names_in_]
    for _, step, selection in steps:
        if step == "drop":
            continue
        columns = _columns(selection, names)
        if step == "passthrough":
            specs.extend(NumericInput(column=column, kind="numeric") for column in columns)
        else:
            specs.extend(_from_step(step, columns))
    return specs


def _columns(selection: Any, names: list[str]) -> list[str]:
    if isinstance(selection, str):
        return [selection]
    items = list(selection)
    if items and all(isinstance(item, (int, np.integer)) for item in items):
        return [names[int(item)] for item in items]
    if items and all(isinstance(item, (bool, np.bool_)) for item in items):
        return [name for name, keep in zip(names, items, strict=True) if keep]
    return [str(item) for item in items]


def _from_step(step: Any, columns: list[str]) -> list[Spec]:
    kind = type(step).__name__
    if kind == "OneHotEncoder":
        if getattr(step, "drop_idx_", None) is not None:
            raise ModelError("a OneHotEncoder with drop= cannot be embedded; fit it with drop=None")
        return [
            CategoricalInput(
                column=column, kind="categorical", categories=[str(c) for c in categories]
            )
            for column, categories in zip(columns, step.categories_, strict=True)
        ]
    if kind == "StandardScaler":
        means = step.mean_ if step.mean_ is not None else np.zeros(len(columns))
        scales = step.scale_ if step.scale_ is not None else np.ones(len(columns))
        return [
            NumericInput(column=column, kind="numeric", mean=float(mean), scale=float(scale))
            for column, mean, scale in zip(columns, means, scales, strict=True)
        ]
    raise ModelError(
        f"cannot embed a {kind}: the metadata holds one-hot categories and standard scaling "
        "(OneHotEncoder, StandardScaler, passthrough); give a column spec instead"
    )


def _check_encoding(frame: pd.DataFrame, encoder: Any, metadata: FeatureMetadata) -> None:
    """The metadata must encode ``frame`` exactly as the fitted encoder does."""
    expected = encoder.transform(frame[[str(name) for name in encoder.feature_names_in_]])
    if hasattr(expected, "toarray"):
        expected = expected.toarray()
    encoded = from_metadata(frame, metadata, Path("frame")).values[:]
    if not np.allclose(encoded, np.asarray(expected, dtype=np.float64), rtol=1e-5, atol=1e-5):
        raise ModelError(
            "the embedded metadata does not reproduce the encoder's output on the frame; "
            "check that the encoder is fitted and holds only OneHotEncoder/StandardScaler steps"
        )
