"""The text stage of an audit: runs the probes once, before the checks, which read its report.

Each part (counterfactual substitution, templated probes, subgroup AUCs, PII, attributions)
that cannot run records why; one that crashes is recorded as an error of the stage and the
others still run. Input errors (a bad identity terms file, an unknown adverse label) are the
user's to fix and are raised like any other input error, before the model runs.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from audit.core.errors import ConfigError
from audit.core.policy import Policy
from audit.core.prepared import PreparedAudit
from audit.core.stage import Need, StageOutcome
from audit.core.stage_guard import guarded
from audit.models.positive_score import PositiveScore, positive_score
from audit.models.scoring import Predictions, model_predictions, raw_output
from audit.text.attributions import (
    EXTRA_HINT,
    ExampleRequest,
    captum_library,
    token_attributions,
)
from audit.text.counterfactual import SwapDetail, counterfactuals
from audit.text.identity import IdentityTerms, Membership, load_identity_terms, membership
from audit.text.model import TextModel
from audit.text.pii import text_pii
from audit.text.results import (
    AttributionResult,
    CounterfactualResult,
    GroupMention,
    IdentitySummary,
    Performance,
    SubgroupAucResult,
    TemplateResult,
    TextModelInfo,
    TextPiiResult,
    TextReport,
)
from audit.text.scorer import Scorer
from audit.text.subgroup_auc import RankedScores, subgroup_aucs
from audit.text.templates import template_probes

STAGE_ID = "text"


def identity_files(policy: Policy, config_file: Path | None, extra: Sequence[Path]) -> list[Path]:
    """The policy's identity term files (relative to the policy file), then the flag's."""
    base = config_file.parent if config_file is not None else Path.cwd()
    return [base / name for name in policy.text.identity_terms] + list(extra)


def adverse_label(
    model: TextModel, policy: Policy, positive_label: str, labels: Sequence[str]
) -> str:
    """The class that harms the person a text speaks of (docs/text-models.md)."""
    chosen = policy.text.adverse_label or model.metadata.adverse_label
    classes = list(model.metadata.class_labels or labels)
    if chosen is not None:
        if chosen not in classes:
            raise ConfigError(
                f"text adverse_label {chosen!r} is not a class of the model "
                f"({', '.join(map(repr, classes))}); set text.adverse_label in the policy"
            )
        return chosen
    others = [label for label in classes if label != positive_label]
    if len(others) != 1:
        raise ConfigError(
            "cannot tell which class is adverse for the people texts speak of; set "
            "adverse_label in the model's rai_audit_text.json or text.adverse_label in the policy"
        )
    return others[0]


@dataclass(frozen=True)
class TextInputs:
    model: TextModel
    frame: pd.DataFrame
    column: str
    texts: list[str]
    labels: np.ndarray  # 1 = positive label
    scores: np.ndarray
    scorer: Scorer
    positive_label: str
    adverse_label: str
    positive: PositiveScore  # how the audit read the positive-class score, for attributions
    identity: IdentityTerms
    policy: Policy


def text_inputs(
    model: TextModel,
    frame: pd.DataFrame,
    column: str,
    texts: list[str],
    labels: np.ndarray,
    target_labels: tuple[str, ...],
    positive_label: str,
    predictions: Predictions,
    threshold: float,
    batch_size: int,
    identity: IdentityTerms,
    policy: Policy,
) -> TextInputs:
    """Everything the stage needs, with a scorer that reads new texts as the audit read the
    audited ones (same output kind, class column and threshold)."""
    class_labels = tuple(model.metadata.class_labels) if model.metadata.class_labels else None

    def score(batch: Sequence[str]) -> np.ndarray:
        values = np.empty((len(batch), 1), dtype=object)
        values[:, 0] = list(batch)
        output = raw_output(model.loaded, values, batch_size, model.source)
        read = model_predictions(
            output,
            predictions.output_kind,  # type: ignore[arg-type]
            threshold,
            class_labels,
            positive_label,
            model.source,
            target_labels,
            predictions.model_class,
        )
        assert read.scores is not None  # a model always gives scores
        return read.scores

    adverse = adverse_label(model, policy, positive_label, target_labels)
    assert predictions.scores is not None
    return TextInputs(
        model=model,
        frame=frame,
        column=column,
        texts=texts,
        labels=labels,
        scores=predictions.scores,
        scorer=Scorer(score, threshold, adverse_is_positive=adverse == positive_label),
        positive_label=positive_label,
        adverse_label=adverse,
        positive=positive_score(
            predictions.output_kind,
            predictions.output_shape,
            class_labels,
            target_labels,
            positive_label,
            model.source,
            predictions.model_class,
        ),
        identity=identity,
        policy=policy,
    )


def load_identity(
    request_files: Sequence[Path], policy: Policy, config: Path | None
) -> IdentityTerms:
    return load_identity_terms(identity_files(policy, config, request_files))


# ----------------------------------------------------------------------------- summaries
def _model_info(inputs: TextInputs) -> TextModelInfo:
    tokenizer = inputs.model.tokenizer
    spec = tokenizer.spec
    truncated = 0
    tokens_seen = unknown = 0
    for text in inputs.texts:
        tokens = tokenizer.tokens(text)
        truncated += len(tokens) == spec.max_length and tokenizer.count(text) > spec.max_length
        tokens_seen += len(tokens)
        unknown += sum(not tokenizer.known(token) for token in tokens)
    metadata = inputs.model.metadata
    return TextModelInfo(
        format=metadata.format,
        input=metadata.input,
        vocab_size=len(tokenizer.vocab),
        max_length=spec.max_length,
        lowercase=spec.lowercase,
        positive_label=inputs.positive_label,
        adverse_label=inputs.adverse_label,
        adverse_decision="positive" if inputs.scorer.adverse_is_positive else "negative",
        truncated_rows=int(truncated),
        unknown_token_share=round(unknown / tokens_seen, 6) if tokens_seen else 0.0,
    )


def _performance(inputs: TextInputs) -> Performance:
    decisions = inputs.scorer.decisions(inputs.scores)
    auc = None
    if inputs.labels.min() != inputs.labels.max():
        ranked = RankedScores(inputs.scores, inputs.labels)
        auc = float(ranked.auc(np.ones(len(inputs.scores), dtype=bool))[0])
    return Performance(
        rows=len(inputs.texts),
        positives=int(inputs.labels.sum()),
        accuracy=float((decisions == inputs.labels).mean()),
        roc_auc=auc,
    )


def _identity_summary(inputs: TextInputs, members: Membership) -> IdentitySummary:
    n = len(inputs.texts)
    groups = tuple(
        GroupMention(
            category=category.name,
            group=group.name,
            label=group.label,
            terms=len(group.terms),
            rows=int(members.rows[(category.name, group.name)].sum()),
            share=round(float(members.rows[(category.name, group.name)].mean()), 6) if n else 0.0,
        )
        for category in inputs.identity.categories
        for group in category.groups
    )
    return IdentitySummary(
        sources=inputs.identity.sources,
        rows_with_terms=int(members.any_identity(n).sum()),
        categories={category.name: category.label for category in inputs.identity.categories},
        groups=groups,
    )


# --------------------------------------------------------------------------- attributions
def _pii_free(text: str) -> bool:
    """No e-mail, phone number or other searched-for PII (the privacy module's patterns)."""
    try:
        from audit.privacy.pii import knowledge
    except ImportError:
        return True
    _, types = knowledge()
    return not any(pii.search is not None and pii.search.search(text) for pii in types)


def _examples(
    inputs: TextInputs, result: CounterfactualResult, details: list[SwapDetail]
) -> list[ExampleRequest]:
    """For the most affected term pairs, the text whose score moved most, without PII."""
    count = inputs.policy.text.attribution_examples
    by_pair = {
        (detail.job.category.name, detail.job.terms): detail
        for detail in details
        if detail.job.terms
    }
    ranked = sorted(
        (pair for pair in result.pairs if pair.status == "ok" and pair.score_gap is not None),
        key=lambda pair: -abs(pair.score_gap or 0.0),
    )
    chosen: list[ExampleRequest] = []
    for pair in ranked:
        if len(chosen) >= count:
            break
        detail = by_pair[(pair.category, pair.terms)]
        for position in np.argsort(-np.abs(detail.changes), kind="stable"):
            original = inputs.texts[int(detail.rows[position])]
            if _pii_free(original):
                chosen.append(
                    ExampleRequest(
                        pair.category,
                        (pair.terms[0], pair.terms[1]),
                        original,
                        detail.swapped[int(position)],
                        float(detail.changes[position]),
                    )
                )
                break
    return chosen


def _attribution_sample(inputs: TextInputs, members: Membership) -> list[str]:
    """Up to ``attribution_rows`` texts that mention identity terms, taken in turn from each
    category (seeded), so that a rare category is represented."""
    limit = inputs.policy.text.attribution_rows
    rng = np.random.default_rng([inputs.policy.seed, 3])
    queues = []
    for category in inputs.identity.categories:
        mentioned = np.zeros(len(inputs.texts), dtype=bool)
        for group in category.groups:
            mentioned |= members.rows[(category.name, group.name)]
        queues.append(list(rng.permutation(np.flatnonzero(mentioned))))
    picked: list[int] = []
    taken: set[int] = set()
    while len(picked) < limit and any(queues):
        for queue in queues:
            while queue and int(queue[0]) in taken:
                queue.pop(0)
            if queue and len(picked) < limit:
                row = int(queue.pop(0))
                taken.add(row)
                picked.append(row)
    return [inputs.texts[row] for row in sorted(picked)]


def _attributions(
    inputs: TextInputs,
    members: Membership,
    result: CounterfactualResult,
    details: list[SwapDetail],
) -> AttributionResult:
    try:
        library = captum_library()
    except ImportError:
        return AttributionResult(status="skipped", reason=f"Captum is not installed: {EXTRA_HINT}")
    return token_attributions(
        inputs.model.adapter,
        inputs.positive.from_torch,
        inputs.identity,
        _attribution_sample(inputs, members),
        _examples(inputs, result, details),
        n_steps=inputs.policy.text.attribution_steps,
        library=library,
        explains=f"the probability of {inputs.positive_label!r}",
    )


# --------------------------------------------------------------------------------- stage
def run_text(inputs: TextInputs) -> tuple[TextReport, list[str]]:
    """The text report and, per crashed part, one line for the stage's error record."""
    errors: list[str] = []
    seconds: dict[str, float] = {}
    policy = inputs.policy
    level, n_boot = policy.confidence_level, policy.n_boot
    clock = time.perf_counter()
    members = membership(inputs.texts, inputs.identity)
    seconds["identity"] = round(time.perf_counter() - clock, 3)
    details: list[SwapDetail] = []

    def run_counterfactual() -> CounterfactualResult:
        result, found = counterfactuals(
            inputs.texts,
            inputs.scores,
            inputs.scorer,
            inputs.model.tokenizer,
            inputs.identity,
            min_rows=policy.min_group_size,
            n_boot=n_boot,
            level=level,
            seed=policy.seed,
        )
        details.extend(found)
        return result

    skipped = CounterfactualResult(status="skipped")
    counterfactual = guarded("counterfactual", errors, skipped, run_counterfactual, seconds)
    templates = guarded(
        "templates",
        errors,
        TemplateResult(status="skipped"),
        lambda: template_probes(
            inputs.scorer,
            inputs.model.tokenizer,
            inputs.identity,
            n_boot=n_boot,
            level=level,
            seed=policy.seed,
        ),
        seconds,
    )
    aucs = guarded(
        "subgroup_auc",
        errors,
        SubgroupAucResult(status="skipped"),
        lambda: subgroup_aucs(
            inputs.scores,
            inputs.labels,
            inputs.identity,
            members,
            min_group_size=policy.min_group_size,
            n_boot=n_boot,
            level=level,
            seed=policy.seed,
        ),
        seconds,
    )
    pii = guarded(
        "pii",
        errors,
        TextPiiResult(status="skipped"),
        lambda: text_pii(
            inputs.frame,
            inputs.column,
            inputs.texts,
            inputs.scores,
            inputs.scorer,
            inputs.identity,
            sample_size=policy.text.pii_rows,
            n_boot=n_boot,
            level=level,
            seed=policy.seed,
        ),
        seconds,
    )
    attributions = guarded(
        "attributions",
        errors,
        AttributionResult(status="skipped"),
        lambda: _attributions(inputs, members, counterfactual, details),
        seconds,
    )
    report = TextReport(
        column=inputs.column,
        rows=len(inputs.texts),
        model=_model_info(inputs),
        performance=_performance(inputs),
        identity=_identity_summary(inputs, members),
        counterfactual=counterfactual,
        templates=templates,
        subgroup_auc=aucs,
        pii=pii,
        attributions=attributions,
        seconds=seconds,
    )
    return report, errors


def _is_text_audit(prepared: PreparedAudit) -> bool:
    model = prepared.model
    return model.text is not None and model.identity is not None and model.features is not None


class TextStage:
    """Identity-term counterfactuals, templated probes, subgroup AUCs, PII and attributions."""

    id = STAGE_ID
    required = False
    needs: tuple[Need, ...] = (
        Need(
            "a text model",
            _is_text_audit,
            "not a text audit: give --text-column with a text model (docs/text-models.md)",
        ),
    )

    def runs_model(self, prepared: PreparedAudit) -> bool:
        return True

    def run(self, prepared: PreparedAudit, reports: Mapping[str, object]) -> StageOutcome:
        data, model, settings = prepared.data, prepared.model, prepared.settings
        # The need above holds: a text model, its identity terms and its text column.
        assert model.text is not None and model.identity is not None and model.features
        report, errors = run_text(
            text_inputs(
                model.text,
                data.frame,
                model.features.columns[0],
                [str(value) for value in model.features.values[:, 0]],
                data.target.y,
                data.target.labels,
                data.target.positive_label,
                model.predictions,
                settings.threshold,
                settings.batch_size,
                model.identity,
                settings.policy,
            )
        )
        return StageOutcome(report, tuple(errors))

    def skipped(self, reason: str) -> None:
        return None
