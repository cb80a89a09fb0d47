"""The prepared audit: the request resolved once, which every stage and check reads.

Built by audit.core.prepare in one pass for both the in-memory and the streamed path. Nothing
below it reads the ``AuditRequest`` again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from audit.core.gate import Baseline
from audit.core.policy import Policy
from audit.core.progress import Progress
from audit.data.slices import Partition, Slice
from audit.data.table import ColumnCodes, SensitiveColumn, TableRows, Target
from audit.datafit.histograms import FitCounts
from audit.fairness.calibration import CalibrationTable
from audit.fairness.tables import AucSource
from audit.models.base import LoadedModel
from audit.models.features import FeatureMatrix, FeatureMetadata
from audit.models.scoring import Predictions
from audit.privacy.membership import Scored
from audit.text.identity import IdentityTerms
from audit.text.model import TextModel


@dataclass(frozen=True)
class AuditSettings:
    """How to audit: the policy and the flags that stages read."""

    policy: Policy
    config_file: Path | None
    baseline: Baseline | None
    threads: int
    progress: Progress | None
    command: tuple[str, ...]
    threshold: float
    batch_size: int
    explain: bool  # False with --no-explain
    explain_samples: int
    what_if: bool = False  # --what-if: the mitigation what-if (audit.mitigation)
    ll144: bool = False  # compute the Local Law 144 pack (--format ll144)


@dataclass(frozen=True)
class AuditedData:
    """The audited data.

    The row-level fields hold every row, or a streamed audit's sample; ``cell_counts``,
    ``auc`` and ``calibration`` always describe every row.
    """

    file: Path  # as given: a file, or a folder of partitions
    files: tuple[Path, ...]  # the data file, or the partitions read
    rows: int
    columns: int
    frame: pd.DataFrame
    codes: ColumnCodes  # the factorization of each of ``frame``'s columns, shared
    target_column: str
    target: Target
    sensitive_columns: tuple[str, ...]  # as given, in order
    sensitive: tuple[SensitiveColumn, ...]
    bins: dict[str, list[float]]
    fine: Partition  # cells of the whole data; ``cell_of_row`` of these rows
    slices: tuple[Slice, ...]
    cell_counts: np.ndarray  # int64 [cells, 4]
    auc: AucSource
    calibration: CalibrationTable | None  # None: decisions only
    members: TableRows | None  # --train-data
    holdout: TableRows | None  # --holdout
    # Every row's bins against the training data, and confident scores, counted when the
    # data-fit stage asks: an audit without it does not count them. A streamed audit counted
    # them while reading.
    fit: Callable[[], FitCounts]
    notes: tuple[str, ...] = ()
    # A streamed audit: the row-level fields hold its seeded stratified sample, not every row.
    sampled: bool = False


@dataclass(frozen=True)
class AuditedModel:
    """The model (absent when the audit reads decisions) and what it gave on the data."""

    file: Path | None
    loaded: LoadedModel | None
    metadata: FeatureMetadata | None
    text: TextModel | None  # a text model, read through --text-column
    identity: IdentityTerms | None  # the identity terms of a text audit
    predictions: Predictions
    features: FeatureMatrix | None  # the model's input for the audited rows
    report_features: FeatureMatrix | None  # columns, source and unseen values of all rows
    # Scores another table (training rows, a holdout) exactly as the audited data.
    score_rows: Callable[[TableRows], Scored]


@dataclass(frozen=True)
class PreparedAudit:
    settings: AuditSettings
    data: AuditedData
    model: AuditedModel

    @property
    def policy(self) -> Policy:
        return self.settings.policy
