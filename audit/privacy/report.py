"""The privacy part of a finished audit: frozen dataclasses that the JSON report serializes.

Nothing here holds a raw value from the data: PII appears only as a masked example.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from audit.core.status import MeasuredStatus, RunStatus

Confidence = Literal["high", "medium", "low"]


@dataclass(frozen=True)
class PiiDetection:
    column: str
    type: str  # "email", "national_id", "payment_card", ...
    scheme: str  # the knowledge-table entry: "email", "us_ssn", "iban", ...
    label: str  # in words: "US Social Security number"
    category: Literal["direct", "quasi", "special"]
    share: float  # share of sampled values that matched and validated
    sampled: int  # non-null values examined
    confidence: Confidence
    basis: Literal["name and values", "values", "name", "derived name", "text"]
    in_text: bool  # found inside free text rather than as the whole value
    masked_example: str | None
    model_input: bool
    sensitive: bool  # named with --sensitive


@dataclass(frozen=True)
class PiiScan:
    status: RunStatus
    reason: str | None = None
    rows: int = 0
    columns_scanned: int = 0
    sample_size: int = 0
    seed: int = 0
    validators: dict[str, str] = field(default_factory=dict)  # library -> version
    detections: tuple[PiiDetection, ...] = ()
    seconds: float = 0.0


@dataclass(frozen=True)
class AttackResult:
    attack: Literal["loss_threshold", "confidence_threshold"]
    auc: float | None
    ci: tuple[float, float] | None
    tpr_at_1pct_fpr: float | None
    tpr_at_1pct_fpr_ci: tuple[float, float] | None
    tpr_at_0_1pct_fpr: float | None
    tpr_at_0_1pct_fpr_ci: tuple[float, float] | None
    undefined: dict[str, str] = field(default_factory=dict)  # value -> why it has none


@dataclass(frozen=True)
class YeomAttack:
    """Yeom et al. (2018): a row is called a member when its loss is below the mean
    training loss; the advantage is TPR - FPR at that threshold."""

    threshold: float
    true_positive_rate: float
    false_positive_rate: float
    advantage: float


@dataclass(frozen=True)
class Generalization:
    train_accuracy: float
    holdout_accuracy: float
    accuracy_gap: float
    train_loss: float
    holdout_loss: float
    loss_gap: float


@dataclass(frozen=True)
class MembershipGroup:
    feature: tuple[str, ...]
    group: tuple[str, ...]
    members: int
    nonmembers: int
    status: MeasuredStatus
    auc: float | None
    ci: tuple[float, float] | None
    tpr_at_1pct_fpr: float | None
    accuracy_gap: float | None


@dataclass(frozen=True)
class MembershipResult:
    status: RunStatus
    reason: str | None = None
    members: int = 0
    nonmembers: int = 0
    nonmember_source: Literal["holdout", "audited data", "none"] = "none"
    attacks: tuple[AttackResult, ...] = ()
    yeom: YeomAttack | None = None
    generalization: Generalization | None = None
    groups: tuple[MembershipGroup, ...] = ()
    notes: tuple[str, ...] = ()
    seconds: float = 0.0


@dataclass(frozen=True)
class AttributeGroup:
    group: str
    n: int
    auc: float | None  # one group against the rest


@dataclass(frozen=True)
class AttributeInference:
    attribute: str
    status: MeasuredStatus
    reason: str | None
    rows: int
    classes: int
    auc: float | None  # macro one-vs-rest AUC of the cross-validated attack
    ci: tuple[float, float] | None
    chance_auc: float  # 0.5: a guess that ignores the model's output
    base_rate: float | None  # share of the largest group: accuracy of always guessing it
    attack_accuracy: float | None
    groups: tuple[AttributeGroup, ...] = ()


@dataclass(frozen=True)
class AttributeInferenceResult:
    status: RunStatus
    reason: str | None = None
    inputs: tuple[str, ...] = ()  # what the attack sees: "score" or "decision"
    attack_model: str = ""
    folds: int = 0
    rows: int = 0  # rows used (a seeded sample of large data)
    attributes: tuple[AttributeInference, ...] = ()
    seconds: float = 0.0


@dataclass(frozen=True)
class PickleImport:
    module: str
    name: str
    safety: Literal["dangerous", "suspicious", "innocuous"]
    allowed: bool  # named by --allow-unsafe-imports


@dataclass(frozen=True)
class ModelFileScan:
    file: str  # the model file's name, without its directory
    format: str  # "pickle", "joblib", "torch-pickle"
    scanned: bool
    scanner: str | None  # "picklescan 1.0.5"
    complete: bool  # the scanner read the whole file
    note: str | None
    imports: tuple[PickleImport, ...] = ()
    allowed_unsafe: tuple[str, ...] = ()  # dangerous imports loaded because they were named
    load_guard: bool = False  # every import was also checked while loading


@dataclass(frozen=True)
class PrivacyReport:
    pii: PiiScan
    membership: MembershipResult
    attribute_inference: AttributeInferenceResult
    model_file: ModelFileScan | None = None
