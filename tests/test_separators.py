"""CSV separators: detected from the first lines, overridden with --sep, hinted when wrong."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pandas as pd
import pytest
from conftest import FAST_N_BOOT, Cli, Workspace, assert_one_line_error, make_frame

from audit.data.table import csv_separator, read_table


def write(path: Path, frame: pd.DataFrame, sep: str) -> Path:
    text = frame.to_csv(index=False, sep=sep)
    if path.name.endswith(".gz"):
        path.write_bytes(gzip.compress(text.encode("utf-8")))
    else:
        path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("sep", [",", ";", "\t", "|"])
@pytest.mark.parametrize("name", ["data.csv", "data.csv.gz"])
def test_each_separator_is_detected_and_read(tmp_path: Path, sep: str, name: str) -> None:
    frame = make_frame(rows_per_cell=5)
    path = write(tmp_path / name, frame, sep)
    assert csv_separator(path, "utf-8") == sep
    pd.testing.assert_frame_equal(read_table(path), frame)


def test_a_separator_inside_quoted_values_does_not_win(tmp_path: Path) -> None:
    # Every note holds two semicolons and a pipe; the comma still splits every line alike.
    frame = make_frame(rows_per_cell=5).assign(note="a; b; c | d")
    path = write(tmp_path / "data.csv", frame, ",")
    assert csv_separator(path, "utf-8") == ","
    pd.testing.assert_frame_equal(read_table(path), frame)


def test_one_column_falls_back_to_comma_and_sep_overrides(tmp_path: Path) -> None:
    path = tmp_path / "one.csv"
    path.write_text("label\n1\n0\n", encoding="utf-8")
    assert csv_separator(path, "utf-8") == ","
    assert csv_separator(path, "utf-8", ";") == ";"
    semicolons = write(tmp_path / "semi.csv", make_frame(rows_per_cell=5), ";")
    assert list(read_table(semicolons, sep=",").columns) == ["x2;sex;x1;group;label;note"]


def audit_args(data: Path, out: Path, *extra: str) -> list[str]:
    return [
        "run",
        str(data),
        *("--predictions", "label", "--target", "label", "--sensitive", "sex,group"),
        *("--out", str(out), "--n-boot", str(FAST_N_BOOT), "--format", "json", *extra),
    ]


@pytest.mark.parametrize("chunked", [False, True])
def test_a_semicolon_file_audits_like_its_comma_twin(
    cli: Cli, workspace: Workspace, tmp_path: Path, chunked: bool
) -> None:
    frame = make_frame(rows_per_cell=40, bias=1.0)
    reports = []
    for sep, name in ((",", "comma.csv"), (";", "semi.csv")):
        data = write(workspace.root / name, frame, sep)
        out = tmp_path / f"out-{name}"
        extra = ("--chunk-rows", "50") if chunked else ()
        result = cli(*audit_args(data, out, *extra))
        assert result.exit_code in (0, 1), (result.output, result.exception)
        reports.append(json.loads((out / "report.json").read_text("utf-8")))
    assert reports[0]["groups"] == reports[1]["groups"]
    assert reports[0]["disparities"] == reports[1]["disparities"]


def test_a_wrong_sep_gets_a_hint(cli: Cli, workspace: Workspace, tmp_path: Path) -> None:
    data = write(workspace.root / "semi.csv", make_frame(rows_per_cell=5), ";")
    result = cli(*audit_args(data, tmp_path / "out", "--sep", ","))
    assert_one_line_error(result, "semi.csv", "no column 'label'", "pass --sep ';'")
    result = cli(*audit_args(data, tmp_path / "out", "--sep", "tab"))
    assert_one_line_error(result, "semi.csv", "pass --sep ';'")
    result = cli(*audit_args(data, tmp_path / "out", "--sep", ";;"))
    assert_one_line_error(result, "--sep ';;' must be one character")
