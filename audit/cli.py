"""The ``rai-audit`` command: the only place that prints or exits.

Exit codes of ``run``: 0 gate passed, 1 gate failed, 2 usage or input error, 3 audit
incomplete. Of ``diff``: 0 nothing got worse, 1 something did, 2 a report cannot be read.
"""

from __future__ import annotations

import sys
import traceback
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from audit.cli_progress import RowsProgress
from audit.core.compare import Comparison, FindingChange, MetricChange, diff_json, load_report
from audit.core.compare import compare as compare_reports  # `run` has a --compare option
from audit.core.errors import OutputError, RaiAuditError, UsageError
from audit.core.findings import Severity
from audit.core.gate import violates
from audit.core.output import atomic_write, check_output_dir, write_outputs
from audit.core.request import AuditRequest, Engine, OutputKind
from audit.core.result import AuditResult
from audit.core.trail import source_date_epoch
from audit.explain.sampling import DEFAULT_SAMPLES

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


def _overrides(
    min_group_size: int | None,
    max_intersection: int | None,
    fail_on: str | None,
    require_significance: bool | None,
    n_boot: int | None,
    seed: int | None,
    confidence_level: float | None,
    compare: str | None,
    reference: list[str] | None,
    minimum: list[str] | None,
    maximum: list[str] | None,
) -> dict[str, Any]:
    flags: dict[str, Any] = {
        "min_group_size": min_group_size,
        "max_intersection": max_intersection,
        "fail_on": fail_on,
        "require_significance": require_significance,
        "n_boot": n_boot,
        "seed": seed,
        "confidence_level": confidence_level,
        "compare": compare,
    }
    overrides = {key: value for key, value in flags.items() if value is not None}
    if reference:
        overrides["reference_groups"] = _pairs(reference, "--reference")
    thresholds: dict[str, dict[str, float]] = {}
    for flag, side, given in (("--min", "min", minimum), ("--max", "max", maximum)):
        for metric, text in _pairs(given, flag).items():
            thresholds[metric] = {side: _float(text, flag)}
    if thresholds:
        overrides["thresholds"] = thresholds
    return overrides


def _add_row(table: Table, *cells: str) -> None:
    """Cells as plain text: group and column names come from the data and may hold what rich
    would read as markup, such as "[/]"."""
    table.add_row(*(Text(cell) for cell in cells))


def _words(text: str, column: str) -> list[str]:
    return [text] if column == "interval" else text.split()


def _summary(
    result: AuditResult, written: list[Path], comparison: Comparison | None = None
) -> None:
    text = result.text
    if text is not None and not result.run.data.sensitive:
        # A text audit without sensitive columns has no disparity table: its groups live in
        # the texts, so say how the model does and how much the identity probes had to go on.
        pairs = sum(pair.status == "ok" for pair in text.counterfactual.pairs)
        mentioned = sum(group.rows > 0 for group in text.identity.groups)
        auc = text.performance.roc_auc
        out_console.print(
            f"Text model: accuracy {text.performance.accuracy:.3f}"
            f"{'' if auc is None else f', ROC AUC {auc:.3f}'} on {text.performance.rows} texts",
            markup=False,
            highlight=False,
        )
        out_console.print(
            f"Identity groups: {mentioned} of {len(text.identity.groups)} mentioned in "
            f"{text.identity.rows_with_terms} texts; counterfactual pairs: {pairs} measured of "
            f"{len(text.counterfactual.pairs)}",
            markup=False,
            highlight=False,
        )
    else:
        table = Table(title="Disparities judged by the policy", show_lines=False)
        rows = []
        for disparity in result.disparities:
            if disparity.comparison != result.run.config["compare"]:
                continue
            value = "undefined" if disparity.value is None else f"{disparity.value:.3f}"
            interval = (
                "–" if disparity.ci is None else f"[{disparity.ci[0]:.3f}, {disparity.ci[1]:.3f}]"
            )
            # Words, not identifiers, so that a narrow terminal wraps between them.
            groups = " vs ".join(" / ".join(group) for group in disparity.groups)
            metric = disparity.metric.replace("_", " ")
            rows.append((" × ".join(disparity.feature), metric, value, interval, groups))
        for position, column in enumerate(("feature", "metric", "value", "interval", "groups")):
            # Each column at least as wide as its longest word: wrapped, never cut mid-word
            # (an interval is one unit).
            longest = max(
                (len(word) for row in rows for word in _words(row[position], column)),
                default=len(column),
            )
            table.add_column(column, overflow="fold", min_width=max(len(column), longest))
        for row in rows:
            _add_row(table, *row)
        out_console.print(table)
    counts: dict[str, int] = {}
    for finding in result.findings:
        counts[finding.severity.value] = counts.get(finding.severity.value, 0) + 1
    out_console.print(
        "Findings: " + (", ".join(f"{count} {name}" for name, count in counts.items()) or "none")
    )
    for check in result.checks:
        if check.status.value not in ("ok", "skipped"):
            out_console.print(
                f"Check {check.id} {check.status.value}: {check.reason}", markup=False
            )
    inapplicable = {check.id for check in result.inapplicable}
    skipped = [
        check.id
        for check in result.checks
        if check.status.value == "skipped" and check.id not in inapplicable
    ]
    if skipped:
        # One line: a text audit skips many tabular checks; their reasons are in the report.
        out_console.print(
            f"Checks {', '.join(skipped)}: skipped (see the report's checks)",
            markup=False,
            highlight=False,
        )
    for path in written:
        out_console.print(f"Wrote {path}", markup=False, highlight=False)
    if comparison is not None:
        _baseline_verdict(result, comparison)
        return
    if result.gate.passed:
        out_console.print(f"Gate passed (fail_on={result.gate.fail_on}).", markup=False)
    else:
        out_console.print(
            f"Gate failed: {len(result.gate.violations)} finding(s) at or above {result.gate.fail_on}:",
            markup=False,
        )
        for violation in result.gate.violations:
            out_console.print(f"  {violation.reason}", markup=False, highlight=False)


