"""One factorization per column, shared by the encoder and the explanation stage."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import adult_request

from audit.core.prepare import prepare
from audit.data.table import ColumnCodes
from audit.explain.copies import _read as copies_read
from audit.explain.results import Explanations
from audit.explain.stage import ExplainStage
from audit.models.features import CategoricalInput

MISSING_AT = [None, 0, 3, 7]  # where a column's first missing value is, if any


def _column(kind: str, first_missing: int | None) -> pd.Series:
    rng = np.random.default_rng(5)
    values: list[object] = list(rng.choice(["b", "a", "c", "d"], size=12))
    if kind == "number":
        values = [float(ord(str(value))) for value in values]
    if first_missing is not None:
        for position in (first_missing, 10):
            values[position] = None
    series = pd.Series(values)
    return series.astype("string[pyarrow]") if kind == "arrow text" else series


@pytest.mark.parametrize("first_missing", MISSING_AT)
@pytest.mark.parametrize("kind", ["arrow text", "object text", "number"])
def test_the_shared_codes_are_pandas_own(kind: str, first_missing: int | None) -> None:
    frame = pd.DataFrame({"column": _column(kind, first_missing)})
    shared = ColumnCodes(frame)
    codes, distinct = pd.factorize(frame["column"], use_na_sentinel=True)
    found, found_distinct = shared.factorized("column")
    np.testing.assert_array_equal(found, codes)
    assert list(found_distinct) == list(distinct)
    # A missing value as a value of its own, numbered where it first occurs, as pandas does.
    with_missing, width = pd.factorize(frame["column"], use_na_sentinel=False)
    found_with_missing, found_width = shared.with_missing("column")
    np.testing.assert_array_equal(found_with_missing, with_missing)
    assert found_width == len(width)


def test_a_column_is_factorized_once(monkeypatch: pytest.MonkeyPatch) -> None:
    frame = pd.DataFrame({"a": ["x", "y", "x"], "b": ["u", "u", "v"]})
    shared = ColumnCodes(frame)
    calls: list[int] = []
    factorize = pd.factorize

    def counted(values: pd.Series, **options: bool) -> tuple[np.ndarray, pd.Index]:
        calls.append(len(values))
        return factorize(values, **options)

    monkeypatch.setattr(pd, "factorize", counted)
    for _ in range(3):
        shared.factorized("a")
        shared.with_missing("a")
    shared.factorized("b")
    assert calls == [3, 3]


def _count_factorizations(monkeypatch: pytest.MonkeyPatch, rows: int) -> list[str]:
    """The names of the columns of ``rows`` rows that pd.factorize codes from now on."""
    made: list[str] = []
    factorize = pd.factorize

    def counted(values: pd.Series, **options: bool) -> tuple[np.ndarray, pd.Index]:
        if len(values) == rows:
            made.append(str(getattr(values, "name", "")))
        return factorize(values, **options)

    monkeypatch.setattr(pd, "factorize", counted)
    return made


def test_prefetch_codes_the_shared_columns_once_on_threads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    frame = pd.DataFrame(
        {
            "text": pd.Series(["x", "y", "x", None], dtype="str"),
            "count": [3, 1, 3, 2],
            "mixed": pd.Series([1, "1", None, 1.0], dtype=object),  # codes of its own
            "number": [0.0, -0.0, 1.5, 0.0],  # codes of its own
        }
    )
    made = _count_factorizations(monkeypatch, len(frame))
    ColumnCodes(frame).prefetch(["text", "count"], threads=1)
    assert made == []  # one thread: made when first read, as before
    shared = ColumnCodes(frame)
    shared.prefetch(["text", "count", "text", "mixed", "number", "absent"], threads=2)
    assert sorted(made) == ["count", "text"]
    for column in ("text", "count"):
        codes, distinct = shared.factorized(column)
        expected, expected_distinct = pd.factorize(frame[column], use_na_sentinel=True)
        np.testing.assert_array_equal(codes, expected)
        assert list(distinct) == list(expected_distinct)
    assert sorted(made) == ["count", "count", "text", "text"]  # the two references above


def test_preparing_an_audit_codes_each_column_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The target, the groups and the model's encoder share one factorization per column."""
    rows = len(pd.read_csv(adult_request().data))
    made = _count_factorizations(monkeypatch, rows)
    prepared = prepare(adult_request(), 2, None)
    metadata = prepared.model.metadata
    assert metadata is not None
    encoded = [spec.column for spec in metadata.features if isinstance(spec, CategoricalInput)]
    assert {"sex", "race"} <= set(encoded)
    assert sorted(made) == sorted(["income", *encoded])


def test_codes_of_another_frame_are_refused() -> None:
    frame = pd.DataFrame({"a": ["x"]})
    shared = ColumnCodes(frame)
    assert ColumnCodes.of(frame, shared) is shared
    assert ColumnCodes.of(frame, None).frame is frame
    with pytest.raises(ValueError, match="another frame"):
        ColumnCodes.of(frame.copy(), shared)


def test_the_explanation_stage_reuses_the_encoders_codes(monkeypatch: pytest.MonkeyPatch) -> None:
    prepared = prepare(adult_request(), 1, None)
    shared = prepared.data.codes
    assert shared.frame is prepared.data.frame
    metadata = prepared.model.metadata
    assert metadata is not None
    encoded = {spec.column for spec in metadata.features if isinstance(spec, CategoricalInput)}
    before = {column: shared.factorized(column)[0] for column in encoded}
    # Of the audited rows only, not the flip test's re-encoded ones.
    made = _count_factorizations(monkeypatch, prepared.data.rows)
    outcome = ExplainStage().run(prepared, {})
    assert isinstance(outcome.report, Explanations) and outcome.report.status == "ok"
    assert any(item.measure == "cramers_v" for item in outcome.report.associations)
    # The associations, the encoded copies and the flip test's values of each group coded no
    # encoded column again.
    assert {"sex", "race"} <= encoded
    assert not (set(made) & encoded)
    assert all(shared.factorized(column)[0] is before[column] for column in encoded)


@pytest.mark.parametrize("values", [127, 128, 40_000])
def test_codes_are_held_small_and_still_hold_every_value(values: int) -> None:
    # The missing value comes last, so with_missing numbers it ``values``: the largest code.
    column = pd.Series([f"v{index}" for index in range(values)] + [None], dtype="string[pyarrow]")
    shared = ColumnCodes(pd.DataFrame({"column": column}))
    codes, _ = shared.factorized("column")
    assert codes.dtype.itemsize == (1 if values <= 127 else 2 if values <= 32_767 else 4)
    with_missing, width = shared.with_missing("column")
    expected, distinct = pd.factorize(column, use_na_sentinel=False)
    np.testing.assert_array_equal(with_missing, expected)
    assert width == len(distinct) == values + 1


@pytest.mark.parametrize(
    ("values", "indicator"),
    [([0, 1, 1], True), ([1, 1], True), ([0, None, 1], False), ([0, None], False), ([0, 2], False)],
)
def test_an_indicator_column_has_no_missing_value(
    values: list[int | None], indicator: bool
) -> None:
    frame = pd.DataFrame({"flag": pd.Series(values, dtype="Float64")})
    read = copies_read(ColumnCodes(frame), "flag")
    assert (read.hot is not None) == indicator
    np.testing.assert_array_equal(read.codes, pd.factorize(frame["flag"], use_na_sentinel=False)[0])
