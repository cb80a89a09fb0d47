"""The data-fit stage and checks: drift from the training data and label-noise suspicion, per
group, against computations made here with numpy and scipy on the raw rows."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from conftest import ADULT_DATA, ADULT_MODEL, FAST_N_BOOT, Workspace, adult_request, linear
from scipy import stats

from audit.api import AuditRequest, run_audit
from audit.core.findings import Severity
from audit.core.registry import CHECKS
from audit.core.result import AuditResult, CheckStatus
from audit.core.serialize import _plain
from audit.data.table import ColumnCodes
from audit.datafit.histograms import ColumnBins, FitBins, GroupCodes, count_rows
from audit.datafit.results import ColumnDrift, DataFitReport, GroupDrift
from audit.models import load_model
from audit.models.features import CategoricalInput, parse_metadata

SLOPE = 8.0  # logit = 8 x1: scores far from 0.5 for most rows, so labels can be contradicted


def people(rows: int, seed: int, income_shift: float = 0.0, flip: float = 0.0) -> pd.DataFrame:
    """Labels follow x1; ``income_shift`` moves women's income (in units of its spread),
    ``flip`` flips that share of the south region's labels."""
    rng = np.random.default_rng(seed)
    sex = rng.choice(["F", "M"], size=rows)
    region = rng.choice(["north", "south"], size=rows)
    x1 = np.round(rng.normal(size=rows), 6)
    income = np.round(rng.normal(50.0, 10.0, size=rows) + 10.0 * income_shift * (sex == "F"), 3)
    label = (x1 > 0).astype(int)
    flipped = (region == "south") & (rng.random(rows) < flip)
    return pd.DataFrame(
        {
            "x1": x1,
            "income": income,
            "color": rng.choice(["red", "green", "blue"], size=rows),
            "sex": sex,
            "region": region,
            "label": np.where(flipped, 1 - label, label),
        }
    )


def scores_of(frame: pd.DataFrame) -> np.ndarray:
    """The model's positive score, with numpy: softmax of logits (0, 8 x1)."""
    return 1.0 / (1.0 + np.exp(-SLOPE * frame["x1"].to_numpy()))


def audit(
    workspace: Workspace,
    frame: pd.DataFrame,
    train: pd.DataFrame | None,
    **extra: Any,
) -> AuditResult:
    return run_audit(
        AuditRequest(
            data=workspace.table(frame, "audited.csv"),
            model=workspace.torchscript(linear([[0.0], [SLOPE]], [0.0, 0.0]), "model.pt"),
            features=("x1",),
            target="label",
            sensitive=("sex", "region"),
            train_data=workspace.table(train, "train.csv") if train is not None else None,
            search_config=False,
            policy_overrides={"n_boot": FAST_N_BOOT},
            **extra,
        )
    )


def section(result: AuditResult) -> DataFitReport:
    assert result.data_fit is not None
    return result.data_fit


def column(result: AuditResult, name: str) -> ColumnDrift:
    (found,) = [c for c in section(result).drift.columns if c.column == name]
    return found


def group(drift: ColumnDrift, feature: str, name: str) -> GroupDrift:
    (by,) = [f for f in drift.by_feature if f.feature == feature]
    (found,) = [g for g in by.groups if g.group == name]
    return found


def numpy_psi(
    train: np.ndarray, audited: np.ndarray, every_train: np.ndarray, bins: int = 10
) -> float:
    """PSI over the deciles of every training row (and a missing bin), shares floored at 1e-4."""
    edges = np.unique(np.quantile(every_train, np.linspace(0, 1, bins + 1)[1:-1]))
    width = len(edges) + 2  # the value bins and the missing bin (empty here)

    def shares(values: np.ndarray) -> np.ndarray:
        counts = np.bincount(np.searchsorted(edges, values, side="right"), minlength=width)
        return np.maximum(counts / len(values), 1e-4)

    e, a = shares(train), shares(audited)
    return float(((a - e) * np.log(a / e)).sum())


@pytest.fixture(scope="module")
def shifted(tmp_path_factory: pytest.TempPathFactory) -> tuple[AuditResult, pd.DataFrame, Any]:
    train = people(3000, seed=1)
    audited = people(2000, seed=2, income_shift=1.5, flip=0.3)
    workspace = Workspace(tmp_path_factory.mktemp("shifted"))
    return audit(workspace, audited, train), audited, train


