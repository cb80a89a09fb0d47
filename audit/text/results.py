"""The text part of a finished audit: frozen dataclasses serialized under the report's ``text``.

Scores are the model's positive-class probability. "Adverse" is the outcome that harms the
person a text speaks of (a negative review, a toxic label): ``model.adverse_decision`` says
whether that is the positive or the negative decision. Nothing here holds a raw PII value;
attribution examples hold the tokens of a few texts (see docs/text-models.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from audit.core.status import MeasuredStatus, RunStatus

Interval = tuple[float, float] | None


@dataclass(frozen=True)
class TextModelInfo:
    format: str
    input: str
    vocab_size: int
    max_length: int
    lowercase: bool
    positive_label: str
    adverse_label: str
    adverse_decision: Literal["positive", "negative"]
    truncated_rows: int  # texts with more tokens than max_length
    unknown_token_share: float  # share of the audited texts' tokens outside the vocabulary


@dataclass(frozen=True)
class Performance:
    rows: int
    positives: int
    accuracy: float
    roc_auc: float | None


@dataclass(frozen=True)
class GroupMention:
    category: str
    group: str
    label: str
    terms: int
    rows: int  # audited texts that mention the group
    share: float


@dataclass(frozen=True)
class IdentitySummary:
    sources: tuple[str, ...]
    rows_with_terms: int  # texts that mention any group
    categories: dict[str, str]  # category -> its label in words
    groups: tuple[GroupMention, ...]


@dataclass(frozen=True)
class SwapResult:
    """One term pair exchanged (``terms`` has both) or a whole pair of groups (empty)."""

    category: str
    groups: tuple[str, str]
    terms: tuple[str, ...]
    rows: int  # texts the swap changed
    oriented_rows: int  # texts with more terms of one side than the other: they set score_gap
    status: MeasuredStatus
    # Mean of score(text with the second side's terms) - score(text with the first side's).
    score_gap: float | None
    score_gap_ci: Interval
    mean_abs_change: float | None
    flip_rate: float | None  # share of changed texts whose decision flipped
    flip_rate_ci: Interval
    flips_to_adverse: int
    flips_from_adverse: int
    disfavoured: str | None  # the term (or group) whose version is judged more adversely
    in_vocabulary: tuple[bool, ...] = ()  # per term: every token of it is in the vocabulary


@dataclass(frozen=True)
class CategorySwaps:
    category: str
    perturbations: int  # (text, group swap) pairs scored
    mean_abs_change: float | None
    flip_rate: float | None


@dataclass(frozen=True)
class CounterfactualResult:
    status: RunStatus
    reason: str | None = None
    min_rows: int = 0
    rows_perturbed: int = 0
    sentences_scored: int = 0
    categories: tuple[CategorySwaps, ...] = ()
    group_swaps: tuple[SwapResult, ...] = ()
    pairs: tuple[SwapResult, ...] = ()


@dataclass(frozen=True)
class TermProbe:
    category: str
    group: str
    term: str
    in_vocabulary: bool
    templates: int
    mean_score: float
    false_adverse_rate: float  # neutral sentences judged adverse (Dixon et al.'s FPR)
    score_gap: float  # term's mean score minus its category's, paired by template
    score_gap_ci: Interval
    false_adverse_gap: float  # term's false adverse rate minus its category's
    false_adverse_gap_ci: Interval


@dataclass(frozen=True)
class CategoryProbe:
    category: str
    probe_kind: str
    terms: int
    templates: int
    mean_score: float
    false_adverse_rate: float
    # Dixon et al.'s false positive equality difference: sum over terms of
    # |category rate - term rate|, with "positive" read as adverse.
    false_adverse_equality_difference: float
    score_range: float  # highest minus lowest term mean score


@dataclass(frozen=True)
class TemplateResult:
    status: RunStatus
    reason: str | None = None
    sentences: int = 0
    categories: tuple[CategoryProbe, ...] = ()
    terms: tuple[TermProbe, ...] = ()


@dataclass(frozen=True)
class SubgroupAuc:
    category: str
    group: str
    n: int
    positives: int
    status: MeasuredStatus
    metrics: dict[str, float | None]  # subgroup_auc, bpsn_auc, bnsp_auc
    ci: dict[str, Interval]
    gap: dict[str, float | None]  # overall AUC minus the metric
    gap_ci: dict[str, Interval]
    undefined: dict[str, str] = field(default_factory=dict)  # metric -> why it has no value


@dataclass(frozen=True)
class SubgroupAucResult:
    status: RunStatus
    reason: str | None = None
    rows: int = 0
    overall_auc: float | None = None
    overall_ci: Interval = None
    groups: tuple[SubgroupAuc, ...] = ()


@dataclass(frozen=True)
class TextPiiDetection:
    type: str
    label: str
    share: float  # of the sampled texts
    sampled: int
    masked_example: str | None
    source: Literal["privacy scan", "first-name lists"]


@dataclass(frozen=True)
class PiiInsertion:
    type: str
    label: str
    texts: int  # audited texts that received the value
    sentences: int  # texts x insertion forms
    mean_change: float  # score with the inserted value minus without
    mean_change_ci: Interval
    mean_abs_change: float
    flip_rate: float
    flip_rate_ci: Interval
    flips_to_adverse: int


@dataclass(frozen=True)
class TextPiiResult:
    status: RunStatus
    reason: str | None = None
    scan_status: RunStatus = "skipped"
    scan_reason: str | None = None
    detections: tuple[TextPiiDetection, ...] = ()
    insertion_forms: tuple[str, ...] = ()
    insertions: tuple[PiiInsertion, ...] = ()


@dataclass(frozen=True)
class AttributedToken:
    token: str
    attribution: float
    known: bool  # in the vocabulary (else read as the unknown token)
    identity: bool  # part of an identity term


@dataclass(frozen=True)
class AttributedText:
    score: float
    tokens: tuple[AttributedToken, ...]


@dataclass(frozen=True)
class AttributionExample:
    category: str
    terms: tuple[str, str]
    score_change: float  # swapped minus original
    original: AttributedText
    swapped: AttributedText


@dataclass(frozen=True)
class TermAttribution:
    category: str
    group: str
    term: str
    occurrences: int
    mean_attribution: float  # summed over the term's tokens, averaged over occurrences
    mean_abs_share: float  # the term's |attribution| over its text's total |attribution|


@dataclass(frozen=True)
class AttributionResult:
    status: RunStatus
    reason: str | None = None
    method: str | None = None  # "layer_integrated_gradients" or "feature_ablation"
    library: str | None = None
    explains: str | None = None  # the quantity attributed
    baseline: str | None = None
    n_steps: int | None = None
    texts: int = 0
    mean_abs_delta: float | None = None  # completeness error (Integrated Gradients only)
    max_abs_delta: float | None = None
    notes: tuple[str, ...] = ()
    terms: tuple[TermAttribution, ...] = ()
    examples: tuple[AttributionExample, ...] = ()


@dataclass(frozen=True)
class TextReport:
    column: str
    rows: int
    model: TextModelInfo
    performance: Performance
    identity: IdentitySummary
    counterfactual: CounterfactualResult
    templates: TemplateResult
    subgroup_auc: SubgroupAucResult
    pii: TextPiiResult
    attributions: AttributionResult
    seconds: dict[str, float] = field(default_factory=dict)  # per part, for benchmarks
