"""The ``rai-audit`` command: it parses options, runs the API and prints what
reports.terminal renders; the only place that exits.

Exit codes of ``run``: 0 gate passed, 1 gate failed, 2 usage or input error, 3 audit
incomplete. Of ``diff``: 0 nothing got worse, 1 something did, 2 a report cannot be read.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from typer.core import TyperCommand

from audit.cli_progress import RowsProgress
from audit.core.collector import fewer_collections, freeze_for_exit
from audit.core.compare import compare as compare_reports  # `run` has a --compare option
from audit.core.compare import diff_json, load_report
from audit.core.errors import OutputError, RaiAuditError, UsageError
from audit.core.output import atomic_write, check_output_dir, write_outputs
from audit.core.request import AuditRequest, Engine
from audit.core.trail import source_date_epoch
from audit.explain.sampling import DEFAULT_SAMPLES
from reports import available_formatters, render
from reports.terminal import render_diff, render_summary

EXIT_PASSED, EXIT_FAILED, EXIT_INPUT, EXIT_INCOMPLETE = 0, 1, 2, 3

app = typer.Typer(
    name="rai-audit",
    help="Audit a trained classifier for group fairness, with a CI gate.",
    add_completion=False,
    no_args_is_help=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)
out_console = Console(soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)

RUN_EPILOG = """Examples:

  rai-audit run model.pt data.csv --target income --sensitive sex,race --out audit-out/

  rai-audit run data.csv --predictions decision --scores score --target label --sensitive sex

  rai-audit run model.skops data.parquet --target y --sensitive age --bins age=25,45,65

  rai-audit run model.pt data.csv --target y --sensitive sex --baseline main/report.json

  rai-audit run model.pt test.csv --target y --sensitive sex --train-data train.csv

  rai-audit run examples/sentiment/model.pt examples/sentiment/test.csv.gz --text-column text --target label

