"""The explanation stage's results: frozen aggregates that the report serializes and checks read.

Everything here is an aggregate over explained rows (means, shares, counts): never a row's
attributions or values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from audit.core.status import RunStatus

# The attribution methods, in the order a finding prefers them: SHAP applies to every model,
# so it is the primary evidence when it ran; Captum's methods corroborate it.
METHOD_ORDER = ("shap", "integrated_gradients", "gradient_shap")
CAPTUM_METHODS = ("integrated_gradients", "gradient_shap")


@dataclass(frozen=True)
class ColumnImportance:
    """Mean |attribution| of one table column over the explained rows."""

    column: str
    value: float  # mean |attribution| in probability units, weighted to the data's group mix
    ci: tuple[float, float] | None
    share: float  # value over the sum of every column's value
    share_ci: tuple[float, float] | None
    inputs: int  # how many model inputs encode this column (one-hot width)


@dataclass(frozen=True)
class GroupImportance:
    feature: tuple[str, ...]
    group: tuple[str, ...]
    n: int  # rows explained in this group
    importance: dict[str, float]  # column -> mean |attribution| in this group
    share: dict[str, float]  # column -> its share of the group's total


@dataclass(frozen=True)
class ImportanceShift:
    """The largest difference in one column's share of attribution between two groups."""

    feature: tuple[str, ...]
    column: str
    groups: tuple[tuple[str, ...], tuple[str, ...]]  # (lower share, higher share)
    shares: tuple[float, float]
    difference: float


@dataclass(frozen=True)
class Completeness:
    """How far attributions fall short of summing to f(x) - f(reference), per row."""

    reference: str  # what the attributions are relative to, in words
    mean_abs_error: float
    relative_error: float | None  # mean abs error over mean |f(x) - f(reference)|
    judged: bool  # False where the method only completes in expectation (GradientShap)


@dataclass(frozen=True)
class CopyImportance:
    """The attribution an encoded copy's columns carry together (their shares summed)."""

    attribute: str
    columns: tuple[str, ...]
    value: float  # the columns' mean |attribution| summed
    share: float
    share_ci: tuple[float, float] | None  # from the same bootstrap replicates as the columns'


@dataclass(frozen=True)
class MethodResult:
    method: str
    status: RunStatus
    reason: str | None = None
    library: str | None = None  # e.g. "shap 0.51.0"
    rows: int = 0
    seconds: float | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    global_importance: tuple[ColumnImportance, ...] = ()
    groups: tuple[GroupImportance, ...] = ()
    shifts: tuple[ImportanceShift, ...] = ()
    completeness: Completeness | None = None
    encoded_copies: tuple[CopyImportance, ...] = ()  # one per Explanations.encoded_copies

    def importance_of(self, column: str) -> ColumnImportance | None:
        return next((item for item in self.global_importance if item.column == column), None)

    def copy_importance_of(self, copy: EncodedCopy) -> CopyImportance | None:
        return next(
            (
                item
                for item in self.encoded_copies
                if (item.attribute, item.columns) == (copy.attribute, copy.columns)
            ),
            None,
        )


@dataclass(frozen=True)
class Agreement:
    """Spearman rank correlation of two methods' global importance over the columns."""

    methods: tuple[str, str]
    spearman: float | None
    columns: int
    undefined: str | None = None


@dataclass(frozen=True)
class Association:
    """How strongly an input column tracks a sensitive attribute, in the whole data."""

    column: str
    attribute: str
    measure: str  # "cramers_v" (categorical column) or "correlation_ratio" (numeric column)
    value: float | None  # in [0, 1]
    mutual_information: float | None  # nats
    n: int
    undefined: str | None = None


@dataclass(frozen=True)
class EncodedCopy:
    """Input columns that carry a sensitive attribute under another name, almost exactly.

    One column whose association with the attribute passes ``explain_encoded_copy`` (an
    integer code of sex, say), or a set of two-valued columns (one-hot indicators) whose joint
    values determine it. Using it is direct use of the attribute, not a proxy.
    """

    attribute: str
    columns: tuple[str, ...]  # in the order of the model's inputs
    # "correlation_ratio" or "cramers_v" of one column, as in associations; "cramers_v" of the
    # joint values of several (they are read as the one categorical column they encode).
    measure: str
    value: float
    group_code_share: float  # rows that carry their own group's code (1.0: an exact mapping)
    codes: dict[str, tuple[str, ...]]  # group -> its most common value in each column, as text
    n: int


@dataclass(frozen=True)
class Flip:
    """Counterfactual flip: rows of one group given another group's value, all else fixed."""

    attribute: str
    from_group: str
    to_group: str
    value: str  # the value written, as text; "column=value, ..." when not only the attribute
    columns: tuple[str, ...]  # the columns written: the attribute's own and its encoded copies
    n: int
    changed: int  # decisions that change
    changed_share: float | None
    ci: tuple[float, float] | None
    to_positive: int
    to_negative: int
    mean_score_change: float | None
    mean_abs_score_change: float | None
    undefined: str | None = None


@dataclass(frozen=True)
class GroupCount:
    feature: tuple[str, ...]
    group: tuple[str, ...]
    rows: int  # rows in the data
    explained: int  # rows in the explained sample


@dataclass(frozen=True)
class Sample:
    requested: int
    rows: int
    background: int
    groups: tuple[GroupCount, ...]


@dataclass(frozen=True)
class Explanations:
    status: RunStatus
    reason: str | None = None
    explained: str | None = None  # the quantity explained, in words
    sample: Sample | None = None
    columns: tuple[str, ...] = ()  # table columns the attributions are summed to
    sensitive_inputs: tuple[str, ...] = ()  # sensitive columns that are model inputs
    methods: dict[str, MethodResult] = field(default_factory=dict)
    agreement: tuple[Agreement, ...] = ()
    associations: tuple[Association, ...] = ()
    encoded_copies: tuple[EncodedCopy, ...] = ()
    flips: tuple[Flip, ...] = ()
    flip_skipped: dict[str, str] = field(default_factory=dict)  # attribute -> why not flipped
    notes: tuple[str, ...] = ()

    def primary(self) -> MethodResult | None:
        """The method whose importance findings quote: the first in METHOD_ORDER that ran."""
        for name in METHOD_ORDER:
            method = self.methods.get(name)
            if method is not None and method.status == "ok":
                return method
        return None

    def ran(self) -> tuple[MethodResult, ...]:
        return tuple(method for method in self.methods.values() if method.status == "ok")
