"""The PII detector against its labelled corpus: precision and recall of every kind.

tests/fixtures/pii_corpus/corpus.json.gz holds 482 columns (a name, a sample of values and
the true kind, or "none"): the shared data sets' columns, two COMPAS-shaped tables, fake PII
of every kind pii.toml knows and look-alikes (README.md beside it). Every column is scanned
on its own, as a one-column table; a column counts as detected for each kind the scan reports
for it, at any confidence. The scores are counted here, not by the benchmark's code.
"""

from __future__ import annotations

import gzip
import json
from collections import Counter
from functools import cache
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from audit import AuditRequest, run_audit
from audit.core.registry import CHECKS
from audit.privacy.pii import knowledge, scan_frame

CORPUS = Path(__file__).parent / "fixtures" / "pii_corpus" / "corpus.json.gz"
TARGET = 0.95


@cache
def corpus() -> tuple[dict[str, Any], ...]:
    return tuple(json.loads(gzip.decompress(CORPUS.read_bytes())))


def frame_of(entry: dict[str, Any]) -> pd.DataFrame:
    return pd.DataFrame({entry["column"]: pd.Series(entry["values"])})


def detected(entry: dict[str, Any]) -> set[str]:
    """The pii.toml kinds (type keys) the scan reports for one corpus column."""
    return {detection.scheme for detection in scan_frame(frame_of(entry), seed=0).detections}


@cache
def outcomes() -> tuple[tuple[dict[str, Any], frozenset[str]], ...]:
    return tuple((entry, frozenset(detected(entry))) for entry in corpus())


def entry(source: str, column: str) -> dict[str, Any]:
    (found,) = [e for e in corpus() if e["source"] == source and e["column"] == column]
    return found


def test_the_corpus_has_300_columns_and_every_kind_the_detector_knows() -> None:
    labels = Counter(e["kind"] for e in corpus())
    kinds = {pii.key for pii in knowledge()[1]}
    assert len(corpus()) >= 300
    assert set(labels) == kinds | {"none"}
    assert min(labels[kind] for kind in kinds) >= 5
    assert labels["none"] >= 150  # look-alikes and real columns without PII
    assert all(20 <= len(e["values"]) <= 50 for e in corpus())


def test_precision_and_recall_of_every_kind_reach_the_target() -> None:
    true_positive: Counter[str] = Counter()
    false_positive: dict[str, list[str]] = {}
    missed: dict[str, list[str]] = {}
    for column, found in outcomes():
        label = f"{column['source']}: {column['column']}"
        for kind in found:
            if kind == column["kind"]:
                true_positive[kind] += 1
            else:
                false_positive.setdefault(kind, []).append(label)
        if column["kind"] != "none" and column["kind"] not in found:
            missed.setdefault(column["kind"], []).append(label)
    for kind in {pii.key for pii in knowledge()[1]}:
        hits = true_positive[kind]
        wrong, lost = false_positive.get(kind, []), missed.get(kind, [])
        assert hits / (hits + len(wrong)) >= TARGET, (kind, "false positives", wrong)
        assert hits / (hits + len(lost)) >= TARGET, (kind, "missed", lost)


@pytest.mark.parametrize("source", ["COMPAS-shaped, as published", "COMPAS-shaped, cleaned export"])
def test_compas_names_and_birth_dates_are_found_and_its_event_dates_are_not(source: str) -> None:
    found = {e["column"]: kinds for e, kinds in outcomes() if e["source"] == source}
    # first and last are short names, and as published the values are lower case.
    assert found["name"] == found["first"] == found["last"] == {"person_name"}
    assert found["dob"] == {"date_of_birth"}
    assert found["race"] == {"special_category"}
    for column in ("screening_date", "compas_screening_date", "c_offense_date", "c_jail_in"):
        assert found[column] == set(), column


def test_a_score_named_zip_is_no_postcode_and_a_zip_of_codes_is() -> None:
    zip_score = entry("look-alike", "zip_score")
    assert all(isinstance(v, float) and 0 <= v <= 1 for v in zip_score["values"])
    assert detected(zip_score) == set()
    assert detected({**zip_score, "column": "zip"}) == set()  # a hint does not make it one
    (zip_codes,) = [e for e in corpus() if e["column"] == "zip" and e["kind"] == "postcode"]
    scan = scan_frame(frame_of(zip_codes), seed=0)
    assert [(d.scheme, d.confidence, d.basis) for d in scan.detections] == [
        ("postcode", "high", "name and values")
    ]


def test_a_date_column_is_a_birth_date_by_its_values_and_name() -> None:
    dob = entry("COMPAS-shaped, as published", "dob")
    screening = entry("look-alike", "screening_date")
    # The same birth dates under a plain name still read as birth dates (medium); under an
    # event's name they do not. Recent dates under a birth hint are children's birth dates.
    assert detected({**dob, "column": "d1"}) == {"date_of_birth"}
    assert detected({**dob, "column": "admission_date"}) == set()
    assert detected(screening) == set()
    assert detected({**screening, "column": "date"}) == set()  # two years, not decades
    assert detected({**screening, "column": "dob"}) == {"date_of_birth"}  # children's


def test_compas_names_and_birth_dates_are_findings_a_reviewer_sees(tmp_path: Path) -> None:
    table = pd.DataFrame(
        {e["column"]: e["values"] for e in corpus() if e["source"] == "COMPAS-shaped, as published"}
    )
    data = tmp_path / "compas.csv"
    table.to_csv(data, index=False)
    request = AuditRequest(
        data=data,
        target="two_year_recid",
        sensitive=("race",),
        predictions="is_recid",
        search_config=False,
        policy_overrides={"n_boot": 20},
    )
    checks = [check for check in CHECKS if check.id == "privacy.pii_in_data"]
    result = run_audit(request, checks)
    severity = {f.evidence.feature[0]: f.severity.value for f in result.findings}
    for column in ("name", "first", "last", "dob"):
        assert severity[column] == "low", column
    assert severity["race"] == "info"  # the --sensitive column the fairness checks need
    assert not {"screening_date", "c_jail_in", "c_charge_desc", "sex", "age"} & set(severity)
    shown = json.dumps([f.evidence.details for f in result.findings])
    for column in ("name", "first", "last"):
        assert not any(str(value) in shown for value in table[column].dropna())