def test_a_group_whose_income_shifted_is_caught_with_its_column_and_group(
    shifted: tuple[AuditResult, pd.DataFrame, pd.DataFrame],
) -> None:
    result, _, _ = shifted
    (finding,) = [
        f
        for f in result.findings
        if f.check == "datafit.drift"
        and f.evidence.metric == "data_drift_psi_gap"
        and f.evidence.feature == ("sex",)
    ]
    assert finding.evidence.details["column"] == "income"
    assert finding.evidence.feature == ("sex",)
    assert finding.evidence.groups[-1] == ("F",)  # the most drifted group
    assert finding.severity is Severity.HIGH  # past the critical gap, clear of noise
    assert finding.accountable.value == "developer"
    # x1 and color did not move: no drift finding names them.
    named = {
        f.evidence.details.get("column") for f in result.findings if f.check == "datafit.drift"
    }
    assert named == {"income"}


def test_psi_and_ks_match_numpy_and_scipy_on_the_raw_rows(
    shifted: tuple[AuditResult, pd.DataFrame, pd.DataFrame],
) -> None:
    result, audited, train = shifted
    income = column(result, "income")
    for sex in ("F", "M"):
        a = audited.loc[audited["sex"] == sex, "income"].to_numpy()
        t = train.loc[train["sex"] == sex, "income"].to_numpy()
        measured = group(income, "sex", sex)
        every = train["income"]
        outside = int(((a < every.min()) | (a > every.max())).sum())
        assert measured.outside_rate == pytest.approx(outside / len(a))
        low, high = stats.binomtest(outside, len(a)).proportion_ci(0.95, method="wilson")
        assert measured.outside_interval == pytest.approx((low, high))
        assert measured.psi == pytest.approx(numpy_psi(t, a, train["income"].to_numpy()))
        occupied = 10  # every decile bin holds rows on one side at least; missing is empty
        assert measured.psi_noise == pytest.approx((occupied - 1) * (1 / len(a) + 1 / len(t)))
        ks = stats.ks_2samp(a, t)
        assert measured.ks == pytest.approx(ks.statistic)
        assert measured.ks_p_value == pytest.approx(ks.pvalue)
    overall = income.overall
    assert overall.psi == pytest.approx(
        numpy_psi(train["income"].to_numpy(), audited["income"].to_numpy(), train["income"])
    )


def test_unseen_categories_and_out_of_range_values_are_counted(workspace: Workspace) -> None:
    train = people(600, seed=1)
    audited = people(400, seed=2)
    audited.loc[:9, "color"] = "purple"  # 10 unseen categories
    audited.loc[10:14, "income"] = train["income"].max() + 1.0  # 5 above the training range
    audited.loc[15:17, "income"] = np.nan  # 3 missing
    result = audit(workspace, audited, train)
    color, income = column(result, "color"), column(result, "income")
    assert color.overall.outside_rate == pytest.approx(10 / 400)
    values = audited["income"]
    outside = (values < train["income"].min()) | (values > train["income"].max())
    assert outside.sum() >= 5  # the planted five, and any the sample holds by chance
    assert income.overall.outside_rate == pytest.approx(outside.sum() / 400)
    assert income.overall.missing_rate == pytest.approx(3 / 400)
    women = (audited["sex"] == "F").to_numpy()
    assert group(color, "sex", "F").outside_rate == pytest.approx(
        (audited["color"][women] == "purple").mean()
    )
    assert color.bins[-1] == "unseen"


def test_planted_label_noise_in_one_group_is_an_info_finding(
    shifted: tuple[AuditResult, pd.DataFrame, pd.DataFrame],
) -> None:
    result, audited, _ = shifted
    scores, labels = scores_of(audited), audited["label"].to_numpy()
    contradicted = ((labels == 0) & (scores >= 0.9)) | ((labels == 1) & (scores <= 0.1))
    south = (audited["region"] == "south").to_numpy()
    found = [f for f in result.findings if f.check == "datafit.label_noise"]
    subjects = {(f.evidence.feature, f.evidence.groups) for f in found}
    assert (("region",), (("south",),)) in subjects
    assert (("region",), (("north",),)) not in subjects
    assert all(f.severity is Severity.INFO for f in found)
    (south_finding,) = [f for f in found if f.evidence.groups == (("south",),)]
    assert south_finding.evidence.value == pytest.approx(contradicted[south].mean(), abs=1e-6)
    assert "suspicion" in south_finding.recommendation
    assert "of the labels for region = south" in south_finding.title
    assert south_finding.recommendation.startswith(
        "Review a sample of the rows of region = south whose labels the model confidently "
        "contradicts: the labels may be wrong, or the model may fit this group poorly."
    )
    (overall,) = [f for f in found if f.evidence.groups == ()]
    assert overall.evidence.value == pytest.approx(contradicted.mean(), abs=1e-6)
    assert "of the labels over all rows" in overall.title
    assert "fit the data poorly" in overall.recommendation
    assert not any("every row" in f.title + f.recommendation for f in result.findings)