def _baseline_verdict(result: AuditResult, comparison: Comparison) -> None:
    gate = result.gate
    assert gate.baseline is not None  # a comparison is made only for a --baseline run
    for warning in comparison.warnings:
        out_console.print(f"Warning: {warning}", markup=False, highlight=False)
    out_console.print(
        f"Against the baseline {gate.baseline.path}: {_finding_counts(comparison)}.",
        markup=False,
        highlight=False,
    )
    if gate.passed:
        # Findings that fail the absolute gate but were already in the baseline.
        known = sum(
            violates(
                finding.severity,
                finding.evidence.statistically_clear,
                Severity(gate.fail_on),
                gate.require_significance,
            )
            for finding in result.findings
        )
        carried = (
            f"; {known} finding(s) at or above it were already in the baseline" if known else ""
        )
        out_console.print(
            f"Gate passed: no new or worsened finding at or above {gate.fail_on}{carried}.",
            markup=False,
        )
        return
    out_console.print(
        f"Gate failed: {len(gate.violations)} new or worsened finding(s) at or above "
        f"{gate.fail_on}:",
        markup=False,
    )
    for violation in gate.violations:
        out_console.print(f"  {violation.reason}", markup=False, highlight=False)


def _finding_counts(comparison: Comparison) -> str:
    return (
        f"{len(comparison.new)} new, {len(comparison.resolved)} resolved, "
        f"{len(comparison.worsened)} worsened, {len(comparison.improved)} improved and "
        f"{comparison.unchanged} unchanged finding(s)"
    )


