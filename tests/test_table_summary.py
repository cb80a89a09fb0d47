"""Column summaries: a file's chunks, summarized and merged, prepare the target and sensitive
columns exactly as the whole column does, down to the error messages and their rows."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from audit.core.errors import DataError
from audit.data.table import (
    ColumnCodes,
    ColumnSummary,
    SensitiveColumn,
    Target,
    apply_sensitive,
    apply_target,
    counted_quantiles,
    fit_sensitive,
    fit_target,
    merge_summaries,
    prepare_sensitive,
    prepare_target,
    read_table,
    summarize,
)
from audit.stream.reader import iter_chunks

ADULT = Path(__file__).resolve().parents[1] / "examples" / "adult" / "test.csv.gz"
MAX_CATEGORIES, QUANTILE_BANDS = 10, 4


def merged(chunks: Sequence[pd.DataFrame], columns: list[str]) -> dict[str, ColumnSummary]:
    starts = np.cumsum([0, *map(len, chunks)])
    return functools.reduce(
        merge_summaries,
        (
            summarize(chunk, columns, int(start))
            for chunk, start in zip(chunks, starts, strict=False)
        ),
    )


def prepared_in_chunks(
    path: Path,
    chunk_rows: int,
    target: str,
    positive_label: str | None,
    sensitive: list[str],
    bins: dict[str, list[float]],
    max_groups: int = 100,
) -> tuple[Target, list[SensitiveColumn]]:
    """What a streamed audit does: summarize, merge, fit once, apply to every chunk."""
    chunks = list(iter_chunks(path, chunk_rows, "utf-8"))
    summaries = merged(chunks, [target, *sensitive])
    target_encoding = fit_target(summaries, target, positive_label, path)
    encodings = fit_sensitive(
        summaries, sensitive, bins, MAX_CATEGORIES, QUANTILE_BANDS, path, max_groups
    )
    y = np.concatenate([apply_target(target_encoding, chunk[target]) for chunk in chunks])
    columns = [
        SensitiveColumn(
            name=encoding.name,
            codes=np.concatenate(
                [apply_sensitive(encoding, chunk[encoding.name]) for chunk in chunks]
            ),
            groups=encoding.groups,
            binning=encoding.binning,
        )
        for encoding in encodings
    ]
    return Target(y, target_encoding.positive_label, target_encoding.labels), columns


def prepared_whole(
    path: Path,
    target: str,
    positive_label: str | None,
    sensitive: list[str],
    bins: dict[str, list[float]],
    max_groups: int = 100,
    shared_codes: bool = False,
) -> tuple[Target, list[SensitiveColumn]]:
    """The whole file prepared; with ``shared_codes``, from one ColumnCodes as an audit does."""
    frame = read_table(path)
    codes = ColumnCodes(frame) if shared_codes else None
    return prepare_target(frame, target, positive_label, path, codes), prepare_sensitive(
        frame, sensitive, bins, MAX_CATEGORIES, QUANTILE_BANDS, path, max_groups, codes
    )


def outcome(prepare: Callable[[], tuple[Target, list[SensitiveColumn]]]) -> Any:
    """The preparation as plain values, or the error's message."""
    try:
        target, columns = prepare()
    except DataError as error:
        return str(error)
    return (
        (target.y.dtype, target.y.tolist(), target.positive_label, target.labels),
        [(c.name, c.codes.dtype, c.codes.tolist(), c.groups, c.binning) for c in columns],
    )


def chunked_and_whole(
    path: Path,
    chunk_rows: int,
    target: str,
    positive_label: str | None,
    sensitive: list[str],
    bins: dict[str, list[float]] | None = None,
    max_groups: int = 100,
) -> Any:
    """The outcome of the streamed preparation, checked equal to the whole file's, prepared
    with and without shared column codes."""
    args = (target, positive_label, sensitive, bins or {})
    chunked = outcome(lambda: prepared_in_chunks(path, chunk_rows, *args, max_groups=max_groups))
    for shared in (False, True):
        whole = functools.partial(prepared_whole, path, *args, max_groups, shared)
        assert chunked == outcome(whole)
    return chunked


def summary_fields(summary: ColumnSummary) -> tuple[Any, ...]:
    return (
        summary.column,
        summary.values.dtype,
        [str(value) for value in summary.values],
        [type(value) for value in summary.values],
        summary.counts.dtype,
        summary.counts.tolist(),
        summary.first_rows.dtype,
        summary.first_rows.tolist(),
        summary.missing,
        summary.missing_first_row,
        summary.numeric,
    )