def test_data_identical_to_the_training_data_raises_nothing_at_medium_or_above(
    workspace: Workspace,
) -> None:
    frame = people(500, seed=3)
    result = audit(workspace, frame, frame)
    serious = [
        f
        for f in result.findings
        if f.check.startswith("datafit.") and f.severity.rank >= Severity.MEDIUM.rank
    ]
    assert serious == []
    assert all(c.overall.psi == 0.0 for c in section(result).drift.columns)
    gaps = [f.psi_gap for c in section(result).drift.columns for f in c.by_feature]
    assert gaps and all(gap == 0.0 for gap in gaps)  # no gap from the groups' sizes alone


def test_a_streamed_audit_counts_exactly_what_the_in_memory_one_does(workspace: Workspace) -> None:
    train = people(600, seed=1)
    audited = people(400, seed=2, income_shift=1.0, flip=0.2)
    whole = section(audit(workspace, audited, train))
    streamed = section(audit(workspace, audited, train, chunk_rows=37))
    # KS reads the rows the stages hold (here every row: the sample holds them all).
    assert streamed.drift.ks_rows == whole.drift.ks_rows == "every row"
    assert _plain(streamed) == _plain(whole)
    assert whole.drift.columns and whole.label_noise.overall is not None


def test_without_training_data_or_metadata_drift_is_skipped_with_its_reason(
    workspace: Workspace,
) -> None:
    result = audit(workspace, people(200, seed=2), None)
    drift = section(result).drift
    assert drift.status == "skipped"
    assert drift.reason is not None and "--train-data" in drift.reason
    (run,) = [run for run in result.checks if run.id == "datafit.drift"]
    assert (run.status, run.reason) == (CheckStatus.SKIPPED, drift.reason)
    # The label-noise part needs no training data.
    assert section(result).label_noise.status == "ok"


def test_without_training_data_the_model_metadata_bounds_each_column(
    workspace: Workspace,
) -> None:
    """The bundled Adult model embeds its categories and standardisation: unseen categories
    and numbers more than metadata_scales scales from the mean are counted, as pandas counts
    them from the metadata, and no PSI or KS is claimed. The HTML table leaves those columns
    out and says what would measure them."""
    from reports.html_report import HtmlFormatter

    frame = pd.read_csv(ADULT_DATA, nrows=3000)
    frame.loc[:29, "workclass"] = "Spacefarer"  # 30 unseen categories
    frame.loc[30:39, "age"] = 500  # 10 far past the training standardisation
    drift_checks = [check for check in CHECKS if check.id == "datafit.drift"]
    result = run_audit(adult_request(data=workspace.table(frame, "adult.csv")), drift_checks)
    drift = section(result).drift
    assert (drift.status, drift.reference) == ("ok", "model metadata")
    model = load_model(ADULT_MODEL)
    assert model.metadata_text is not None
    metadata = parse_metadata(model.metadata_text, ADULT_MODEL)
    scales = result.run.config["data_fit"]["metadata_scales"]
    by_column = {column.column: column for column in drift.columns}
    # The sensitive columns group the rows; every other model input is measured.
    measured = [feature for feature in metadata.features if feature.column not in {"sex", "race"}]
    assert set(by_column) == {feature.column for feature in measured}
    for feature in measured:
        values = frame[feature.column]
        if isinstance(feature, CategoricalInput):
            outside = values.notna() & ~values.astype(str).isin(feature.categories)
        else:
            outside = (values - feature.mean).abs() > scales * abs(feature.scale)
        overall = by_column[feature.column].overall
        assert overall.outside_rate == pytest.approx(outside.mean(), abs=1e-12), feature.column
        assert overall.missing_rate == pytest.approx(values.isna().mean(), abs=1e-12)
        assert overall.psi is None and overall.ks is None
    assert by_column["workclass"].overall.outside_rate >= 30 / 3000
    assert by_column["age"].overall.outside_rate >= 10 / 3000

    html = HtmlFormatter().render(result)
    start = html.index('<table class="data-fit-drift">')
    table = html[start : html.index("</table>", start)]
    assert "PSI</th>" not in table and "KS</th>" not in table and "undefined" not in table
    assert "PSI and KS need the rows the model was trained on (--train-data)" in table
    assert table.count("<tr>") == 1 + len(measured)


def test_groups_smaller_than_min_group_size_get_no_value(workspace: Workspace) -> None:
    train = people(600, seed=1)
    audited = people(400, seed=2)
    audited.loc[:4, "region"] = "island"  # 5 rows
    result = audit(workspace, audited, train)
    island = group(column(result, "income"), "region", "island")
    assert island.status == "insufficient_data"
    assert island.psi is None and island.outside_rate is None and island.missing_rate is None
    (noise,) = [
        g
        for f in section(result).label_noise.by_feature
        if f.feature == "region"
        for g in f.groups
        if g.group == "island"
    ]
    assert noise.rate is None and noise.status == "insufficient_data"


