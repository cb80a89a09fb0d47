"""The explanation stage: sample, attribute with every method that applies, summarize, flip.

Runs once before the checks, like the fairness tables; the ``explain.*`` checks read its
result from the context. It fails soft: a method that does not apply is skipped with its
reason, a method that errors is recorded (the stage then reports an error, as a crashed check
would) and the others go on; the audit never stops here.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from audit.core.policy import Policy
from audit.core.prepared import PreparedAudit
from audit.core.stage import Need, StageOutcome
from audit.data.slices import Partition, Slice
from audit.data.table import ColumnCodes, SensitiveColumn
from audit.explain.agreement import agreements
from audit.explain.association import associations
from audit.explain.attributions import Attributions, completeness
from audit.explain.captum_attributions import (
    TorchForward,
    gradient_shap,
    integrated_gradients,
    torch_forward,
)
from audit.explain.columns import ColumnMap, column_map
from audit.explain.copies import (
    ASSOCIATION_THRESHOLD,
    COPY_THRESHOLD,
    CopyValues,
    encoded_copies,
)
from audit.explain.flip import flip_attribute
from audit.explain.importance import (
    copy_importance,
    global_importance,
    group_importance,
    largest_shifts,
)
from audit.explain.results import (
    METHOD_ORDER,
    EncodedCopy,
    Explanations,
    Flip,
    GroupCount,
    MethodResult,
    Sample,
)
from audit.explain.sampling import BACKGROUND_ROWS, ExplainSample, stratified_sample
from audit.explain.score import model_function
from audit.explain.shap_attributions import shap_attributions
from audit.models.base import LoadedModel
from audit.models.features import FeatureMatrix
from audit.models.inference import class_labels
from audit.models.positive_score import positive_score

STAGE_ID = "explain"
EXTRA_HINT = "pip install 'rai-audit[explain]'"


@dataclass(frozen=True)
class ExplainInputs:
    """What the stage needs from the audit so far."""

    model: LoadedModel
    features: FeatureMatrix
    frame: pd.DataFrame
    codes: ColumnCodes  # the factorization of each of ``frame``'s columns, shared
    sensitive: Sequence[SensitiveColumn]
    fine: Partition
    slices: Sequence[Slice]
    # How the model's output was read (audit.models.scoring), to explain the same score.
    output_kind: str
    output_shape: tuple[int, ...]
    class_labels: tuple[str, ...] | None
    target_labels: tuple[str, ...]
    positive_label: str
    model_path: Path
    threshold: float
    batch_size: int
    policy: Policy
    samples: int
    threads: int = 1  # cores for the explainers' blocks
    model_class: str | None = None  # --model-positive-class, as the audit read the output


def explain_stage(inputs: ExplainInputs) -> StageOutcome:
    """The stage's result and, per crashed part, one line of its error record; never raises."""
    try:
        explanations = run_explanations(inputs)
    except Exception as exc:  # a crash here is recorded like a crashed check
        reason = f"{type(exc).__name__}: {exc}".strip()
        return StageOutcome(Explanations(status="error", reason=reason), (reason,))
    errors = [
        f"{method.method}: {method.reason}"
        for method in explanations.methods.values()
        if method.status == "error"
    ]
    errors += [
        f"flip test of {name}: {why}"
        for name, why in explanations.flip_skipped.items()
        if why.startswith("error: ")
    ]
    return StageOutcome(explanations, tuple(errors))


def _has_model(prepared: PreparedAudit) -> bool:
    model = prepared.model
    return model.loaded is not None and model.features is not None and model.file is not None


class ExplainStage:
    """Attributions (SHAP, Captum), associations, encoded copies and counterfactual flips."""

    id = STAGE_ID
    required = False
    needs: tuple[Need, ...] = (
        Need(
            "explanations asked for",
            lambda prepared: prepared.settings.explain,
            "turned off with --no-explain",
        ),
        Need(
            "a tabular model",
            lambda prepared: prepared.model.text is None,
            "a text model: token attributions are in the text section (docs/text-models.md)",
        ),
        Need(
            "a model",
            _has_model,
            "no model to explain: the audit reads decisions from --predictions",
        ),
    )

    def runs_model(self, prepared: PreparedAudit) -> bool:
        return True

    def run(self, prepared: PreparedAudit, reports: Mapping[str, object]) -> StageOutcome:
        data, model, settings = prepared.data, prepared.model, prepared.settings
        # The needs above hold: a tabular model with its input.
        assert model.loaded is not None and model.features is not None and model.file
        return explain_stage(
            ExplainInputs(
                model=model.loaded,
                features=model.features,
                frame=data.frame,
                codes=data.codes,
                sensitive=data.sensitive,
                fine=data.fine,
                slices=data.slices,
                output_kind=model.predictions.output_kind,
                output_shape=model.predictions.output_shape,
                class_labels=class_labels(model.loaded, model.metadata),
                target_labels=data.target.labels,
                positive_label=data.target.positive_label,
                model_path=model.file,
                model_class=model.predictions.model_class,
                threshold=settings.threshold,
                batch_size=settings.batch_size,
                policy=settings.policy,
                samples=settings.explain_samples,
                threads=settings.threads,
            )
        )

    def skipped(self, reason: str) -> Explanations:
        return Explanations(status="skipped", reason=reason)


