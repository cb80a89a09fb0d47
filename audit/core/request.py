"""What to audit and how: the request every entry point (CLI, Python API) builds."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from audit.explain.sampling import DEFAULT_SAMPLES

Engine = Literal["local", "dask"]
# How to read a model's raw output; "auto" decides from its values.
OutputKind = Literal["auto", "logits", "probabilities"]


@dataclass(frozen=True)
class AuditRequest:
    """What to audit and how; every field has the CLI flag of the same name."""

    data: Path
    target: str
    sensitive: tuple[str, ...] = ()  # required unless text_column is set
    # A model file, or (Python API) a model object in this process: anything with
    # scikit-learn's predict_proba (or decision_function), or a function of the float32
    # feature batch returning scores (audit.models.in_process); it is not hashed.
    model: Path | object | None = None
    predictions: str | None = None
    scores: str | None = None
    features: tuple[str, ...] | None = None
    preprocessor: Path | None = None
    output_kind: OutputKind = "auto"
    threshold: float = 0.5
    positive_label: str | None = None
    # The model's class that means positive (e.g. "1"), when the model's classes are not the
    # target's values (e.g. a 0/1 model against '<=50K'/'>50K'); None: the class named like
    # the target's positive value.
    model_positive_class: str | None = None
    trust_model: bool = False
    device: str = "cpu"
    batch_size: int = 8192
    # Cores to compute on (torch, BLAS, explainer blocks); None: every core this process may
    # use (audit.core.threads.available_cores).
    threads: int | None = None
    bins: tuple[str, ...] = ()
    encoding: str = "utf-8"
    sep: str | None = None  # the CSV separator; None detects it from the first lines
    config_file: Path | None = None
    search_config: bool = True  # look for rai-audit.toml / pyproject.toml in the cwd
    policy_overrides: dict[str, Any] = field(default_factory=dict)
    command: tuple[str, ...] = ()
    # An earlier report.json: the gate then fails only on findings new since it or worse.
    baseline: Path | None = None
    # Privacy (docs/privacy.md): rows the model was trained on, rows it never saw, and the
    # dangerous pickle imports the user has checked and allows.
    train_data: Path | None = None
    holdout: Path | None = None
    allow_unsafe_imports: tuple[str, ...] = ()
    # Explanations (docs/explanations.md): off with --no-explain; rows explained.
    explain: bool = True
    explain_samples: int = DEFAULT_SAMPLES
    # The mitigation what-if (docs/what-if.md): per-group thresholds and, with train_data, a
    # reweighting estimate, measured by cross-fitting on the audited rows.
    what_if: bool = False
    # Text models (docs/text-models.md): the column holding the text (the model then reads
    # it and --sensitive becomes optional), and more identity term files.
    text_column: str | None = None
    identity_terms: tuple[Path, ...] = ()
    # Scale (docs/scale.md): read the data this many rows at a time (None reads it whole,
    # unless the data is a partitioned dataset or the engine is distributed), and the engine
    # that runs the per-partition work: "local" in this process, "dask" on a dask.distributed
    # cluster at ``scheduler`` (None starts a local cluster of ``workers`` processes).
    chunk_rows: int | None = None
    engine: Engine = "local"
    scheduler: str | None = None
    workers: int | None = None
    # Compute the New York City Local Law 144 pack (the ll144 format, docs/regulators.md);
    # its metadata and columns come from the policy's [ll144] section.
    ll144: bool = False

    def input_paths(self) -> list[Path]:
        return [
            path
            for path in (
                self.data,
                self.model if isinstance(self.model, Path) else None,
                self.preprocessor,
                self.config_file,
                self.baseline,
                self.train_data,
                self.holdout,
                *self.identity_terms,
            )
            if path
        ]