def test_counted_quantiles_equal_nanquantile_on_the_rows() -> None:
    rng = np.random.default_rng(11)
    for case in range(400):
        n = int(np.exp(rng.uniform(0, np.log(100_000))))
        if case % 2:
            rows = rng.integers(-20, rng.integers(1, 500), n).astype(float)
        else:  # rounded: ties, and -0.0 next to 0.0
            rows = np.round(rng.normal(0, 3, n), int(rng.integers(0, 4)))
        rows[rng.random(n) < rng.choice([0, 0.3])] = np.nan
        if case % 17 == 0:
            rows[rng.random(n) < 0.01] = np.inf
        if np.isnan(rows).all():
            rows[0] = 1.5
        bands = int(rng.integers(2, 11))
        quantiles = np.linspace(0, 1, bands + 1)[1:-1] if case % 5 else np.linspace(0, 1, bands)
        summary = summarize(pd.DataFrame({"x": rows}), ["x"], first_row=0)["x"]
        with np.errstate(invalid="ignore"):  # inf - inf, in numpy's lerp as in ours
            ours = counted_quantiles(summary.values.to_numpy(float), summary.counts, quantiles)
            expected = np.nanquantile(rows, quantiles)
        # Equal (==, NaN with NaN), not close: the same floating-point operations.
        assert ours.dtype == expected.dtype
        np.testing.assert_array_equal(ours, expected, err_msg=f"case {case}, {n} rows")