@app.command(epilog=RUN_EPILOG)
def run(
    paths: Annotated[
        list[Path],
        typer.Argument(
            metavar="[MODEL] DATA",
            help="Model file (.pt TorchScript, .pt2, .skops; pickles need --trust-model) then the data file (.csv, .csv.gz, .parquet). With --predictions, only the data file.",
            show_default=False,
        ),
    ],
    target: Annotated[
        str,
        typer.Option("--target", "-t", help="Column with the true label, e.g. --target income."),
    ] = ...,  # type: ignore[assignment]
    sensitive: Annotated[
        list[str] | None,
        typer.Option(
            "--sensitive",
            "-s",
            help="Sensitive columns, comma-separated or repeated, e.g. --sensitive sex,race. Optional with --text-column, whose groups come from identity terms.",
        ),
    ] = None,
    out: Annotated[
        Path,
        typer.Option(
            "--out", "-o", help="Directory for report.<format> files, e.g. --out audit-out/."
        ),
    ] = Path("audit-out"),
    output_format: Annotated[
        str,
        typer.Option("--format", "-f", help="Comma-separated outputs, e.g. --format json,html."),
    ] = "json,html",
    predictions: Annotated[
        str | None,
        typer.Option(
            help="Audit decisions already in the data (no model), e.g. --predictions approved."
        ),
    ] = None,
    scores: Annotated[
        str | None,
        typer.Option(
            help="With --predictions: a score column for ROC AUC and calibration error, "
            "e.g. --scores risk."
        ),
    ] = None,
    features: Annotated[
        list[str] | None,
        typer.Option(
            "--features",
            help="Numeric model inputs in model order, e.g. --features age,hours. Default: the model's embedded metadata, else every numeric non-target, non-sensitive column.",
        ),
    ] = None,
    preprocessor: Annotated[
        Path | None,
        typer.Option(
            help="A fitted scikit-learn transformer saved with skops, applied to the data, e.g. --preprocessor prep.skops."
        ),
    ] = None,
    output_kind: Annotated[
        str,
        typer.Option(
            help="How to read the model's output: auto, logits or probabilities, e.g. --output-kind logits."
        ),
    ] = "auto",
    threshold: Annotated[
        float,
        typer.Option(
            help="Positive-class probability at or above which the decision is positive, e.g. --threshold 0.6."
        ),
    ] = 0.5,
    positive_label: Annotated[
        str | None,
        typer.Option(
            help="The target's positive class, e.g. --positive-label '>50K'. Inferred for 0/1, yes/no, true/false."
        ),
    ] = None,
    trust_model: Annotated[
        bool,
        typer.Option(
            help="Allow loading a pickled model (.pkl, .joblib, torch.save): it runs the file's code. Recorded in the report."
        ),
    ] = False,
    allow_unsafe_imports: Annotated[
        list[str] | None,
        typer.Option(
            "--allow-unsafe-imports",
            help="With --trust-model: dangerous imports found in the pickle that you have checked and allow, comma-separated MODULE.NAME, e.g. --allow-unsafe-imports functools.partial. Without it such a file is refused. See docs/privacy.md.",
        ),
    ] = None,
    train_data: Annotated[
        Path | None,
        typer.Option(
            help="Rows the model was trained on (same columns as the data): runs membership inference against the audited data, or against --holdout, e.g. --train-data train.csv. See docs/privacy.md."
        ),
    ] = None,
    holdout: Annotated[
        Path | None,
        typer.Option(
            help="With --train-data: rows the model never saw, used as the non-members of membership inference instead of the audited data, e.g. --holdout holdout.csv."
        ),
    ] = None,
    explain: Annotated[
        bool,
        typer.Option(
            "--explain/--no-explain",
            help="Explain the model with SHAP and Captum (direct use, proxies, counterfactual flip); --no-explain skips it. See docs/explanations.md.",
        ),
    ] = True,
    explain_samples: Annotated[
        int,
        typer.Option(
            help=f"Rows to explain, stratified so every group is represented (default {DEFAULT_SAMPLES}), e.g. --explain-samples 1000."
        ),
    ] = DEFAULT_SAMPLES,
    text_column: Annotated[
        str | None,
        typer.Option(
            help="Audit a text model (TorchScript with its tokenizer, see docs/text-models.md) on this column: identity-term counterfactuals, templated probes, subgroup AUCs, PII in text, token attributions, e.g. --text-column review."
        ),
    ] = None,
    identity_terms: Annotated[
        list[Path] | None,
        typer.Option(
            help="With --text-column: a TOML file that extends or adds identity terms, templates and swap pairs (repeatable), e.g. --identity-terms my-terms.toml. See docs/text-models.md."
        ),
    ] = None,
    device: Annotated[
        str, typer.Option(help="Torch device for inference, e.g. --device cuda:0.")
    ] = "cpu",
    batch_size: Annotated[
        int, typer.Option(help="Rows per inference batch, e.g. --batch-size 4096.")
    ] = 8192,
    threads: Annotated[
        int | None,
        typer.Option(
            help="Cores to compute on: torch, BLAS and the explainers share them, e.g. "
            "--threads 2. Default: every core this process may use."
        ),
    ] = None,
    chunk_rows: Annotated[
        int | None,
        typer.Option(
            help="Stream the data this many rows at a time, in memory bounded by the chunk, "
            "e.g. --chunk-rows 200000 (docs/scale.md). A directory or glob of partition files, "
            "or --engine dask, streams at 200000 rows unless this says otherwise."
        ),
    ] = None,
    engine: Annotated[
        str,
        typer.Option(
            help="Where the per-partition work runs: local (this process) or dask (a "
            "dask.distributed cluster: --scheduler ADDRESS, or a local cluster of --workers "
            "processes), e.g. --engine dask. Needs rai-audit[dask]. See docs/scale.md."
        ),
    ] = "local",
    scheduler: Annotated[
        str | None,
        typer.Option(
            help="With --engine dask: the scheduler of a running cluster, e.g. --scheduler "
            "tcp://10.0.0.5:8786. Without it a local cluster is started."
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            help="With --engine dask and no --scheduler: worker processes of the local "
            "cluster, e.g. --workers 4. Default: one per CPU core."
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
        ),
    ] = None,
    bins: Annotated[
        list[str] | None,
        typer.Option(
            "--bins",
            help="Band a numeric sensitive column, e.g. --bins age=18,25,45,65 (repeatable). Default: quantile bands.",
        ),
    ] = None,
    encoding: Annotated[
        str, typer.Option(help="Text encoding of a CSV, e.g. --encoding latin-1.")
    ] = "utf-8",
    sep: Annotated[
        str | None,
        typer.Option(
            help="Separator of a CSV: one character, or tab, e.g. --sep ';'. Default: detected from the first lines (, ; tab |)."
        ),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(
            help="Policy file (rai-audit.toml or a pyproject.toml), e.g. --config ci/rai-audit.toml. Default: ./rai-audit.toml, else [tool.rai-audit] in ./pyproject.toml."
        ),
    ] = None,
    min_group_size: Annotated[
        int | None,
        typer.Option(
            help="Groups smaller than this get no metrics (default 30), e.g. --min-group-size 50."
        ),
    ] = None,
    max_intersection: Annotated[
        int | None,
        typer.Option(
            help="Largest intersection of sensitive features (default 2; 1 turns intersections off), e.g. --max-intersection 3."
        ),
    ] = None,
    reference: Annotated[
        list[str] | None,
        typer.Option(
            help="Reference group per feature, e.g. --reference sex=Male (default: the largest group)."
        ),
    ] = None,
    compare: Annotated[
        str | None,
        typer.Option(
            help="Which disparity the checks judge: between_groups (default) or reference, e.g. --compare reference."
        ),
    ] = None,
    minimum: Annotated[
        list[str] | None,
        typer.Option(
            "--min", help="Lower bound for a metric, e.g. --min demographic_parity_ratio=0.9."
        ),
    ] = None,
    maximum: Annotated[
        list[str] | None,
        typer.Option(
            "--max", help="Upper bound for a metric, e.g. --max equalized_odds_difference=0.05."
        ),
    ] = None,
    fail_on: Annotated[
        str | None,
        typer.Option(
            help="Lowest severity that fails the gate: info, low, medium (default), high, critical, e.g. --fail-on high."
        ),
    ] = None,
    require_significance: Annotated[
        bool | None,
        typer.Option(
            "--require-significance/--no-require-significance",
            help="Fail the gate only on violations whose interval clears the threshold.",
            show_default=False,
        ),
    ] = None,
    n_boot: Annotated[
        int | None,
        typer.Option(
            help="Bootstrap replicates per interval (default 1000; 0 for none), e.g. --n-boot 200."
        ),
    ] = None,
    seed: Annotated[
        int | None, typer.Option(help="Seed of every random step (default 0), e.g. --seed 7.")
    ] = None,
    confidence_level: Annotated[
        float | None,
        typer.Option(help="Interval level (default 0.95), e.g. --confidence-level 0.9."),
    ] = None,
    baseline: Annotated[
        Path | None,
        typer.Option(
            help="An earlier run's report.json: the gate then fails only on findings at or above fail_on that are new since it or more severe than in it, e.g. --baseline main/report.json. See docs/diff.md."
        ),
    ] = None,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Print only errors and the gate verdict.")
    ] = False,
    debug: Annotated[bool, typer.Option(help="Show the traceback of an error.")] = False,
) -> None:
    """Audit a classifier (or its decisions) on data sliced by sensitive attributes."""
    try:
        if len(paths) > 2:
            raise UsageError(
                f"expected [MODEL] DATA, got {len(paths)} paths: "
                f"{' '.join(map(str, paths))}; quote paths that contain spaces"
            )
        model, data = (paths[0], paths[1]) if len(paths) == 2 else (None, paths[0])
        if output_kind not in ("auto", "logits", "probabilities"):
            raise UsageError(f"--output-kind {output_kind!r}: use auto, logits or probabilities")
        kind: OutputKind = output_kind  # type: ignore[assignment]
        formats = _formats(output_format)
        request = AuditRequest(
            data=data,
            model=model,
            target=target,
            sensitive=tuple(_split(sensitive)),
            predictions=predictions,
            scores=scores,
            features=tuple(_split(features)) if features else None,
            preprocessor=preprocessor,
            output_kind=kind,
            threshold=threshold,
            positive_label=positive_label,
            trust_model=trust_model,
            device=device,
            batch_size=batch_size,
            threads=threads,
            chunk_rows=chunk_rows,
            engine=_engine(engine),
            scheduler=scheduler,
            workers=workers,
            bins=tuple(bins or ()),
            encoding=encoding,
            sep=_separator(sep),
            config_file=config,
            policy_overrides=_overrides(
                min_group_size,
                max_intersection,
                fail_on,
                require_significance,
                n_boot,
                seed,
                confidence_level,
                compare,
                reference,
                minimum,
                maximum,
            ),
            command=("rai-audit", *sys.argv[1:]),
            baseline=baseline,
            train_data=train_data,
            holdout=holdout,
            allow_unsafe_imports=tuple(_split(allow_unsafe_imports)),
            explain=explain,
            explain_samples=explain_samples,
            text_column=text_column,
            identity_terms=tuple(identity_terms or ()),
        )
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
        from reports import render  # imported here: the engine never needs the renderers

        written = write_outputs(out, render(result, formats), request.input_paths())
    except RaiAuditError as error:
        if debug:
            raise
        err_console.print(f"rai-audit: error: {one_line(str(error))}", markup=False)
        raise typer.Exit(error.exit_code) from None
    if quiet:
        out_console.print("Gate passed." if result.gate.passed else "Gate failed.", markup=False)
    else:
        _summary(result, written, comparison)
    if result.incomplete:
        err_console.print(
            "rai-audit: audit incomplete: a check crashed (see the report's checks)", markup=False
        )
        raise typer.Exit(EXIT_INCOMPLETE)
    raise typer.Exit(EXIT_PASSED if result.gate.passed else EXIT_FAILED)