def test_the_html_report_has_the_section_its_chart_and_headline(
    shifted: tuple[AuditResult, pd.DataFrame, pd.DataFrame],
) -> None:
    from reports.html_report import HtmlFormatter

    result, _, _ = shifted
    html = HtmlFormatter().render(result)
    start = html.index('<section id="data-fit"')
    part = html[start : html.index("</section>", start)]
    assert section(result).headline in part
    assert section(result).headline.startswith(
        "1 column(s) drifted from the training data (income)"
    )
    assert part.count("<svg") == 1 and "income · sex = F" in part
    # Against training rows every column has its PSI, KS and most drifted group.
    assert "PSI</th>" in part and "KS</th>" in part and "--train-data" not in part
    assert 'href="#data-fit"' in html


def _crosstab_counts(
    column: ColumnBins, values: pd.Series, groups: np.ndarray, n_groups: int
) -> np.ndarray:
    """[groups, value bins + 2] counted row by row in pandas: each value's bin (missing last
    but one), and the outside rows in the last column."""
    width = column.value_bins
    if column.kind == "numeric":
        numbers = pd.to_numeric(values, errors="coerce")
        bins = [
            width if pd.isna(number) else sum(number >= edge for edge in column.edges)
            for number in numbers
        ]
        outside = [
            not pd.isna(n) and (n < column.low or n > column.high)  # type: ignore[operator]
            for n in numbers
        ]
    else:
        known = {category: index for index, category in enumerate(column.categories)}
        bins = [width if pd.isna(v) else known.get(str(v), width - 1) for v in values]
        outside = [b == width - 1 for b in bins]
    table = pd.crosstab(
        pd.Categorical(groups, categories=range(n_groups)),
        pd.Categorical(bins, categories=range(width + 1)),
        dropna=False,
    ).to_numpy()
    outside_counts = np.bincount(groups[np.asarray(outside)], minlength=n_groups)
    return np.column_stack([table, outside_counts])


@pytest.mark.parametrize("shared", [False, True])
@pytest.mark.parametrize("n_groupings", [1, 2, 7])
def test_counts_per_group_match_a_crosstab_of_the_rows(shared: bool, n_groupings: int) -> None:
    """Binned counts with missing, unseen and out-of-range values and rows in no group, against
    pandas on the raw rows; seven groupings of four groups make more cells than rows."""
    rng = np.random.default_rng(n_groupings)
    rows = 400
    frame = pd.DataFrame(
        {
            "income": np.where(rng.random(rows) < 0.1, np.nan, rng.normal(50, 20, rows)),
            "color": pd.Series(
                rng.choice(["red", "green", "blue", "pink", None], size=rows), dtype="str"
            ),
            # 0.0 and -0.0 read differently: two categories, not pandas' one
            "code": rng.choice([0.0, -0.0, 1.0], size=rows),
        }
    )
    bins = FitBins(
        (
            ColumnBins("income", "numeric", edges=(30.0, 50.0, 70.0), low=10.0, high=90.0),
            ColumnBins("color", "categorical", categories=("blue", "green", "red")),
            ColumnBins("code", "categorical", categories=("-0.0", "0.0")),
            ColumnBins("absent", "categorical", categories=("x",)),
        ),
        "training data",
        (),
        confident_high=0.9,
        confident_low=0.1,
    )
    groupings = [
        GroupCodes(f"g{index}", ("a", "b", "c", "d"), rng.integers(-1, 4, size=rows))
        for index in range(n_groupings)
    ]
    labels = rng.integers(0, 2, size=rows)
    scores = rng.random(rows)
    counts = count_rows(
        bins, frame, groupings, labels, scores, ColumnCodes(frame) if shared else None
    )
    every = GroupCodes(None, ("all",), np.zeros(rows, dtype=np.int64))
    assert [grouping.name for grouping in counts.groupings] == [None] + [
        grouping.name for grouping in groupings
    ]
    for grouping, found in zip([every, *groupings], counts.groupings, strict=True):
        n_groups = len(grouping.groups)
        kept = grouping.codes >= 0
        for column in bins.columns:
            values = frame[column.name] if column.name in frame else pd.Series([None] * rows)
            expected = _crosstab_counts(column, values[kept], grouping.codes[kept], n_groups)
            np.testing.assert_array_equal(found.columns[column.name], expected, column.name)
        codes = grouping.codes[kept]
        flagged = [
            np.ones(kept.sum(), dtype=bool),
            ((labels == 0) & (scores >= 0.9))[kept],
            ((labels == 1) & (scores <= 0.1))[kept],
        ]
        expected_labels = np.stack(
            [np.bincount(codes[flag], minlength=n_groups) for flag in flagged], axis=1
        )
        np.testing.assert_array_equal(found.labels, expected_labels)