Exit codes: 0 gate passed, 1 gate failed, 2 usage or input error, 3 audit incomplete
(a check crashed). Thresholds and the gate are configured in rai-audit.toml or
[tool.rai-audit] in pyproject.toml; see docs/configuration.md."""

# The panels of --help.
MODEL, DATA, POLICY, OUTPUTS, ENGINE = "Model", "Data", "Policy", "Outputs", "Engine"


class PanelledCommand(TyperCommand):
    """Click's plain help, each option under the heading of its ``rich_help_panel``.

    Typer draws panels only as rich help, which cuts long option names short on an 80-column
    terminal, reads brackets in help text as markup and boxes usage errors.
    """

    # click's Context and HelpFormatter: typer vendors click in recent versions and does not
    # export these types.
    def format_options(self, ctx: Any, formatter: Any) -> None:
        sections: dict[str, list[tuple[str, str]]] = {}
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is not None:
                plain = "Arguments" if param.param_type_name == "argument" else "Options"
                heading = getattr(param, "rich_help_panel", None) or plain
                sections.setdefault(heading, []).append(record)
        for heading, records in sections.items():
            with formatter.section(heading):
                formatter.write_dl(records)


# Options that run and diff share.
Debug = Annotated[
    bool, typer.Option(help="Show the traceback of an error.", rich_help_panel=OUTPUTS)
]

# A value quoted in an error (a cell, a header) is cut to this many characters around "…".
LONGEST_WORD = 120


def one_line(message: str) -> str:
    """An error message as one line of bounded length: a 50 MB cell quoted in it would flood
    the terminal and the CI log, and a newline would break the one-line promise."""
    words = message.replace("\r", " ").replace("\n", " ").split(" ")
    keep = LONGEST_WORD // 2
    return " ".join(
        word
        if len(word) <= LONGEST_WORD
        else f"{word[:keep]}…({len(word) - 2 * keep:,} characters)…{word[-keep:]}"
        for word in words
    )


def _split(values: list[str] | None) -> list[str]:
    """Comma-separated and repeated options alike: --sensitive sex,race or --sensitive sex."""
    return [item.strip() for value in values or [] for item in value.split(",") if item.strip()]


def _pairs(values: list[str] | None, flag: str) -> dict[str, str]:
    pairs = {}
    for value in values or []:
        key, sep, text = value.partition("=")
        if not sep or not key.strip() or not text.strip():
            raise UsageError(
                f"{flag} {value!r}: expected NAME=VALUE, e.g. {flag} demographic_parity_ratio=0.9"
            )
        pairs[key.strip()] = text.strip()
    return pairs


def _float(text: str, flag: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise UsageError(f"{flag}: {text!r} is not a number") from None


# Options that override the policy file's key of the same name.
POLICY_KEYS = (
    "min_group_size",
    "max_intersection",
    "fail_on",
    "require_significance",
    "n_boot",
    "seed",
    "confidence_level",
    "compare",
)


# Options that set the [ll144] key of the same name (the ll144 pack's, docs/regulators.md).
LL144_KEYS = {
    "audit_date": "audit_date",
    "tool_name": "tool_name",
    "tool_version": "tool_version",
    "distribution_date": "distribution_date",
    "data_source": "data_source",
    "data_kind": "data_kind",
    "ll144_mode": "mode",
}


def _overrides(option: Mapping[str, Any]) -> dict[str, Any]:
    overrides = {key: option[key] for key in POLICY_KEYS if option[key] is not None}
    ll144 = {key: option[name] for name, key in LL144_KEYS.items() if option[name] is not None}
    if ll144:
        overrides["ll144"] = ll144
    if option["reference"]:
        overrides["reference_groups"] = _pairs(option["reference"], "--reference")
    thresholds: dict[str, dict[str, float]] = {}
    for flag, side, name in (("--min", "min", "minimum"), ("--max", "max", "maximum")):
        for metric, text in _pairs(option[name], flag).items():
            thresholds[metric] = {side: _float(text, flag)}
    if thresholds:
        overrides["thresholds"] = thresholds
    return overrides


def _request(option: Mapping[str, Any]) -> AuditRequest:
    """The audit that ``run``'s parsed options, keyed by parameter name, ask for."""
    paths = option["paths"]
    if len(paths) > 2:
        raise UsageError(
            f"expected [MODEL] DATA, got {len(paths)} paths: "
            f"{' '.join(map(str, paths))}; quote paths that contain spaces"
        )
    model, data = (paths[0], paths[1]) if len(paths) == 2 else (None, paths[0])
    if option["output_kind"] not in ("auto", "logits", "probabilities"):
        raise UsageError(
            f"--output-kind {option['output_kind']!r}: use auto, logits or probabilities"
        )
    return AuditRequest(
        data=data,
        model=model,
        target=option["target"],
        sensitive=tuple(_split(option["sensitive"])),
        predictions=option["predictions"],
        scores=option["scores"],
        features=tuple(_split(option["features"])) if option["features"] else None,
        preprocessor=option["preprocessor"],
        output_kind=option["output_kind"],
        threshold=option["threshold"],
        positive_label=option["positive_label"],
        model_positive_class=option["model_positive_class"],
        trust_model=option["trust_model"],
        device=option["device"],
        batch_size=option["batch_size"],
        threads=option["threads"],
        chunk_rows=option["chunk_rows"],
        engine=_engine(option["engine"]),
        scheduler=option["scheduler"],
        workers=option["workers"],
        bins=tuple(option["bins"] or ()),
        encoding=option["encoding"],
        sep=_separator(option["sep"]),
        config_file=option["config"],
        policy_overrides=_overrides(option),
        command=("rai-audit", *sys.argv[1:]),
        baseline=option["baseline"],
        train_data=option["train_data"],
        holdout=option["holdout"],
        allow_unsafe_imports=tuple(_split(option["allow_unsafe_imports"])),
        explain=option["explain"],
        explain_samples=option["explain_samples"],
        what_if=option["what_if"],
        text_column=option["text_column"],
        identity_terms=tuple(option["identity_terms"] or ()),
        ll144="ll144" in _formats(option["output_format"]),
    )


def _separator(text: str | None) -> str | None:
    """--sep as typed: one character, or a name for the one a shell makes awkward."""
    return {"tab": "\t", "\\t": "\t"}.get(text.lower(), text) if text is not None else None


