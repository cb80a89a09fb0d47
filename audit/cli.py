"""The ``rai-audit`` command: the only place that prints or exits.

Exit codes: 0 gate passed, 1 gate failed, 2 usage or input error, 3 audit incomplete.
"""

from __future__ import annotations

import sys
import traceback
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from audit.api import AuditRequest, run_audit
from audit.errors import RaiAuditError, UsageError
from audit.output import check_output_dir, write_outputs
from audit.result import AuditResult
from audit.scoring import OutputKind

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

Exit codes: 0 gate passed, 1 gate failed, 2 usage or input error, 3 audit incomplete
(a check crashed). Thresholds and the gate are configured in rai-audit.toml or
[tool.rai-audit] in pyproject.toml; see docs/configuration.md."""


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


def _summary(result: AuditResult, written: list[Path]) -> None:
    table = Table(title="Disparities judged by the policy", show_lines=False)
    for column in ("feature", "metric", "value", "interval", "groups"):
        table.add_column(column, overflow="fold", no_wrap=column in ("metric", "interval"))
    for disparity in result.disparities:
        if disparity.comparison != result.run.config["compare"]:
            continue
        value = "undefined" if disparity.value is None else f"{disparity.value:.3f}"
        interval = (
            "–" if disparity.ci is None else f"[{disparity.ci[0]:.3f}, {disparity.ci[1]:.3f}]"
        )
        groups = " vs ".join("/".join(group) for group in disparity.groups)
        table.add_row(" × ".join(disparity.feature), disparity.metric, value, interval, groups)
    out_console.print(table)
    counts: dict[str, int] = {}
    for finding in result.findings:
        counts[finding.severity.value] = counts.get(finding.severity.value, 0) + 1
    out_console.print(
        "Findings: " + (", ".join(f"{count} {name}" for name, count in counts.items()) or "none")
    )
    for check in result.checks:
        if check.status.value != "ok":
            out_console.print(
                f"Check {check.id} {check.status.value}: {check.reason}", markup=False
            )
    for path in written:
        out_console.print(f"Wrote {path}", markup=False, highlight=False)
    if result.gate.passed:
        out_console.print(f"Gate passed (fail_on={result.gate.fail_on}).", markup=False)
    else:
        out_console.print(
            f"Gate failed: {len(result.gate.violations)} finding(s) at or above {result.gate.fail_on}:",
            markup=False,
        )
        for violation in result.gate.violations:
            out_console.print(f"  {violation.reason}", markup=False, highlight=False)


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
        list[str],
        typer.Option(
            "--sensitive",
            "-s",
            help="Sensitive columns, comma-separated or repeated, e.g. --sensitive sex,race.",
        ),
    ] = ...,  # type: ignore[assignment]
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
        typer.Option(help="With --predictions: a score column for ROC AUC, e.g. --scores risk."),
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
    device: Annotated[
        str, typer.Option(help="Torch device for inference, e.g. --device cuda:0.")
    ] = "cpu",
    batch_size: Annotated[
        int, typer.Option(help="Rows per inference batch, e.g. --batch-size 4096.")
    ] = 8192,
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
            bins=tuple(bins or ()),
            encoding=encoding,
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
        )
        check_output_dir(out, request.input_paths())
        result = run_audit(request)
        from reports import render  # imported here: the engine never needs the renderers

        written = write_outputs(out, render(result, formats), request.input_paths())
    except RaiAuditError as error:
        if debug:
            raise
        err_console.print(f"rai-audit: error: {error}", markup=False)
        raise typer.Exit(error.exit_code) from None
    if quiet:
        out_console.print("Gate passed." if result.gate.passed else "Gate failed.", markup=False)
    else:
        _summary(result, written)
    if result.incomplete:
        err_console.print(
            "rai-audit: audit incomplete: a check crashed (see the report's checks)", markup=False
        )
        raise typer.Exit(EXIT_INCOMPLETE)
    raise typer.Exit(EXIT_PASSED if result.gate.passed else EXIT_FAILED)


def _formats(text: str) -> list[str]:
    from reports import available_formatters

    known = sorted(available_formatters())
    formats = list(dict.fromkeys(item.strip().lower() for item in text.split(",") if item.strip()))
    unknown = [name for name in formats if name not in known]
    if not formats or unknown:
        shown = repr(unknown[0]) if unknown else "empty"
        raise UsageError(f"--format {shown} is not an output; known formats: {', '.join(known)}")
    return formats


@app.command()
def version() -> None:
    """Print rai-audit's version."""
    from audit.trail import tool_version

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
            f"rai-audit: internal error: {type(error).__name__}: {error} (rerun with --debug "
            "and report it)",
            markup=False,
        )
        sys.exit(EXIT_INCOMPLETE)