def _method(
    name: str,
    compute: Callable[[], Attributions | str],
    sample: ExplainSample,
    cells: np.ndarray,
    columns: ColumnMap,
    copies: Sequence[EncodedCopy],
    inputs: ExplainInputs,
) -> MethodResult:
    """Run one method; a string from ``compute`` is its skip reason, an exception its error."""
    clock = time.perf_counter()
    try:
        attributions = compute()
    except ImportError as exc:
        library = (exc.name or "a library").split(".")[0]
        return MethodResult(name, "skipped", f"{library} is not installed: {EXTRA_HINT}")
    except Exception as exc:  # the model and the libraries are outside our control
        return MethodResult(name, "error", f"{type(exc).__name__}: {exc}".strip())
    if isinstance(attributions, str):
        return MethodResult(name, "skipped", attributions)
    seconds = round(time.perf_counter() - clock, 3)
    policy = inputs.policy
    groups = group_importance(
        attributions.values, sample.weights, cells, columns.columns, inputs.slices
    )
    return MethodResult(
        method=name,
        status="ok",
        library=attributions.library,
        rows=len(attributions.values),
        seconds=seconds,
        settings=attributions.settings,
        global_importance=global_importance(
            attributions.values,
            sample.weights,
            columns.columns,
            columns.inputs_per_column(),
            policy.n_boot,
            policy.confidence_level,
            policy.seed,
        ),
        groups=groups,
        shifts=largest_shifts(groups, columns.columns),
        completeness=completeness(attributions),
        encoded_copies=copy_importance(
            attributions.values,
            sample.weights,
            columns.columns,
            copies,
            policy.n_boot,
            policy.confidence_level,
            policy.seed,
        ),
    )


def run_explanations(inputs: ExplainInputs) -> Explanations:
    features, policy = inputs.features, inputs.policy
    input_columns = features.input_columns or features.columns
    if len(input_columns) != features.values.shape[1]:
        raise ValueError(
            f"the feature matrix maps {len(input_columns)} inputs to columns but has "
            f"{features.values.shape[1]}"
        )
    columns = column_map(input_columns)
    score = positive_score(
        inputs.output_kind,
        inputs.output_shape,
        inputs.class_labels,
        inputs.target_labels,
        inputs.positive_label,
        inputs.model_path,
        inputs.model_class,
    )
    sample = stratified_sample(
        inputs.fine.cell_of_row, inputs.fine.n_cells, inputs.samples, BACKGROUND_ROWS, policy.seed
    )
    cells = inputs.fine.cell_of_row[sample.rows]
    explained = features.values[sample.rows]
    background = features.values[sample.background]
    function = model_function(inputs.model, score, inputs.batch_size)
    forward: TorchForward | str | None = None

    def captum_forward() -> TorchForward | str:
        nonlocal forward
        if forward is None:
            found = torch_forward(inputs.model, score, features.values.shape[1])
            forward = (
                f"Captum needs gradients: {found}; SHAP explains the model without them"
                if isinstance(found, str)
                else found
            )
        return forward

    def run_shap() -> Attributions | str:
        return shap_attributions(
            function, explained, background, columns, policy.seed, inputs.threads
        )

    def run_ig() -> Attributions | str:
        found = captum_forward()
        if isinstance(found, str):
            return found
        return integrated_gradients(found, explained, background, columns, inputs.batch_size)

    def run_gradient_shap() -> Attributions | str:
        found = captum_forward()
        if isinstance(found, str):
            return found
        return gradient_shap(found, explained, background, columns, inputs.batch_size, policy.seed)

    # Associations come first: the encoded copies they reveal are summed by every method and
    # rewritten by the flip test.
    measured = associations(
        inputs.frame,
        columns.columns,
        list(columns.inputs_per_column()),
        inputs.sensitive,
        policy.seed,
        inputs.threads,
        inputs.codes,
    )
    copies = encoded_copies(
        inputs.frame,
        columns.columns,
        measured,
        inputs.sensitive,
        policy.thresholds[COPY_THRESHOLD],
        policy.thresholds[ASSOCIATION_THRESHOLD],
        inputs.codes,
    )
    found_copies = tuple(found.copy for found in copies)
    runners = {"shap": run_shap, "integrated_gradients": run_ig, "gradient_shap": run_gradient_shap}
    methods = {
        name: _method(name, runners[name], sample, cells, columns, found_copies, inputs)
        for name in METHOD_ORDER
    }
    ran = [method for method in methods.values() if method.status == "ok"]
    names = {column.name for column in inputs.sensitive}
    sensitive_inputs = tuple(column for column in columns.columns if column in names)
    flips, flip_skipped = _flips(inputs, sensitive_inputs, copies, function)
    notes = tuple(
        _not_an_input(column.name, found_copies)
        for column in inputs.sensitive
        if column.name not in sensitive_inputs
    )
    return Explanations(
        status="ok",
        explained=score.describe(inputs.positive_label),
        sample=Sample(
            requested=inputs.samples,
            rows=len(sample.rows),
            background=len(sample.background),
            groups=_group_counts(inputs.slices, inputs.fine, cells),
        ),
        columns=columns.columns,
        sensitive_inputs=sensitive_inputs,
        methods=methods,
        agreement=agreements(ran),
        associations=measured,
        encoded_copies=found_copies,
        flips=flips,
        flip_skipped=flip_skipped,
        notes=notes,
    )