def _engine(name: str) -> Engine:
    if name not in ("local", "dask"):
        raise UsageError(f"--engine {name!r}: use local or dask")
    return "local" if name == "local" else "dask"


def _formats(text: str) -> list[str]:
    known = sorted(available_formatters())
    formats = list(dict.fromkeys(item.strip().lower() for item in text.split(",") if item.strip()))
    unknown = [name for name in formats if name not in known]
    if not formats or unknown:
        shown = repr(unknown[0]) if unknown else "empty"
        raise UsageError(f"--format {shown} is not an output; known formats: {', '.join(known)}")
    return formats


@contextmanager
def _errors_exit(debug: bool) -> Iterator[None]:
    """A ``RaiAuditError`` as one line on standard error and its exit code; with --debug it
    propagates, and main() prints its traceback."""
    try:
        yield
    except RaiAuditError as error:
        if debug:
            raise
        err_console.print(f"rai-audit: error: {one_line(str(error))}", markup=False)
        raise typer.Exit(error.exit_code) from None


@app.command(cls=PanelledCommand, epilog=RUN_EPILOG)
def run(
    paths: Annotated[
        list[Path],
        typer.Argument(
            metavar="[MODEL] DATA",
            help="Model file (.pt TorchScript, .pt2, .skops; pickles need --trust-model) or MLflow model directory, then the data file (.csv, .csv.gz, .parquet). With --predictions, only the data file.",
            show_default=False,
        ),
    ],
    predictions: Annotated[
        str | None,
        typer.Option(
            help="Audit decisions already in the data (no model), e.g. --predictions approved.",
            rich_help_panel=MODEL,
        ),
    ] = None,
    scores: Annotated[
        str | None,
        typer.Option(
            help="With --predictions: a score column for ROC AUC and calibration error, "
            "e.g. --scores risk.",
            rich_help_panel=MODEL,
        ),
    ] = None,
    features: Annotated[
        list[str] | None,
        typer.Option(
            "--features",
            help="Numeric model inputs in model order, e.g. --features age,hours. Default: the model's embedded metadata, else every numeric non-target, non-sensitive column.",
            rich_help_panel=MODEL,
        ),
    ] = None,
    preprocessor: Annotated[
        Path | None,
        typer.Option(
            help="A fitted scikit-learn transformer saved with skops, applied to the data, e.g. --preprocessor prep.skops.",
            rich_help_panel=MODEL,
        ),
    ] = None,
    output_kind: Annotated[
        str,
        typer.Option(
            help="How to read the model's output: auto, logits or probabilities, e.g. --output-kind logits.",
            rich_help_panel=MODEL,
        ),
    ] = "auto",
    threshold: Annotated[
        float,
        typer.Option(
            help="Positive-class probability at or above which the decision is positive, e.g. --threshold 0.6.",
            rich_help_panel=MODEL,
        ),
    ] = 0.5,
    trust_model: Annotated[
        bool,
        typer.Option(
            help="Allow loading a pickled model (.pkl, .joblib, torch.save): it runs the file's code. Recorded in the report.",
            rich_help_panel=MODEL,
        ),
    ] = False,
    allow_unsafe_imports: Annotated[
        list[str] | None,
        typer.Option(
            "--allow-unsafe-imports",
            help="With --trust-model: dangerous imports found in the pickle that you have checked and allow, comma-separated MODULE.NAME, e.g. --allow-unsafe-imports functools.partial. Without it such a file is refused. See docs/privacy.md.",
            rich_help_panel=MODEL,
        ),
    ] = None,
    explain: Annotated[
        bool,
        typer.Option(
            "--explain/--no-explain",
            help="Explain the model with SHAP and Captum (direct use, proxies, counterfactual flip); --no-explain skips it. See docs/explanations.md.",
            rich_help_panel=MODEL,
        ),
    ] = True,
    explain_samples: Annotated[
        int,
        typer.Option(
            help=f"Rows to explain, stratified so every group is represented (default {DEFAULT_SAMPLES}), e.g. --explain-samples 1000.",
            rich_help_panel=MODEL,
        ),
    ] = DEFAULT_SAMPLES,
    what_if: Annotated[
        bool,
        typer.Option(
            "--what-if",
            help="Mitigation what-if: accuracy, selection rates and disparities under per-group thresholds (Fairlearn's ThresholdOptimizer) and, with --train-data, a reweighting estimate, cross-fitted on the data with intervals. Evidence of the achievable trade-off, not advice to deploy. See docs/what-if.md.",
            rich_help_panel=MODEL,
        ),
    ] = False,
    target: Annotated[
        str,
        typer.Option(
            "--target",
            "-t",
            help="Column with the true label, e.g. --target income.",
            rich_help_panel=DATA,
        ),
    ] = ...,  # type: ignore[assignment]
    sensitive: Annotated[
        list[str] | None,
        typer.Option(
            "--sensitive",
            "-s",
            help="Sensitive columns, comma-separated or repeated, e.g. --sensitive sex,race. Optional with --text-column, whose groups come from identity terms.",
            rich_help_panel=DATA,
        ),
    ] = None,
    positive_label: Annotated[
        str | None,
        typer.Option(
            help="The target's positive class, e.g. --positive-label '>50K'. Inferred for 0/1, yes/no, true/false.",
            rich_help_panel=DATA,
        ),
    ] = None,
    model_positive_class: Annotated[
        str | None,
        typer.Option(
            help="The model's class that means positive, when the model's classes are not the "
            "target's values, e.g. a model trained on 0/1 against '<=50K'/'>50K' takes "
            "--positive-label '>50K' --model-positive-class 1.",
            rich_help_panel=DATA,
        ),
    ] = None,
    train_data: Annotated[
        Path | None,
        typer.Option(
            help="Rows the model was trained on (same columns as the data): runs membership inference against the audited data, or against --holdout, e.g. --train-data train.csv. See docs/privacy.md.",
            rich_help_panel=DATA,
        ),
    ] = None,
    holdout: Annotated[
        Path | None,
        typer.Option(
            help="With --train-data: rows the model never saw, used as the non-members of membership inference instead of the audited data, e.g. --holdout holdout.csv.",
            rich_help_panel=DATA,
        ),
    ] = None,
    text_column: Annotated[
        str | None,
        typer.Option(
            help="Audit a text model (TorchScript with its tokenizer, or a Hugging Face save_pretrained folder; see docs/text-models.md) on this column: identity-term counterfactuals, templated probes, subgroup AUCs, PII in text, token attributions, e.g. --text-column review.",
            rich_help_panel=DATA,
        ),
    ] = None,
    identity_terms: Annotated[
        list[Path] | None,
        typer.Option(
            help="With --text-column: a TOML file that extends or adds identity terms, templates and swap pairs (repeatable), e.g. --identity-terms my-terms.toml. See docs/text-models.md.",
            rich_help_panel=DATA,
        ),
    ] = None,
    bins: Annotated[
        list[str] | None,
        typer.Option(
            "--bins",
            help="Band a numeric sensitive column, e.g. --bins age=18,25,45,65 (repeatable). Default: quantile bands.",
            rich_help_panel=DATA,
        ),
    ] = None,
    encoding: Annotated[
        str,
        typer.Option(help="Text encoding of a CSV, e.g. --encoding latin-1.", rich_help_panel=DATA),
    ] = "utf-8",
    sep: Annotated[
        str | None,
        typer.Option(
            help="Separator of a CSV: one character, or tab, e.g. --sep ';'. Default: detected from the first lines (, ; tab |).",
            rich_help_panel=DATA,
        ),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(
            help="Policy file (rai-audit.toml or a pyproject.toml), e.g. --config ci/rai-audit.toml. Default: ./rai-audit.toml, else [tool.rai-audit] in ./pyproject.toml.",
            rich_help_panel=POLICY,
        ),
    ] = None,
    min_group_size: Annotated[
        int | None,
        typer.Option(
            help="Groups smaller than this get no metrics (default 30), e.g. --min-group-size 50.",
            rich_help_panel=POLICY,
        ),
    ] = None,
    max_intersection: Annotated[
        int | None,
        typer.Option(
            help="Largest intersection of sensitive features (default 2; 1 turns intersections off), e.g. --max-intersection 3.",
            rich_help_panel=POLICY,
        ),
    ] = None,
    reference: Annotated[
        list[str] | None,
        typer.Option(
            help="Reference group per feature, e.g. --reference sex=Male (default: the largest group).",
            rich_help_panel=POLICY,
        ),
    ] = None,
    compare: Annotated[
        str | None,
        typer.Option(
            help="Which disparity the checks judge: between_groups (default) or reference, e.g. --compare reference.",
            rich_help_panel=POLICY,
        ),
    ] = None,
    minimum: Annotated[
        list[str] | None,
        typer.Option(
            "--min",
            help="Lower bound for a metric, e.g. --min demographic_parity_ratio=0.9.",
            rich_help_panel=POLICY,
        ),
    ] = None,
    maximum: Annotated[
        list[str] | None,
        typer.Option(
            "--max",
            help="Upper bound for a metric, e.g. --max equalized_odds_difference=0.05.",
            rich_help_panel=POLICY,
        ),
    ] = None,
    fail_on: Annotated[
        str | None,
        typer.Option(
            help="Lowest severity that fails the gate: info, low, medium (default), high, critical, e.g. --fail-on high.",
            rich_help_panel=POLICY,
        ),
    ] = None,
    require_significance: Annotated[
        bool | None,
        typer.Option(
            "--require-significance/--no-require-significance",
            help="Fail the gate only on violations whose interval clears the threshold.",
            show_default=False,
            rich_help_panel=POLICY,
        ),
    ] = None,
    n_boot: Annotated[
        int | None,
        typer.Option(
            help="Bootstrap replicates per interval (default 1000; 0 for none), e.g. --n-boot 200.",
            rich_help_panel=POLICY,
        ),
    ] = None,
    seed: Annotated[
        int | None,
        typer.Option(
            help="Seed of every random step (default 0), e.g. --seed 7.", rich_help_panel=POLICY
        ),
    ] = None,
    confidence_level: Annotated[
        float | None,
        typer.Option(
            help="Interval level (default 0.95), e.g. --confidence-level 0.9.",
            rich_help_panel=POLICY,
        ),
    ] = None,
    baseline: Annotated[
        Path | None,
        typer.Option(
            help="An earlier run's report.json: the gate then fails only on findings at or above fail_on that are new since it or more severe than in it, e.g. --baseline main/report.json. See docs/diff.md.",
            rich_help_panel=POLICY,
        ),
    ] = None,
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            "-o",
            help="Directory for report.<format> files, e.g. --out audit-out/.",
            rich_help_panel=OUTPUTS,
        ),
    ] = Path("audit-out"),
    output_format: Annotated[
        str,
        typer.Option(
            "--format",
            "-f",
            help="Comma-separated outputs, e.g. --format json,html.",
            rich_help_panel=OUTPUTS,
        ),
    ] = "json,html",
    audit_date: Annotated[
        str | None,
        typer.Option(
            help="With --format ll144: the date of the bias audit, e.g. --audit-date "
            "2026-12-01. Policy: [ll144] audit_date. See docs/regulators.md.",
            rich_help_panel=OUTPUTS,
        ),
    ] = None,
    tool_name: Annotated[
        str | None,
        typer.Option(
            help="With --format ll144: the automated employment decision tool audited, e.g. "
            "--tool-name 'Resume Screen'. Policy: [ll144] tool_name.",
            rich_help_panel=OUTPUTS,
        ),
    ] = None,
    tool_version: Annotated[
        str | None,
        typer.Option(
            help="With --format ll144: the tool's version, e.g. --tool-version 3.1. Policy: "
            "[ll144] tool_version.",
            rich_help_panel=OUTPUTS,
        ),
    ] = None,
    distribution_date: Annotated[
        str | None,
        typer.Option(
            help="With --format ll144: when the tool was first distributed, e.g. "
            "--distribution-date 2025-06-01. Policy: [ll144] distribution_date.",
            rich_help_panel=OUTPUTS,
        ),
    ] = None,
    data_source: Annotated[
        str | None,
        typer.Option(
            help="With --format ll144: where the audited data comes from, e.g. --data-source "
            "'ATS export 2025'. Policy: [ll144] data_source.",
            rich_help_panel=OUTPUTS,
        ),
    ] = None,
    data_kind: Annotated[
        str | None,
        typer.Option(
            help="With --format ll144: historical (the tool's real use) or test data, e.g. "
            "--data-kind historical. Policy: [ll144] data_kind.",
            rich_help_panel=OUTPUTS,
        ),
    ] = None,
    ll144_mode: Annotated[
        str | None,
        typer.Option(
            help="With --format ll144: selection (the decision selects; default) or scoring "
            "(a score above the median counts), e.g. --ll144-mode scoring. Policy: [ll144] mode.",
            rich_help_panel=OUTPUTS,
        ),
    ] = None,
    progress: Annotated[
        bool | None,
        typer.Option(
            "--progress/--no-progress",
            help="Show a progress bar (rows done, rate, time left) while a streamed audit "
            "reads its data, e.g. --no-progress in a CI log. Default: when the error stream "
            "is a terminal.",
            show_default=False,
            rich_help_panel=OUTPUTS,
        ),
    ] = None,
    quiet: Annotated[
        bool,
        typer.Option(
            "--quiet", "-q", help="Print only errors and the gate verdict.", rich_help_panel=OUTPUTS
        ),
    ] = False,
    debug: Annotated[
        bool, typer.Option(help="Show the traceback of an error.", rich_help_panel=OUTPUTS)
    ] = False,
    device: Annotated[
        str,
        typer.Option(
            help="Torch device for inference, e.g. --device cuda:0.", rich_help_panel=ENGINE
        ),
    ] = "cpu",
    batch_size: Annotated[
        int,
        typer.Option(
            help="Rows per inference batch, e.g. --batch-size 4096.", rich_help_panel=ENGINE
        ),
    ] = 8192,
    threads: Annotated[
        int | None,
        typer.Option(
            help="Cores to compute on: torch, BLAS and the explainers share them, e.g. "
            "--threads 2. Default: every core this process may use.",
            rich_help_panel=ENGINE,
        ),
    ] = None,
    chunk_rows: Annotated[
        int | None,
        typer.Option(
            help="Stream the data this many rows at a time, in memory bounded by the chunk, "
            "e.g. --chunk-rows 200000 (docs/scale.md). A directory or glob of partition files, "
            "or --engine dask, streams at 200000 rows unless this says otherwise.",
            rich_help_panel=ENGINE,
        ),
    ] = None,
    engine: Annotated[
        str,
        typer.Option(
            help="Where the per-partition work runs: local (this process) or dask (a "
            "dask.distributed cluster: --scheduler ADDRESS, or a local cluster of --workers "
            "processes), e.g. --engine dask. Needs rai-audit[dask]. See docs/scale.md.",
            rich_help_panel=ENGINE,
        ),
    ] = "local",
    scheduler: Annotated[
        str | None,
        typer.Option(
            help="With --engine dask: the scheduler of a running cluster, e.g. --scheduler "
            "tcp://10.0.0.5:8786. Without it a local cluster is started.",
            rich_help_panel=ENGINE,
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            help="With --engine dask and no --scheduler: worker processes of the local "
            "cluster, e.g. --workers 4. Default: one per CPU core.",
            rich_help_panel=ENGINE,
        ),
    ] = None,
) -> None:
    """Audit a classifier (or its decisions) on data sliced by sensitive attributes."""
    with _errors_exit(debug):
        # Before any other name is bound, locals() holds just the parsed options.
        request = _request(locals())
        formats = _formats(output_format)
        check_output_dir(out, request.input_paths())
        show_progress = not quiet and (err_console.is_terminal if progress is None else progress)
        # Checked before the engine loads: numpy reads SOURCE_DATE_EPOCH when it is imported
        # and fails with a traceback on a malformed value.
        source_date_epoch()
        # The engine (torch, scikit-learn, Fairlearn) loads only for an audit, so that
        # `version`, `diff` and `--help` answer at once.
        from audit.api import run_audit

        with RowsProgress(err_console, enabled=show_progress) as bar:
            result = run_audit(request, progress=bar)
        comparison = None
        if baseline is not None and not quiet:
            # run_audit gated on the baseline; reading it again here gives the summary its
            # counts and warnings.
            loaded = load_report(baseline)
            comparison = compare_reports(loaded.document, result, baseline_file=loaded.file)
        written = write_outputs(out, render(result, formats), request.input_paths())
    if quiet:
        out_console.print("Gate passed." if result.gate.passed else "Gate failed.", markup=False)
    else:
        render_summary(out_console, result, written, comparison)
    if result.incomplete:
        err_console.print(
            "rai-audit: audit incomplete: a check crashed (see the report's checks)", markup=False
        )
        raise typer.Exit(EXIT_INCOMPLETE)
    raise typer.Exit(EXIT_PASSED if result.gate.passed else EXIT_FAILED)