def mixed_frame(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    text = pd.Series(rng.choice(["a", "b", " a", "c"], rows), dtype="str")
    text[rng.random(rows) < 0.2] = np.nan
    numbers = rng.choice([0.0, -0.0, 0.5, 2.0, np.nan], rows)
    mixed = np.array([1, "1", 1.0, True, "x", None], dtype=object)[rng.integers(0, 6, rows)]
    return pd.DataFrame(
        {
            "text": text,
            "count": rng.integers(0, 50, rows),
            "number": numbers,
            "flag": rng.random(rows) < 0.3,
            "category": pd.Categorical(rng.choice(["u", "v", "w"], rows)),
            "mixed": pd.Series(mixed, dtype=object),
        }
    )


def test_merged_summaries_of_random_splits_equal_the_whole_summary() -> None:
    rng = np.random.default_rng(3)
    frame = mixed_frame(2000, seed=4)
    columns = list(frame.columns)
    whole = summarize(frame, columns, first_row=0)
    # Independent counts: value_counts and the first position of each value.
    assert dict(zip(whole["text"].values, whole["text"].counts.tolist(), strict=True)) == (
        frame["text"].value_counts().to_dict()
    )
    assert whole["text"].missing == frame["text"].isna().sum()
    assert whole["text"].missing_first_row == int(np.flatnonzero(frame["text"].isna())[0])
    assert whole["count"].first_rows.tolist() == [
        int(np.flatnonzero(frame["count"] == value)[0]) for value in whole["count"].values
    ]
    # Pandas holds these equal; their labels differ, so they stay apart.
    assert sorted(map(str, whole["number"].values)) == ["-0.0", "0.0", "0.5", "2.0"]
    assert sorted(map(repr, whole["mixed"].values)) == ["'1'", "'x'", "1", "1.0", "True"]
    # From the frame's shared column codes (an audit's), the same summaries.
    shared = summarize(frame, columns, 0, ColumnCodes(frame))
    for column in columns:
        assert summary_fields(shared[column]) == summary_fields(whole[column])
    for _ in range(20):
        cuts = sorted(rng.choice(np.arange(1, len(frame)), int(rng.integers(1, 12)), replace=False))
        starts, ends = [0, *cuts], [*cuts, len(frame)]
        parts = [
            summarize(frame.iloc[start:end], columns, first_row=start)
            for start, end in zip(starts, ends, strict=True)
        ]
        # In any order: workers finish when they finish.
        shuffled = [parts[i] for i in rng.permutation(len(parts))]
        for merged_parts in (
            functools.reduce(merge_summaries, shuffled),
            functools.reduce(merge_summaries, parts[::-1]),
        ):
            for column in columns:
                assert summary_fields(merged_parts[column]) == summary_fields(whole[column])


def test_merging_numbers_with_text_makes_them_text() -> None:
    numbers = summarize(pd.DataFrame({"c": [25, 30, 25]}), ["c"], first_row=3)
    floats = summarize(pd.DataFrame({"c": [25.0, 2.5]}), ["c"], first_row=6)
    text = summarize(pd.DataFrame({"c": pd.Series(["25", "x"], dtype="str")}), ["c"], first_row=0)
    flags = summarize(pd.DataFrame({"c": [True]}), ["c"], first_row=8)
    for order in ([numbers, floats, text, flags], [flags, text, floats, numbers]):
        summary = functools.reduce(merge_summaries, order)["c"]
        assert not summary.numeric
        assert list(summary.values) == ["25", "x", "30", "2.5", "True"]
        assert summary.counts.tolist() == [4, 1, 1, 1, 1]
        assert summary.first_rows.tolist() == [0, 1, 4, 7, 8]
    numeric = merge_summaries(numbers, floats)["c"]
    assert numeric.numeric and numeric.values.dtype == np.float64
    with pytest.raises(ValueError, match="summaries of different columns"):
        merge_summaries(numbers, summarize(pd.DataFrame({"d": [1]}), ["d"], first_row=0))


def test_adult_test_split_prepared_in_chunks_as_whole(tmp_path: Path) -> None:
    sensitive = ["sex", "race", "age", "hours-per-week"]
    bins = {"age": [25.0, 45.0, 65.0]}
    prepared = chunked_and_whole(ADULT, 3000, "income", ">50K", sensitive, bins)
    (y_dtype, y, positive, labels), columns = prepared
    # Against the file, prepared by hand with numpy and pandas.
    frame = pd.read_csv(ADULT)
    assert (y_dtype, positive, labels) == (np.int8, ">50K", ("<=50K", ">50K"))
    assert y == (frame["income"] == ">50K").astype(int).tolist()
    by_name = {name: (codes, groups, binning) for name, _, codes, groups, binning in columns}
    for name in ("sex", "race"):
        codes, groups, binning = by_name[name]
        assert groups == tuple(sorted(frame[name].unique())) and binning is None
        assert codes == [groups.index(value) for value in frame[name]]
    codes, groups, binning = by_name["age"]
    assert groups == ("<25", "25-45", "45-65", ">=65") and binning == "bands at 25, 45, 65"
    assert codes == np.searchsorted([25, 45, 65], frame["age"], side="right").tolist()
    codes, groups, binning = by_name["hours-per-week"]
    hours = frame["hours-per-week"].to_numpy()
    edges = sorted(set(np.quantile(hours, [0.25, 0.5, 0.75]).tolist()))
    assert binning == "4 quantile bands at " + ", ".join(f"{edge:g}" for edge in edges)
    band = np.searchsorted(edges, hours, side="right")
    assert codes == np.unique(band, return_inverse=True)[1].tolist()
    assert len(groups) == len(np.unique(band))
    # The chunks' summaries are the whole column's.
    chunks = list(iter_chunks(ADULT, 3000, "utf-8"))
    assert len(chunks) == 6
    columns_read = ["income", *sensitive]
    whole = summarize(read_table(ADULT), columns_read, first_row=0)
    for column, summary in merged(chunks, columns_read).items():
        assert summary_fields(summary) == summary_fields(whole[column])


def write(tmp_path: Path, header: str, rows: list[str]) -> Path:
    path = tmp_path / "data.csv"
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def test_missing_values_in_a_later_chunk_are_the_missing_group(tmp_path: Path) -> None:
    # Chunks of 3 rows: the third chunk's group column is empty, so it parses as numbers.
    groups = ["a", "b", "a", "b", "", "a", "", "", ""]
    path = write(tmp_path, "y,group", [f"{i % 2},{g}" for i, g in enumerate(groups)])
    _, [(_, _, codes, names, _)] = chunked_and_whole(path, 3, "y", None, ["group"])
    assert names == ("a", "b", "missing")
    assert codes == [{"a": 0, "b": 1, "": 2}[g] for g in groups]


def test_booleans_and_numeric_labels(tmp_path: Path) -> None:
    rows = ["True,1,True", "False,0,False", "True,1.0,True", "False,0.0,"]
    path = write(tmp_path, "flag,label,maybe", rows)
    # Chunk one parses label as int, chunk two as float; the whole file parses it as float.
    prepared = chunked_and_whole(path, 2, "label", None, ["flag", "maybe"])
    (_, y, positive, labels), [flag, maybe] = prepared
    assert (y, positive, labels) == ([1, 0, 1, 0], "1", ("0", "1"))
    assert flag[2:4] == ([1, 0, 1, 0], ("false", "true"))
    # A boolean column with a gap is text in the whole file: True, not true.
    assert maybe[2:4] == ([1, 0, 1, 2], ("False", "True", "missing"))
    (_, y, positive, _), _ = chunked_and_whole(path, 2, "flag", None, ["label"])
    assert (y, positive) == ([1, 0, 1, 0], "true")


def test_numbers_in_one_chunk_meet_their_text_in_another(tmp_path: Path) -> None:
    values = ["25", "30", "25", "unknown", "25", "30.0"]
    path = write(tmp_path, "y,age", [f"{i % 2},{v}" for i, v in enumerate(values)])
    _, [(_, _, codes, groups, _)] = chunked_and_whole(path, 3, "y", None, ["age"])
    assert groups == ("25", "30", "30.0", "unknown")
    assert codes == [0, 1, 0, 3, 0, 2]


def test_numeric_column_with_gaps_in_one_chunk_gets_the_whole_columns_bands(
    tmp_path: Path,
) -> None:
    rng = np.random.default_rng(5)
    hours = rng.integers(1, 80, 600).astype(object)
    hours[rng.random(600) < 0.1] = ""
    hours[:200] = rng.integers(1, 80, 200)  # the first chunk has no gaps: int64 there
    path = write(tmp_path, "y,hours", [f"{i % 2},{h}" for i, h in enumerate(hours)])
    _, [(_, _, codes, groups, binning)] = chunked_and_whole(path, 200, "y", None, ["hours"])
    numbers = pd.to_numeric(pd.Series(hours), errors="coerce").to_numpy()
    edges = sorted(set(np.nanquantile(numbers, [0.25, 0.5, 0.75]).tolist()))
    assert binning == "4 quantile bands at " + ", ".join(f"{edge:g}" for edge in edges)
    assert groups[-1] == "missing" and len(groups) == len(edges) + 2
    expected = np.where(np.isnan(numbers), len(edges) + 1, np.searchsorted(edges, numbers, "right"))
    assert codes == expected.tolist()


def test_bins_name_a_text_value_in_a_later_chunk_by_its_data_row(tmp_path: Path) -> None:
    ages = ["30", "41", "18", "52", "66", "29", "unknown", "35", "n/a", "40"]
    path = write(tmp_path, "y,age", [f"{i % 2},{a}" for i, a in enumerate(ages)])
    message = chunked_and_whole(path, 3, "y", None, ["age"], bins={"age": [25.0, 45.0]})
    assert message == (
        f"{path}: --bins needs numbers, but column 'age' holds 'unknown' in data row 7; "
        "drop --bins for it"
    )


def test_bins_unknown_column_and_too_many_groups(tmp_path: Path) -> None:
    path = write(
        tmp_path, "y,id,sex", [f"{i % 2},person{i % 150},{'fm'[i % 2]}" for i in range(400)]
    )
    message = chunked_and_whole(path, 64, "y", None, ["sex", "id"])
    assert message.startswith(
        f"{path}: sensitive column 'id' has 150 distinct values, more than max_groups (100)"
    )
    assert chunked_and_whole(path, 64, "y", None, ["sex", "id"], max_groups=150) != message
    message = chunked_and_whole(path, 64, "y", None, ["sex"], bins={"age": [1.0]})
    assert (
        message == "--bins names 'age', which is not a --sensitive column; sensitive columns: sex"
    )


@pytest.mark.parametrize(
    ("labels", "positive_label", "expected"),
    [
        (["1", "0", "1", "", "0", ""], None, "has 2 missing values (first in data row 4)"),
        (["yes", "yes", "yes", "yes", "yes"], None, "has one class only ('yes')"),
        (["a", "b", "a", "c", "b"], None, "has 3 classes ('a', 'b', 'c')"),
        (["a", "b", "a", "b", "b"], None, "cannot tell which value"),
        (["a", "b", "a", "b", "b"], "c", "--positive-label 'c' is not a value"),
    ],
)
def test_target_errors_are_the_whole_files(
    tmp_path: Path, labels: list[str], positive_label: str | None, expected: str
) -> None:
    path = write(tmp_path, "y,sex", [f"{label},f" for label in labels])
    message = chunked_and_whole(path, 2, "y", positive_label, ["sex"])
    assert isinstance(message, str) and expected in message


def test_a_value_the_fit_never_saw_is_an_error() -> None:
    frame = pd.DataFrame({"y": ["no", "yes"], "sex": ["f", "m"], "age": [50, 60]})
    summaries = summarize(frame, ["y", "sex", "age"], first_row=0)
    target = fit_target(summaries, "y", None, Path("data.csv"))
    sex, age = fit_sensitive(summaries, ["sex", "age"], {"age": [30.0]}, 10, 4, Path("data.csv"))
    assert apply_target(target, pd.Series(["yes", "no", "yes"], name="y")).tolist() == [1, 0, 1]
    with pytest.raises(DataError, match="column 'y' holds 'maybe', a value its encoding"):
        apply_target(target, pd.Series(["yes", "maybe"], name="y"))
    with pytest.raises(DataError, match="column 'y' holds 'None'"):
        apply_target(target, pd.Series(["yes", None], name="y"))
    with pytest.raises(DataError, match="column 'sex' holds 'x'"):
        apply_sensitive(sex, pd.Series(["f", "x"], name="sex"))
    assert age.groups == (">=30",)
    assert apply_sensitive(age, pd.Series([70, 30], name="age")).tolist() == [0, 0]
    with pytest.raises(DataError, match="column 'age' holds '<30'"):
        apply_sensitive(age, pd.Series([25], name="age"))