def _separator(text: str | None) -> str | None:
    """--sep as typed: one character, or a name for the one a shell makes awkward."""
    return {"tab": "\t", "\\t": "\t"}.get(text.lower(), text) if text is not None else None


def _engine(name: str) -> Engine:
    if name not in ("local", "dask"):
        raise UsageError(f"--engine {name!r}: use local or dask")
    return "local" if name == "local" else "dask"


def _formats(text: str) -> list[str]:
    from reports import available_formatters

    known = sorted(available_formatters())
    formats = list(dict.fromkeys(item.strip().lower() for item in text.split(",") if item.strip()))
    unknown = [name for name in formats if name not in known]
    if not formats or unknown:
        shown = repr(unknown[0]) if unknown else "empty"
        raise UsageError(f"--format {shown} is not an output; known formats: {', '.join(known)}")
    return formats


DIFF_EPILOG = """Examples:

  rai-audit diff main/report.json audit-out/report.json

  rai-audit diff main/report.json audit-out/report.json --format json --out diff.json

Findings match by fingerprint (check, slice and metric). A metric changed when each run's
estimate lies outside the other run's interval. Exit codes: 0 nothing got worse, 1 something
did (a new or worsened finding at or above the current policy's fail_on, or a disparity worse
beyond the intervals), 2 a report cannot be read or is not a valid report. See docs/diff.md."""