def _not_an_input(attribute: str, copies: Sequence[EncodedCopy]) -> str:
    encodings = [copy.columns for copy in copies if copy.attribute == attribute]
    if not encodings:
        return (
            f"{attribute} is not a model input: no direct use or flip test; its proxies are the "
            "associated input columns"
        )
    columns = [column for columns in encodings for column in columns]
    verb = "encodes" if len(columns) == 1 else "encode"
    return (
        f"{attribute} is not a model input, but {', '.join(columns)} {verb} it: direct use and "
        "the flip test are of that encoding; its proxies are the other associated input columns"
    )


def _flips(
    inputs: ExplainInputs,
    sensitive_inputs: tuple[str, ...],
    copies: Sequence[CopyValues],
    function: Callable[[np.ndarray], np.ndarray],
) -> tuple[tuple[Flip, ...], dict[str, str]]:
    flips: list[Flip] = []
    skipped_flips: dict[str, str] = {}
    encode = inputs.features.encode
    for attribute in inputs.sensitive:
        named = attribute.name in sensitive_inputs
        encodings = [found for found in copies if found.copy.attribute == attribute.name]
        if not named and not encodings:
            continue
        if encode is None:
            skipped_flips[attribute.name] = "the model input cannot be rebuilt from the table"
            continue
        try:
            flips.extend(
                flip_attribute(
                    inputs.frame,
                    attribute,
                    encode,
                    inputs.features.values,
                    function,
                    inputs.threshold,
                    inputs.policy.n_boot,
                    inputs.policy.confidence_level,
                    inputs.policy.seed,
                    encodings,
                    named,
                    inputs.codes,
                )
            )
        except Exception as exc:  # re-encoding or the model failed on flipped values
            skipped_flips[attribute.name] = f"error: {type(exc).__name__}: {exc}".strip()
    return tuple(flips), skipped_flips


def _group_counts(
    slices: Sequence[Slice], fine: Partition, sampled_cells: np.ndarray
) -> tuple[GroupCount, ...]:
    counts: list[GroupCount] = []
    # Rows per fine cell, counted once: each slice's groups sum their cells, instead of a
    # gather and a count over every row per slice.
    cell_rows = np.bincount(fine.cell_of_row, minlength=fine.n_cells)
    for item in slices:
        in_data = np.zeros(item.n_groups, dtype=np.int64)
        np.add.at(in_data, item.group_of_cell, cell_rows)
        in_sample = np.bincount(item.group_of_cell[sampled_cells], minlength=item.n_groups)
        counts.extend(
            GroupCount(item.features, label, int(in_data[index]), int(in_sample[index]))
            for index, label in enumerate(item.labels)
        )
    return tuple(counts)
