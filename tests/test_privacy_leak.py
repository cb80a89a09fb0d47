"""THE LEAK TEST: no report, in any format, contains a personal value from its input.

The full CLI runs with every output format installed (``reports.available_formatters()``)
on data with planted PII of every type, plus training rows for membership inference; then
every byte of every output file is searched for every planted value and its simple
variants (digits only, without separators, lower case).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
from conftest import FAST_N_BOOT, Cli, Workspace, linear
from test_privacy_pii import EXPECTED, planted_frame

from reports import available_formatters

EMAIL = re.compile(r"[\w.+-]+@[\w.-]+\.\w+")


def with_features(frame: pd.DataFrame, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = frame.copy()
    frame["x1"] = rng.normal(size=len(frame)).round(4)
    frame["x2"] = rng.normal(size=len(frame)).round(4)
    frame["zip3"] = rng.integers(100, 999, len(frame))  # derived from a postcode: an input
    return frame


def variants(value: str) -> set[str]:
    found = {value, value.lower(), re.sub(r"[\s.\-()/+]", "", value)}
    digits = re.sub(r"\D", "", value)
    if len(digits) >= 7:
        found.add(digits)
    return {item for item in found if len(item) >= 6}


def planted_values(frames: list[pd.DataFrame]) -> set[str]:
    values: set[str] = set()
    for frame in frames:
        for column in EXPECTED:
            values.update(str(value) for value in frame[column])
        for note in frame["notes"]:
            values.update(EMAIL.findall(note))
    return {variant for value in values for variant in variants(value)}


def test_no_output_format_contains_a_planted_value(
    cli: Cli, workspace: Workspace, tmp_path: Path
) -> None:
    audited = with_features(planted_frame(rows=160, seed=10), seed=1)
    members = with_features(planted_frame(rows=160, seed=11), seed=2)
    data, train = workspace.table(audited), workspace.table(members, "train.csv")
    model = workspace.torchscript(linear([[0.0, 0.0, 0.0], [1.0, 0.5, 0.001]], [0.0, 0.0]))
    # The ll144 pack needs a race column and its metadata flags; it holds group labels and
    # counts only (tests/test_ll144.py).
    formats = sorted(set(available_formatters()) - {"ll144"})
    out = tmp_path / "out"
    result = cli(
        "run",
        model,
        data,
        "--target",
        "label",
        "--sensitive",
        "sex",
        "--features",
        "x2,x1,zip3",
        "--train-data",
        train,
        "--format",
        ",".join(formats),
        "--n-boot",
        str(FAST_N_BOOT),
        "--explain-samples",
        "40",
        "--out",
        out,
    )
    assert result.exit_code in (0, 1), (result.output, result.exception)
    outputs = sorted(path for path in out.iterdir() if path.is_file())
    assert len(outputs) == len(formats)
    secrets = planted_values([audited, members])
    assert len(secrets) > 2000
    # The search finds the values where they are: in the input.
    assert sum(secret in data.read_text("utf-8") for secret in secrets) > 1000
    for path in outputs:
        text = path.read_bytes().decode("utf-8")
        leaked = sorted(secret for secret in secrets if secret in text)
        assert not leaked, f"{path.name} contains planted values: {leaked[:5]}"
    # Not vacuous: the report did find the planted data and shows it masked.
    document = json.loads((out / "report.json").read_text("utf-8"))
    detections = document["privacy"]["pii"]["detections"]
    assert {d["column"] for d in detections} >= set(EXPECTED) | {"notes", "zip3"}
    assert all("*" in d["masked_example"] for d in detections if d["masked_example"])
    assert document["privacy"]["membership"]["status"] == "ok"
    checks = {finding["check"] for finding in document["findings"]}
    assert {"privacy.pii_in_data", "privacy.pii_model_input"} <= checks
    # The terminal summary leaks nothing either.
    assert not [secret for secret in secrets if secret in result.output]