@app.command(epilog=DIFF_EPILOG)
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
        ),
    ] = "table",
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Also write the JSON diff to this file, e.g. --out diff.json.",
        ),
    ] = None,
    debug: Annotated[bool, typer.Option(help="Show the traceback of an error.")] = False,
) -> None:
    """Compare two report.json files: new, resolved, worsened and improved findings, and
    metric changes beyond their intervals."""
    try:
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
    except RaiAuditError as error:
        if debug:
            raise
        err_console.print(f"rai-audit: error: {one_line(str(error))}", markup=False)
        raise typer.Exit(error.exit_code) from None
    if chosen == "json":
        typer.echo(text, nl=False)
    else:
        _diff_table(comparison, out)
    raise typer.Exit(EXIT_FAILED if comparison.got_worse else EXIT_PASSED)


def _severity_change(change: FindingChange) -> str:
    return f"{change.baseline_severity or '–'} → {change.current_severity or '–'}"


def _interval_text(value: float, interval: tuple[float, float]) -> str:
    return f"{value:.3f}\n[{interval[0]:.3f}, {interval[1]:.3f}]"


def _metric_slice(change: MetricChange) -> str:
    feature = " × ".join(change.feature)
    if change.group is not None:
        return f"{feature} = {'/'.join(change.group)}"
    return feature if change.comparison == "between_groups" else f"{feature} (vs reference)"


