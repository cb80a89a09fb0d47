"""What every attribution method returns, and its completeness error."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from audit.explain.results import Completeness


@dataclass(frozen=True)
class Attributions:
    method: str
    values: np.ndarray  # float64 [rows, columns]: attribution of each table column per row
    outputs: np.ndarray  # float64 [rows]: f(x), the explained score of each row
    reference: np.ndarray  # float64 [rows]: f(reference) the attributions are relative to
    reference_text: str
    library: str
    settings: dict[str, Any] = field(default_factory=dict)
    judged: bool = True  # False where completeness holds only in expectation


def completeness(attributions: Attributions) -> Completeness:
    """Completeness (SHAP's efficiency, Integrated Gradients' convergence): the attributions of
    a row should sum to f(x) - f(reference). The error is reported in probability units and
    relative to the mean |f(x) - f(reference)| it should account for."""
    expected = attributions.outputs - attributions.reference
    error = np.abs(attributions.values.sum(axis=1) - expected)
    scale = float(np.mean(np.abs(expected))) if len(expected) else 0.0
    mean_error = float(np.mean(error)) if len(error) else 0.0
    return Completeness(
        reference=attributions.reference_text,
        mean_abs_error=mean_error,
        relative_error=mean_error / scale if scale > 0 else None,
        judged=attributions.judged,
    )
