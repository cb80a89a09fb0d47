"""Every bad input ends in exit 2 with one line naming the culprit, and leaves inputs alone."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import (
    FAST_N_BOOT,
    Cli,
    ExtraRowModel,
    InfModel,
    NaNModel,
    NoColumnModel,
    RaisingModel,
    ThreeClassModel,
    ThreeDimensionalModel,
    Workspace,
    default_module,
    linear,
    make_frame,
)
from sklearn.linear_model import LogisticRegression
from torch import nn


@pytest.fixture
def out(tmp_path: Path) -> Path:
    return tmp_path / "out"


def audit_args(
    model: Path | None, data: Path, out: Path, *extra: str, sensitive: str = "sex,group"
) -> list[str | Path]:
    head: list[str | Path] = ["run", *([model] if model is not None else []), data]
    return [
        *head,
        "--target",
        "label",
        "--sensitive",
        sensitive,
        "--out",
        out,
        "--n-boot",
        str(FAST_N_BOOT),
        *extra,
    ]


def expect_input_error(
    cli: Cli, workspace: Workspace, out: Path, args: list[str | Path], *needles: str
) -> str:
    """Exit 2, one error line holding ``needles``, inputs byte-identical, no report written."""
    before = workspace.digests()
    line = cli.input_error(args, *needles)
    assert workspace.digests() == before
    assert not out.exists() or not any(out.iterdir())
    return line


# --- the data file ----------------------------------------------------------------------------


def test_missing_data_file(cli: Cli, workspace: Workspace, out: Path) -> None:
    model = workspace.torchscript(default_module())
    missing = workspace.root / "nowhere.csv"
    expect_input_error(
        cli, workspace, out, audit_args(model, missing, out), "nowhere.csv", "not found"
    )


def test_unreadable_data_file(cli: Cli, workspace: Workspace, out: Path, frame) -> None:
    data = workspace.table(frame)
    data.chmod(0)
    try:
        if os.access(data, os.R_OK):
            pytest.skip("running as a user (root) who reads files without read permission")
        expect_input_error(
            cli,
            workspace,
            out,
            audit_args(None, data, out, "--predictions", "label"),
            "data.csv",
            "cannot be read",
            "permissions",
        )
    finally:
        data.chmod(0o644)


def test_directory_without_data_files(cli: Cli, workspace: Workspace, out: Path) -> None:
    # A directory is a partitioned dataset (docs/scale.md); one without data files is an error.
    folder = workspace.root / "data.csv"
    folder.mkdir()
    (folder / "notes.md").write_text("not data", encoding="utf-8")
    expect_input_error(
        cli,
        workspace,
        out,
        audit_args(None, folder, out, "--predictions", "label"),
        "data.csv",
        "holds no data files",
    )


def test_empty_file(cli: Cli, workspace: Workspace, out: Path) -> None:
    data = workspace.text("empty.csv", "")
    model = workspace.torchscript(default_module())
    expect_input_error(cli, workspace, out, audit_args(model, data, out), "empty.csv", "empty")


def test_header_only(cli: Cli, workspace: Workspace, out: Path) -> None:
    data = workspace.text("header.csv", "x2,sex,x1,group,label\n")
    model = workspace.torchscript(default_module())
    expect_input_error(
        cli, workspace, out, audit_args(model, data, out), "header.csv", "header but no rows"
    )


def test_malformed_csv_names_the_line(cli: Cli, workspace: Workspace, out: Path) -> None:
    data = workspace.text("bad.csv", "x2,sex,x1,group,label\n0.1,F,0.2,a,1\n0.3,M,0.4,b,0,extra\n")
    model = workspace.torchscript(default_module())
    expect_input_error(
        cli,
        workspace,
        out,
        audit_args(model, data, out),
        "bad.csv",
        "malformed CSV",
        "line 3",
        "saw 6",
    )


def test_non_utf8_bytes_then_latin1(cli: Cli, workspace: Workspace, out: Path) -> None:
    frame = make_frame()
    frame["sex"] = frame["sex"].map({"F": "Fém", "M": "M"})
    data = workspace.root / "latin.csv"
    data.write_bytes(frame.to_csv(index=False).encode("latin-1"))
    model = workspace.torchscript(default_module())
    expect_input_error(
        cli,
        workspace,
        out,
        audit_args(model, data, out),
        "latin.csv",
        "not valid utf-8",
        "0xe9",
        "--encoding latin-1",
    )

    result = cli(*audit_args(model, data, out, "--encoding", "latin-1", "--format", "json"))
    assert result.exit_code in (0, 1), result.output
    report = json.loads((out / "report.json").read_text("utf-8"))
    sexes = {tuple(entry["group"]) for entry in report["groups"] if entry["feature"] == ["sex"]}
    assert sexes == {("Fém",), ("M",)}


def test_unknown_format_of_data_file(cli: Cli, workspace: Workspace, out: Path, frame) -> None:
    data = workspace.text("data.xlsx", frame.to_csv(index=False))
    expect_input_error(
        cli,
        workspace,
        out,
        audit_args(None, data, out, "--predictions", "label"),
        "data.xlsx",
        ".xlsx",
        ".parquet",
    )


def test_corrupt_gzip(cli: Cli, workspace: Workspace, out: Path) -> None:
    data = workspace.text("data.csv.gz", b"\x1f\x8b this is not gzip")
    expect_input_error(
        cli,
        workspace,
        out,
        audit_args(None, data, out, "--predictions", "label"),
        "data.csv.gz",
        "cannot be read",
    )


@pytest.mark.parametrize("chunked", [False, True])
def test_a_line_too_long_for_a_row(
    cli: Cli, workspace: Workspace, out: Path, monkeypatch: pytest.MonkeyPatch, chunked: bool
) -> None:
    import audit.data.csv_stream

    # 16 MiB in use; a 1 MiB bound keeps the test small. The line has no newline at all.
    monkeypatch.setattr(audit.data.csv_stream, "MAX_LINE_BYTES", 1 << 20)
    data = workspace.text("long.csv", b"label,sex,group\n1,F,a\n" + b"1" * (3 << 20))
    extra = ("--chunk-rows", "100") if chunked else ()
    expect_input_error(
        cli,
        workspace,
        out,
        audit_args(None, data, out, "--predictions", "label", *extra),
        "long.csv",
        "line 3 is longer than 1 MiB",
        "quotes are closed",
    )


def test_a_gzip_bomb(
    cli: Cli, workspace: Workspace, out: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import audit.data.csv_stream

    # A floor of 1 MiB (1 GiB in use): 40 MB of short rows from a 40 kB file is a bomb.
    monkeypatch.setattr(audit.data.csv_stream, "EXPANSION_FLOOR", 1 << 20)
    rows = b"label,sex,group\n" + b"1,F,a\n0,M,b\n" * 3_000_000
    data = workspace.text("bomb.csv.gz", gzip.compress(rows, 9))
    expect_input_error(
        cli,
        workspace,
        out,
        audit_args(None, data, out, "--predictions", "label"),
        "bomb.csv.gz",
        "decompression bomb",
        "--chunk-rows",
    )


def test_corrupt_parquet(cli: Cli, workspace: Workspace, out: Path) -> None:
    data = workspace.text("data.parquet", b"PAR1 not really parquet")
    expect_input_error(
        cli,
        workspace,
        out,
        audit_args(None, data, out, "--predictions", "label"),
        "data.parquet",
        "Parquet",
    )


# --- columns ----------------------------------------------------------------------------------


def test_unknown_target_lists_columns(cli: Cli, workspace: Workspace, out: Path, frame) -> None:
    data = workspace.table(frame)
    model = workspace.torchscript(default_module())
    args = audit_args(model, data, out)
    args[args.index("label")] = "income"
    expect_input_error(
        cli,
        workspace,
        out,
        args,
        "'income'",
        "--target",
        "available columns: x2, sex, x1, group, label, note",
    )


def test_unknown_sensitive_lists_columns(cli: Cli, workspace: Workspace, out: Path, frame) -> None:
    data = workspace.table(frame)
    model = workspace.torchscript(default_module())
    expect_input_error(
        cli,
        workspace,
        out,
        audit_args(model, data, out, sensitive="sex,race"),
        "'race'",
        "--sensitive",
        "available columns: x2, sex, x1, group, label, note",
    )


def test_target_with_one_class(cli: Cli, workspace: Workspace, out: Path, frame) -> None:
    frame["label"] = 1
    data = workspace.table(frame)
    model = workspace.torchscript(default_module())
    expect_input_error(
        cli, workspace, out, audit_args(model, data, out), "'label'", "one class", "'1'"
    )


def test_target_with_three_classes_needs_positive_label(
    cli: Cli, workspace: Workspace, out: Path, frame
) -> None:
    frame["label"] = np.where(frame["label"] == 1, "high", np.where(frame["x1"] > 0, "mid", "low"))
    data = workspace.table(frame)
    model = workspace.torchscript(default_module())
    expect_input_error(
        cli,
        workspace,
        out,
        audit_args(model, data, out),
        "'label'",
        "3 classes",
        "'high', 'low', 'mid'",
        "--positive-label",
    )

    result = cli(*audit_args(model, data, out, "--positive-label", "high", "--format", "json"))
    assert result.exit_code in (0, 1), result.output
    report = json.loads((out / "report.json").read_text("utf-8"))
    assert report["run"]["model"]["positive_label"] == "high"
    everyone = [entry for entry in report["groups"] if entry["feature"] == ["sex"]]
    expected_base_rate = float((frame.loc[frame["sex"] == "F", "label"] == "high").mean())
    base_rates = {entry["group"][0]: entry["metrics"]["base_rate"] for entry in everyone}
    assert base_rates["F"] == pytest.approx(expected_base_rate)


def test_nan_in_feature_column(cli: Cli, workspace: Workspace, out: Path, frame) -> None:
    frame.loc[4, "x1"] = np.nan
    data = workspace.table(frame)
    model = workspace.torchscript(default_module())
    expect_input_error(
        cli,
        workspace,
        out,
        audit_args(model, data, out),
        "feature column 'x1'",
        "data row 5 is missing",
    )


def test_text_in_feature_column(cli: Cli, workspace: Workspace, out: Path, frame) -> None:
    frame["x1"] = frame["x1"].astype(object)
    frame.loc[7, "x1"] = "n/a?"
    data = workspace.table(frame)
    model = workspace.torchscript(default_module())
    expect_input_error(
        cli,
        workspace,
        out,
        audit_args(model, data, out, "--features", "x2,x1"),
        "feature column 'x1'",
        "data row 8",
        "'n/a?'",
    )


def test_text_in_default_feature_column_is_named(
    cli: Cli, workspace: Workspace, out: Path, frame
) -> None:
    # Without --features a text column is not numeric, so it drops out of the default
    # selection; the width mismatch that follows must say which columns were used.
    frame["x1"] = frame["x1"].astype(object)
    frame.loc[7, "x1"] = "n/a?"
    data = workspace.table(frame)
    model = workspace.torchscript(default_module())
    expect_input_error(
        cli,
        workspace,
        out,
        audit_args(model, data, out),
        "takes 2 input features",
        "gives 1",
        "x2",
        "--features",
    )


def test_bad_bins_spec(cli: Cli, workspace: Workspace, out: Path, frame) -> None:
    data = workspace.table(frame)
    model = workspace.torchscript(default_module())
    for spec, needle in (
        ("x1", "COLUMN=EDGE"),
        ("x1=a,b", "COLUMN=EDGE"),
        ("x1=1,0", "increasing"),
        ("group=0,1", "needs numbers"),
        ("label=0.5", "not a --sensitive column"),
    ):
        expect_input_error(
            cli,
            workspace,
            out,
            audit_args(model, data, out, "--bins", spec, sensitive="sex,x1,group"),
            needle,
        )


# --- models -----------------------------------------------------------------------------------


def test_model_that_raises(cli: Cli, workspace: Workspace, out: Path, frame) -> None:
    data = workspace.table(frame)
    model = workspace.torchscript(RaisingModel())
    expect_input_error(
        cli,
        workspace,
        out,
        audit_args(model, data, out),
        "model.pt",
        "the model failed",
        "deliberate failure inside forward",
    )


@pytest.mark.parametrize(
    ("module", "needles"),
    [
        (ThreeClassModel(), ("returns 3 class columns", "class_labels")),
        (ExtraRowModel(), ("returned shape [241]", "240 rows")),
        (ThreeDimensionalModel(), ("returned shape [240, 2, 1]", "[n, k]")),
        (NoColumnModel(), ("returned shape [240, 0]", "[n, k]")),
        (NaNModel(), ("1 NaN or infinite", "data row 3")),
        (InfModel(), ("NaN or infinite", "data row 1")),
    ],
    ids=["n-by-3-without-labels", "n-plus-1", "three-dimensional", "n-by-0", "nan", "inf"],
)
def test_model_output_unusable(
    cli: Cli, workspace: Workspace, out: Path, frame, module: nn.Module, needles: tuple[str, ...]
) -> None:
    data = workspace.table(frame)
    model = workspace.torchscript(module)
    expect_input_error(cli, workspace, out, audit_args(model, data, out), "model.pt", *needles)


def test_width_mismatch_shows_both_widths(cli: Cli, workspace: Workspace, out: Path, frame) -> None:
    data = workspace.table(frame)
    model = workspace.torchscript(linear(np.ones((2, 3)), np.zeros(2)))
    expect_input_error(
        cli,
        workspace,
        out,
        audit_args(model, data, out),
        "model.pt",
        "takes 3 input features",
        "gives 2",
        "x2, x1",
    )


def test_pickled_torch_module_needs_trust(cli: Cli, workspace: Workspace, out: Path, frame) -> None:
    data = workspace.table(frame)
    model = workspace.pickled_module(nn.Sequential(default_module()))
    expect_input_error(
        cli,
        workspace,
        out,
        audit_args(model, data, out),
        "model.pt",
        "pickle runs arbitrary code",
        "--trust-model",
    )

    before = workspace.digests()
    result = cli(*audit_args(model, data, out, "--trust-model", "--format", "json"))
    assert result.exit_code in (0, 1), result.output
    assert workspace.digests() == before
    report = json.loads((out / "report.json").read_text("utf-8"))
    assert report["run"]["model"]["trusted"] is True
    assert report["run"]["model"]["kind"] == "torch-pickle"


@pytest.mark.parametrize("suffix", ["pkl", "joblib"])
def test_pickle_and_joblib_refused_without_trust(
    cli: Cli, workspace: Workspace, out: Path, frame, suffix: str
) -> None:
    data = workspace.table(frame)
    estimator = LogisticRegression().fit(frame[["x2", "x1"]].to_numpy(), frame["label"])
    model = (
        workspace.pickle(estimator, "model.pkl")
        if suffix == "pkl"
        else workspace.joblib(estimator, "model.joblib")
    )
    expect_input_error(
        cli,
        workspace,
        out,
        audit_args(model, data, out),
        f"model.{suffix}",
        "pickle runs arbitrary code",
        "--trust-model",
    )


def test_missing_model_file(cli: Cli, workspace: Workspace, out: Path, frame) -> None:
    data = workspace.table(frame)
    expect_input_error(
        cli,
        workspace,
        out,
        audit_args(workspace.root / "absent.pt", data, out),
        "absent.pt",
        "model file not found",
    )


@pytest.mark.parametrize(
    ("content", "cause"),
    [
        (b"not a zip archive", "not a ZIP archive"),
        (b"", "not a ZIP archive"),
        ("zip without an archive_format record", "archive_format: file not found"),
    ],
)
def test_model_that_is_not_torch_export(
    cli: Cli,
    workspace: Workspace,
    out: Path,
    frame,
    capfd: pytest.CaptureFixture[str],
    content: bytes | str,
    cause: str,
) -> None:
    data = workspace.table(frame)
    if isinstance(content, str):
        model = workspace.root / "model.pt2"
        with zipfile.ZipFile(model, "w") as archive:
            archive.writestr("archive/version", "1")
    else:
        model = workspace.text("model.pt2", content)
    capfd.readouterr()
    expect_input_error(
        cli, workspace, out, audit_args(model, data, out), "model.pt2", "torch.export", cause
    )
    # torch logs the archive's traceback as a warning; none of it reaches the console.
    logged = capfd.readouterr()
    assert "Traceback" not in logged.err + logged.out and "deserializing" not in logged.err


# --- configuration and options ----------------------------------------------------------------


def test_n_boot_past_the_policy_bound(cli: Cli, workspace: Workspace, out: Path, frame) -> None:
    data = workspace.table(frame)
    args = audit_args(None, data, out, "--predictions", "label")
    args[args.index("--n-boot") + 1] = "100000"
    expect_input_error(cli, workspace, out, args, "n_boot = 100000", "max_n_boot = 10000")


def test_unknown_encoding(cli: Cli, workspace: Workspace, out: Path, frame) -> None:
    data = workspace.table(frame)
    expect_input_error(
        cli,
        workspace,
        out,
        audit_args(None, data, out, "--predictions", "label", "--encoding", "no-such-codec"),
        "--encoding 'no-such-codec'",
        "utf-8",
    )


@pytest.mark.parametrize("value", ["abc", "1.5", "99999999999999999999"])
def test_malformed_source_date_epoch(
    cli: Cli, workspace: Workspace, out: Path, frame, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    data = workspace.table(frame)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", value)
    expect_input_error(
        cli,
        workspace,
        out,
        audit_args(None, data, out, "--predictions", "label"),
        f"SOURCE_DATE_EPOCH={value!r}",
        "unset it",
    )


def test_a_huge_value_is_quoted_short(cli: Cli, workspace: Workspace, out: Path) -> None:
    # One class only, and that class is a 200,000-character cell: the error names it, briefly.
    frame = make_frame().assign(label="1" * 200_000)
    data = workspace.table(frame)
    line = expect_input_error(
        cli,
        workspace,
        out,
        audit_args(None, data, out, "--predictions", "sex"),
        "one class only",
        "characters)…",
    )
    assert len(line) < 600


def test_data_values_that_look_like_markup_print_as_text(
    cli: Cli, workspace: Workspace, out: Path
) -> None:
    frame = make_frame()
    frame["group"] = frame["group"].map({"a": "[/]", "b": "[bold]b"}).fillna(frame["group"])
    data = workspace.table(frame)
    model = workspace.torchscript(default_module())
    result = cli(*audit_args(model, data, out, "--format", "json"))
    assert result.exit_code in (0, 1), (result.output, result.exception)
    assert "[/]" in result.stdout or "[bold]b" in result.stdout


def test_unknown_key_in_rai_audit_toml(cli: Cli, workspace: Workspace, out: Path, frame) -> None:
    data = workspace.table(frame)
    model = workspace.torchscript(default_module())
    (cli.cwd / "rai-audit.toml").write_text("min_group_size = 20\nmin_grup_size = 20\n")
    expect_input_error(
        cli,
        workspace,
        out,
        audit_args(model, data, out),
        "rai-audit.toml",
        "unknown key 'min_grup_size'",
        "known keys",
        "min_group_size",
        "fail_on",
    )


def test_unknown_key_in_pyproject(cli: Cli, workspace: Workspace, out: Path, frame) -> None:
    data = workspace.table(frame)
    model = workspace.torchscript(default_module())
    (cli.cwd / "pyproject.toml").write_text(
        '[project]\nname = "x"\n\n[tool.rai-audit]\nfail_on = "high"\nfail_onn = "low"\n'
    )
    expect_input_error(
        cli,
        workspace,
        out,
        audit_args(model, data, out),
        "pyproject.toml",
        "unknown key 'fail_onn'",
        "known keys",
        "fail_on",
    )


def test_unknown_threshold_key_in_config(cli: Cli, workspace: Workspace, out: Path, frame) -> None:
    data = workspace.table(frame)
    model = workspace.torchscript(default_module())
    config = workspace.text("policy.toml", "[thresholds.demographic_parity_ratio]\nminimum = 0.9\n")
    expect_input_error(
        cli,
        workspace,
        out,
        audit_args(model, data, out, "--config", str(config)),
        "policy.toml",
        "minimum",
        "critical, max, min",
    )


def test_out_pointing_at_an_input_file(cli: Cli, workspace: Workspace, frame) -> None:
    data = workspace.table(frame)
    model = workspace.torchscript(default_module())
    before = workspace.digests()
    for target in (data, model):
        line = cli.input_error(audit_args(model, data, target), "--out", "input file")
        assert str(target) in line
    assert workspace.digests() == before


def test_out_directory_holding_an_input_named_like_a_report(
    cli: Cli, workspace: Workspace, frame
) -> None:
    # A policy file named report.json in --out is an input: the JSON report must not replace it.
    data = workspace.table(frame)
    model = workspace.torchscript(default_module())
    config = workspace.text("report.json", "fail_on = 'high'\n")
    before = workspace.digests()
    line = cli.input_error(
        audit_args(model, data, workspace.root, "--config", str(config)),
        "report.json is an input of this audit",
        "--out",
    )
    assert str(config) in line
    assert workspace.digests() == before


def test_unknown_format(cli: Cli, workspace: Workspace, out: Path, frame) -> None:
    data = workspace.table(frame)
    model = workspace.torchscript(default_module())
    expect_input_error(
        cli,
        workspace,
        out,
        audit_args(model, data, out, "--format", "json,pdf"),
        "--format 'pdf'",
        "html, json",
    )


def test_unknown_output_kind(cli: Cli, workspace: Workspace, out: Path, frame) -> None:
    data = workspace.table(frame)
    model = workspace.torchscript(default_module())
    expect_input_error(
        cli,
        workspace,
        out,
        audit_args(model, data, out, "--output-kind", "odds"),
        "--output-kind 'odds'",
        "logits or probabilities",
    )


def test_predictions_with_nan(cli: Cli, workspace: Workspace, out: Path, frame) -> None:
    frame["decision"] = (frame["x2"] > 0).astype(float)
    frame.loc[[3, 9], "decision"] = np.nan
    data = workspace.table(frame)
    expect_input_error(
        cli,
        workspace,
        out,
        audit_args(None, data, out, "--predictions", "decision"),
        "predictions column 'decision'",
        "2 missing values",
        "data row 4",
    )


def test_scores_with_nan(cli: Cli, workspace: Workspace, out: Path, frame) -> None:
    frame["decision"] = (frame["x2"] > 0).astype(int)
    frame["risk"] = frame["x2"]
    frame.loc[11, "risk"] = np.nan
    data = workspace.table(frame)
    expect_input_error(
        cli,
        workspace,
        out,
        audit_args(None, data, out, "--predictions", "decision", "--scores", "risk"),
        "scores column 'risk'",
        "data row 12 is missing",
    )


@pytest.mark.parametrize(
    ("flag", "value", "needle"),
    [
        ("--threshold", "1.5", "--threshold"),
        ("--max", "demographic_parity_difference", "expected NAME=VALUE"),
        ("--max", "demographic_parity_difference=lots", "not a number"),
        ("--min", "accuracy_ratio=0.5", "unknown threshold metric 'accuracy_ratio'"),
        ("--fail-on", "severe", "fail_on"),
        ("--min-group-size", "0", "min_group_size"),
        ("--device", "tpu:0", "--device"),
    ],
)
def test_bad_option_values(
    cli: Cli, workspace: Workspace, out: Path, frame, flag: str, value: str, needle: str
) -> None:
    data = workspace.table(frame)
    model = workspace.torchscript(default_module())
    expect_input_error(cli, workspace, out, audit_args(model, data, out, flag, value), needle)


def test_contradicting_options(cli: Cli, workspace: Workspace, out: Path, frame) -> None:
    data = workspace.table(frame)
    model = workspace.torchscript(default_module())
    expect_input_error(
        cli,
        workspace,
        out,
        audit_args(model, data, out, "--predictions", "label"),
        "--predictions",
    )
    expect_input_error(
        cli,
        workspace,
        out,
        audit_args(None, data, out),
        "--predictions",
    )
    expect_input_error(
        cli,
        workspace,
        out,
        audit_args(model, data, out, sensitive="label"),
        "'label'",
        "sensitive",
    )


@pytest.mark.slow
def test_debug_shows_the_traceback(workspace: Workspace, tmp_path: Path) -> None:
    missing = workspace.root / "nowhere.csv"
    command = [
        sys.executable,
        "-c",
        "from audit.cli import main; main()",
        "run",
        str(missing),
        "--predictions",
        "p",
        "--target",
        "label",
        "--sensitive",
        "sex",
        "--out",
        str(tmp_path / "out"),
    ]
    plain = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, check=False)
    assert plain.returncode == 2
    assert "Traceback" not in plain.stderr
    assert plain.stderr.strip().splitlines() == [
        f"rai-audit: error: {missing}: data file not found; check the path"
    ]

    debug = subprocess.run(
        [*command, "--debug"], capture_output=True, text=True, cwd=tmp_path, check=False
    )
    assert "Traceback (most recent call last)" in debug.stderr
    assert "DataError" in debug.stderr
    assert "nowhere.csv: data file not found" in debug.stderr
    assert debug.returncode == 2


def test_gzip_input_is_not_rewritten(cli: Cli, workspace: Workspace, out: Path, frame) -> None:
    # A readable .csv.gz audit leaves the compressed bytes as they were.
    data = workspace.root / "data.csv.gz"
    with gzip.open(data, "wt", encoding="utf-8") as stream:
        stream.write(frame.to_csv(index=False))
    model = workspace.torchscript(default_module())
    before = workspace.digests()
    result = cli(*audit_args(model, data, out, "--format", "json"))
    assert result.exit_code in (0, 1), result.output
    assert workspace.digests() == before
    assert pd.read_csv(data).shape == frame.shape


def test_identifier_as_sensitive_column_is_refused_without_printing_its_values(
    cli: Cli, workspace: Workspace, out: Path, frame
) -> None:
    frame["email"] = [f"person{index}@example.org" for index in range(len(frame))]
    data = workspace.table(frame)
    model = workspace.torchscript(default_module())
    result = cli(*audit_args(model, data, out, sensitive="email"))
    assert result.exit_code == 2, result.output
    assert "sensitive column 'email'" in result.stderr
    assert "max_groups (100)" in result.stderr
    assert "@example.org" not in result.output
    assert not out.exists() or not any(out.iterdir())