DIFF_EPILOG = """Examples:

  rai-audit diff main/report.json audit-out/report.json

  rai-audit diff main/report.json audit-out/report.json --format json --out diff.json

Findings match by fingerprint (check, slice and metric). A metric changed when each run's
estimate lies outside the other run's interval. Exit codes: 0 nothing got worse, 1 something
did (a new or worsened finding at or above the current policy's fail_on, or a disparity worse
beyond the intervals), 2 a report cannot be read or is not a valid report. See docs/diff.md."""


@app.command(cls=PanelledCommand, epilog=DIFF_EPILOG)
def diff(
    baseline: Annotated[
        Path,
        typer.Argument(
            metavar="BASELINE", help="The earlier run's report.json.", show_default=False
        ),
    ],
    current: Annotated[
        Path,
        typer.Argument(metavar="CURRENT", help="The later run's report.json.", show_default=False),
    ],
    output_format: Annotated[
        str,
        typer.Option(
            "--format",
            "-f",
            help="table (readable) or json (machine-readable, on standard output).",
            rich_help_panel=OUTPUTS,
        ),
    ] = "table",
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Also write the JSON diff to this file, e.g. --out diff.json.",
            rich_help_panel=OUTPUTS,
        ),
    ] = None,
    debug: Debug = False,
) -> None:
    """Compare two report.json files: new, resolved, worsened and improved findings, and
    metric changes beyond their intervals."""
    with _errors_exit(debug):
        chosen = output_format.strip().lower()
        if chosen not in ("table", "json"):
            raise UsageError(f"--format {output_format!r}: use table or json")
        if out is not None:
            inputs = {baseline.resolve(), current.resolve()}
            if out.resolve() in inputs:
                raise OutputError(f"--out {out} is an input of this diff; name another file")
            if out.is_dir():
                raise OutputError(f"--out {out} is a directory; name a file, e.g. diff.json")
        old, new = load_report(baseline), load_report(current)
        comparison = compare_reports(
            old.document, new.document, baseline_file=old.file, current_file=new.file
        )
        text = diff_json(comparison)
        if out is not None:
            try:
                atomic_write(out, text)
            except OSError as exc:
                raise OutputError(f"--out {out}: cannot write it ({exc.strerror})") from exc
    if chosen == "json":
        typer.echo(text, nl=False)
    else:
        render_diff(out_console, comparison, out)
    raise typer.Exit(EXIT_FAILED if comparison.got_worse else EXIT_PASSED)


@app.command()
def version() -> None:
    """Print rai-audit's version."""
    from audit.core.trail import tool_version

    out_console.print(f"rai-audit {tool_version()}", markup=False)


def main() -> None:
    try:
        # From here on the commands import torch, pandas and scikit-learn (audit.core.collector).
        with fewer_collections():
            app()
    except RaiAuditError as error:  # only --debug runs get here: traceback, same exit code
        traceback.print_exc()
        sys.exit(error.exit_code)
    except Exception as error:  # an internal bug: one line, exit 3, traceback with --debug
        if "--debug" in sys.argv:
            traceback.print_exc()
            sys.exit(EXIT_INCOMPLETE)
        err_console.print(
            f"rai-audit: internal error: {type(error).__name__}: {one_line(str(error))} (rerun "
            "with --debug and report it)",
            markup=False,
        )
        sys.exit(EXIT_INCOMPLETE)
    finally:
        freeze_for_exit()
