"""Where an audit's time goes: wall time of each stage, part and check, model rows, model time.

``StageProfile.measuring()`` wraps, for the duration of one audit, the functions the audit
calls for each stage (looked up where the audit calls them) and the two ways the model is run
(``TorchAdapter.predict_proba`` for inference, SHAP and flips; ``TorchForward.__call__`` for
Captum's forward passes, whose backward passes count as time outside the model). Checks are
timed by wrapping each one handed to ``run_audit``. Only benchmarks use this: the audit itself
carries no timers.

With more than one thread the table stages (fairness, privacy, data fit) run beside the model
stages (audit.core.runner), so stage times overlap: the row "stages, both lanes" is their wall
time together. Model rows are counted per lane, by the thread that ran the model.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any
from unittest import mock

import audit.core.prepare
import audit.core.runner
import audit.datafit.stage
import audit.explain.stage
import audit.fairness.stage
import audit.models.inference
import audit.privacy.stage
import audit.robustness.stage
import audit.text.stage
from audit.core.findings import Finding
from audit.core.registry import AuditContext, Check
from audit.core.runner import TABLE_LANE
from audit.explain.captum_attributions import TorchForward
from audit.models.torch_models import TorchAdapter

# (module, function name, label, depth): each stage, then the parts of a stage.
STAGES = (
    (audit.core.prepare, "read_table", "read data", 0),
    (audit.core.prepare, "load_audited_model", "load model", 0),
    (audit.core.prepare, "_whole", "prepare columns, encode, infer", 0),
    (audit.models.inference, "feature_matrix", "encode", 1),
    (audit.models.inference, "predict", "infer", 1),
    (audit.core.runner, "run_stages", "stages, both lanes", 0),
    (audit.fairness.stage, "fairness_from_counts", "fairness metrics and intervals", 0),
    (audit.privacy.stage, "run_privacy", "privacy stage", 0),
    (audit.privacy.stage, "scan_frame", "PII scan", 1),
    (audit.privacy.stage, "_membership", "membership inference", 1),
    (audit.privacy.stage, "_attributes", "attribute inference", 1),
    (audit.explain.stage, "explain_stage", "explanation stage", 0),
    (audit.explain.stage, "shap_attributions", "SHAP", 1),
    (audit.explain.stage, "integrated_gradients", "Integrated Gradients", 1),
    (audit.explain.stage, "gradient_shap", "GradientShap", 1),
    (audit.explain.stage, "associations", "associations", 1),
    (audit.explain.stage, "_flips", "counterfactual flips", 1),
    (audit.robustness.stage, "robustness", "robustness stage", 0),
    (audit.robustness.stage, "perturbed_rows", "perturbations", 1),
    (audit.robustness.stage, "search", "recourse grid search", 1),
    (audit.robustness.stage, "gradient_search", "recourse gradient search", 1),
    (audit.text.stage, "run_text", "text stage", 0),
    (audit.core.prepare, "count_rows", "data-fit counts", 0),
    (audit.datafit.stage, "measure_drift", "data-fit drift", 0),
    (audit.datafit.stage, "measure_label_noise", "data-fit label noise", 0),
    (audit.core.runner, "evaluate_gate", "gate", 0),
)


def _lane() -> str:
    """The lane of the calling thread: the table stages' thread, or any other (the model's)."""
    return "tables" if threading.current_thread().name.startswith(TABLE_LANE) else "model"


@dataclass
class Span:
    label: str
    depth: int
    seconds: float = 0.0
    model_rows: int = 0
    model_seconds: float = 0.0
    calls: int = 0


@dataclass
class StageProfile:
    spans: dict[str, Span] = field(default_factory=dict)
    # Per lane: rows the model scored and seconds spent in it.
    model_rows: dict[str, int] = field(default_factory=lambda: {"model": 0, "tables": 0})
    model_seconds: dict[str, float] = field(default_factory=lambda: {"model": 0.0, "tables": 0.0})
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _count(self, rows: int, seconds: float) -> None:
        # SHAP scores blocks on several threads at once.
        lane = _lane()
        with self._lock:
            self.model_rows[lane] += rows
            self.model_seconds[lane] += seconds

    def _timed(self, label: str, depth: int, function: Callable[..., Any]) -> Callable[..., Any]:
        span = self.spans.setdefault(label, Span(label, depth))

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            lane = _lane()
            rows, model_seconds = self.model_rows[lane], self.model_seconds[lane]
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                span.seconds += time.perf_counter() - start
                span.model_rows += self.model_rows[lane] - rows
                span.model_seconds += self.model_seconds[lane] - model_seconds
                span.calls += 1

        return wrapper

    def checks(self, checks: Sequence[Check]) -> list[Check]:
        """The checks, each timed under its id."""
        return [
            _TimedCheck(check.id, check.needs, self._timed(f"check {check.id}", 0, check.run))
            for check in checks
        ]

    @contextmanager
    def measuring(self) -> Iterator[StageProfile]:
        predict, forward = TorchAdapter.predict_proba, TorchForward.__call__

        def counted_predict(adapter: TorchAdapter, batch: Any) -> Any:
            start = time.perf_counter()
            output = predict(adapter, batch)
            self._count(len(batch), time.perf_counter() - start)
            return output

        def counted_forward(module: TorchForward, inputs: Any) -> Any:
            start = time.perf_counter()
            output = forward(module, inputs)
            self._count(int(inputs.shape[0]), time.perf_counter() - start)
            return output

        with ExitStack() as stack:
            stack.enter_context(mock.patch.object(TorchAdapter, "predict_proba", counted_predict))
            stack.enter_context(mock.patch.object(TorchForward, "__call__", counted_forward))
            for module, name, label, depth in STAGES:
                original = getattr(module, name)
                stack.enter_context(
                    mock.patch.object(module, name, self._timed(label, depth, original))
                )
            yield self

    def rows(self, total: float) -> list[list[str]]:
        """Table rows: label, seconds, share of ``total``, model rows, share outside the model."""
        table = []
        for span in self.spans.values():
            if span.calls == 0:
                continue
            outside = 1 - span.model_seconds / span.seconds if span.seconds > 0 else 0.0
            table.append(
                [
                    "  " * span.depth + span.label,
                    f"{span.seconds:.3f}",
                    f"{span.seconds / total:.0%}",
                    f"{span.model_rows:,}" if span.model_rows else "",
                    f"{max(outside, 0.0):.0%}" if span.model_rows else "100%",
                ]
            )
        return table


@dataclass
class _TimedCheck:
    id: str
    needs: tuple[str, ...]
    run_timed: Callable[[AuditContext], tuple[Finding, ...]]

    def run(self, context: AuditContext) -> tuple[Finding, ...]:
        return self.run_timed(context)