def _metric_table(title: str, shifts: list[MetricChange]) -> Table:
    table = Table(title=title)
    for column in ("slice", "metric", "baseline", "current", "change"):
        # An interval, "[0.119, 0.200]", reads wrongly when broken over lines.
        table.add_column(column, overflow="fold", no_wrap=column in ("baseline", "current"))
    for shift in shifts:
        verdict = (
            shift.direction
            if shift.assessment == "neutral"
            else f"{shift.assessment} ({shift.direction})"
        )
        _add_row(
            table,
            _metric_slice(shift),
            shift.metric.replace("_", " "),
            _interval_text(shift.baseline_value, shift.baseline_interval),
            _interval_text(shift.current_value, shift.current_interval),
            verdict,
        )
    return table


def _diff_table(comparison: Comparison, out: Path | None) -> None:
    for side, name in ((comparison.baseline, "Baseline"), (comparison.current, "Current")):
        report = side.report.path if side.report else "(this run)"
        model = side.model_file.path if side.model_file else side.model_kind
        out_console.print(
            f"{name}: {report} (model {model}, data {side.data_file.path}, {side.started_at})",
            markup=False,
            highlight=False,
        )
    for warning in comparison.warnings:
        out_console.print(f"Warning: {warning}", markup=False, highlight=False)
    groups = (
        ("new", comparison.new),
        ("worsened", comparison.worsened),
        ("resolved", comparison.resolved),
        ("improved", comparison.improved),
    )
    if any(changes for _, changes in groups):
        table = Table(title="Findings that changed")
        for column in ("change", "severity", "gate", "finding"):
            table.add_column(column, overflow="fold", no_wrap=column != "finding")
        for label, changes in groups:
            for change in changes:
                _add_row(
                    table,
                    label,
                    _severity_change(change),
                    "fails" if change.regression else "",
                    change.title,
                )
        out_console.print(table)
    disparities = [shift for shift in comparison.metric_changes if shift.scope == "disparity"]
    # The worse changes first: they are what fails the diff.
    disparities.sort(key=lambda shift: shift.assessment != "worse")
    group_metrics = [shift for shift in comparison.metric_changes if shift.scope == "group"]
    for title, shifts in (
        ("Disparities changed beyond their intervals", disparities),
        (
            "Group metrics changed beyond their intervals (neither better nor worse alone)",
            group_metrics,
        ),
    ):
        if shifts:
            out_console.print(_metric_table(title, shifts))
    out_console.print(f"Findings: {_finding_counts(comparison)}.", markup=False)
    out_console.print(
        f"Metrics: {len(comparison.metric_changes)} of {comparison.metrics_compared} changed "
        f"beyond their intervals ({len(comparison.worse_metrics)} disparities worse); "
        f"{comparison.metrics_not_judged} without an interval in one run were not judged.",
        markup=False,
    )
    if out is not None:
        out_console.print(f"Wrote {out}", markup=False, highlight=False)
    if comparison.got_worse:
        out_console.print(
            f"Worse than the baseline: {len(comparison.regressions)} new or worsened finding(s) "
            f"at or above {comparison.fail_on}, {len(comparison.worse_metrics)} disparity "
            "change(s) for the worse.",
            markup=False,
        )
    else:
        out_console.print("Nothing got worse than the baseline.", markup=False)


@app.command()
def version() -> None:
    """Print rai-audit's version."""
    from audit.core.trail import tool_version

    out_console.print(f"rai-audit {tool_version()}", markup=False)


def main() -> None:
    try:
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
