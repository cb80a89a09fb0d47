"""How the text probes read the model: a positive-class score per text, the decision it gives,
and which decision is adverse for the person a text speaks of."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Scorer:
    score: Callable[[Sequence[str]], np.ndarray]  # positive-class probability per text
    threshold: float
    adverse_is_positive: bool  # True when the positive decision is the adverse one

    def decisions(self, scores: np.ndarray) -> np.ndarray:
        return (scores >= self.threshold).astype(np.int8)

    def adverse(self, scores: np.ndarray) -> np.ndarray:
        positive = scores >= self.threshold
        return positive if self.adverse_is_positive else ~positive

    def toward_adverse(self, change: float) -> float:
        """A score change turned so that a positive value means "more adverse"."""
        return change if self.adverse_is_positive else -change
