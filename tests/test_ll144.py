"""The New York City Local Law 144 pack (--format ll144): every figure against a hand count.

The worked example is a table of 200 applicants whose counts per sex × race are set below, so
each rate, impact ratio, exclusion under the 2 % rule and unknown count is worked out here by
hand, not by the code under test.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace
from fractions import Fraction
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pandas as pd
import pytest
from conftest import Cli
from scipy.stats import fisher_exact

from audit.api import AuditRequest, run_audit
from audit.core.serialize import ll144_schema, validate_document
from reports import render

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "adult"
METADATA = (
    "--audit-date",
    "2026-12-01",
    "--tool-name",
    "Resume Screen",
    "--tool-version",
    "3.1",
    "--distribution-date",
    "2025-06-01",
    "--data-source",
    "ATS export 2025",
    "--data-kind",
    "historical",
)
# (sex, race, applicants, selected) of the worked example: 200 applicants. None is a missing
# sex; "Other" is a race that names no EEO-1 category (unknown); "Native American" holds
# 3 applicants, 1.5 % of the data, under the 2 % rule.
CELLS = (
    ("Male", "White", 50, 20),
    ("Male", "Black", 30, 9),
    ("Male", "Asian", 20, 10),
    ("Female", "White", 40, 12),
    ("Female", "Black", 30, 6),
    ("Female", "Asian", 10, 4),
    ("Female", "Native American", 3, 1),
    ("Male", "Other", 12, 6),
    (None, "White", 5, 2),
)
BLACK, AIAN = "Black or African American", "American Indian or Alaska Native"
# By hand from CELLS: category -> (applicants, selected).
SEX = {
    ("Male",): (50 + 30 + 20 + 12, 20 + 9 + 10 + 6),
    ("Female",): (40 + 30 + 10 + 3, 12 + 6 + 4 + 1),
}
RACE = {
    ("White",): (50 + 40 + 5, 20 + 12 + 2),
    (BLACK,): (30 + 30, 9 + 6),
    ("Asian",): (20 + 10, 10 + 4),
    (AIAN,): (3, 1),
}
BOTH = {
    ("Male", "White"): (50, 20),
    ("Male", BLACK): (30, 9),
    ("Male", "Asian"): (20, 10),
    ("Female", "White"): (40, 12),
    ("Female", BLACK): (30, 6),
    ("Female", "Asian"): (10, 4),
    ("Female", AIAN): (3, 1),
}
# Most selected: Male 45/112; Asian 14/30; Male × Asian 10/20. Unknown: 5 without a sex,
# 12 of race Other, and both for the intersection; with their selected.
REFERENCE = {"sex": ("Male",), "race_ethnicity": ("Asian",), "intersectional": ("Male", "Asian")}
UNKNOWN = {"sex": (5, 2), "race_ethnicity": (12, 6), "intersectional": (5 + 12, 2 + 6)}
EXCLUDED = {"sex": set(), "race_ethnicity": {(AIAN,)}, "intersectional": {("Female", AIAN)}}


def worked_example(path: Path) -> Path:
    rows = []
    for sex, race, applicants, selected in CELLS:
        for index in range(applicants):
            chosen = int(index < selected)
            # A score that puts the selected above the median (0.25: 130 of 200 rows).
            rows.append({"sex": sex, "race": race, "decision": chosen, "score": 0.25 + chosen / 2})
    pd.DataFrame(rows).sample(frac=1, random_state=0).to_csv(path, index=False)
    return path


def pack_args(data: Path, out: Path, *extra: str) -> list[str | Path]:
    return [
        "run",
        data,
        "--predictions",
        "decision",
        "--target",
        "decision",
        "--sensitive",
        "sex,race",
        "--format",
        "ll144",
        "--out",
        out,
        "--n-boot",
        "0",
        *METADATA,
        *extra,
    ]


def written(out: Path) -> dict[str, Any]:
    document = json.loads((out / "ll144.json").read_text("utf-8"))
    jsonschema.Draft202012Validator(ll144_schema()).validate(document)
    return document


def tables(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {table["dimension"]: table for table in document["ll144"]["tables"]}


def check_table(table: dict[str, Any], expected: dict[tuple[str, ...], tuple[int, int]]) -> None:
    dimension = table["dimension"]
    rows = {tuple(row["category"]): row for row in table["categories"]}
    assert list(rows) == list(expected)  # the rules' order of categories
    reference = REFERENCE[dimension]
    best = Fraction(expected[reference][1], expected[reference][0])
    assert table["reference"] == list(reference)
    for category, (applicants, selected) in expected.items():
        row = rows[category]
        assert (row["applicants"], row["selected"]) == (applicants, selected)
        assert row["rate"] == pytest.approx(selected / applicants, abs=1e-12)
        assert row["share"] == pytest.approx(applicants / 200, abs=1e-12)
        if category in EXCLUDED[dimension]:
            assert row["impact_ratio"] is None
            assert "1.5% of the audited rows, under 2%" in row["excluded"]
        else:
            ratio = Fraction(selected, applicants) / best
            assert row["impact_ratio"] == pytest.approx(float(ratio), abs=1e-12)
            assert row["excluded"] is None
    assert (table["unknown"], table["unknown_selected"]) == UNKNOWN[dimension]


def check_worked_example(document: dict[str, Any]) -> None:
    by_dimension = tables(document)
    check_table(by_dimension["sex"], SEX)
    check_table(by_dimension["race_ethnicity"], RACE)
    check_table(by_dimension["intersectional"], BOTH)
    assert document["ll144"]["applicants"] == 200


def test_worked_example_every_figure_by_hand(cli: Cli, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = cli(*pack_args(worked_example(tmp_path / "applicants.csv"), out))
    assert result.exit_code in (0, 1), result.output
    assert sorted(path.name for path in out.iterdir()) == ["ll144.csv", "ll144.html", "ll144.json"]
    document = written(out)
    check_worked_example(document)
    pack = document["ll144"]
    assert pack["mode"] == "selection" and pack["median_score"] is None
    assert pack["metadata"] == {
        "audit_date": "2026-12-01",
        "tool_name": "Resume Screen",
        "tool_version": "3.1",
        "distribution_date": "2025-06-01",
        "data_source": "ATS export 2025",
        "data_kind": "historical",
    }
    mapping = {(row["column"], row["value"]): row for row in pack["mapping"]}
    assert mapping["race", "Other"]["category"] == "unknown"
    assert mapping["race", "Other"]["source"] == "default"
    assert mapping["race", "Native American"]["category"] == AIAN
    missing = mapping["sex", "missing"]
    assert (missing["source"], missing["category"], missing["rows"]) == ("missing", "unknown", 5)

    # The CSV holds the same figures at full precision, with an unknown row per table.
    rows = list(csv.DictReader(io.StringIO((out / "ll144.csv").read_text("utf-8"))))
    female = next(r for r in rows if (r["dimension"], r["category"]) == ("sex", "Female"))
    assert (female["applicants"], female["selected"]) == ("83", "23")
    assert float(female["impact_ratio"]) == pytest.approx((23 / 83) / (45 / 112), abs=1e-12)
    # Beside the ratio: Fisher's exact test against Male (45 of 112), and the selections
    # Female lacks for four-fifths: ceil(0.8 * 45/112 * 83 - 23) = ceil(3.68) = 4.
    expected_p = fisher_exact([[23, 60], [45, 67]], alternative="two-sided").pvalue
    assert float(female["p_value"]) == pytest.approx(expected_p, rel=1e-12)
    assert female["shortfall"] == "4"
    male = next(r for r in rows if (r["dimension"], r["category"]) == ("sex", "Male"))
    assert (male["p_value"], male["shortfall"]) == ("", "")  # the reference
    by_category = {tuple(c["category"]): c for c in pack["tables"][0]["categories"]}
    assert by_category["Female",]["shortfall"] == 4 and by_category["Male",]["p_value"] is None
    aian = next(r for r in rows if r["category"] == AIAN)
    assert (aian["impact_ratio"], aian["excluded_from_impact_ratio"]) == ("", "yes")
    unknown = [r for r in rows if r["category"] == "Unknown"]
    assert [(r["dimension"], r["applicants"]) for r in unknown] == [
        ("sex", "5"),
        ("race_ethnicity", "12"),
        ("intersectional", "17"),
    ]

    # The page is readable offline, says what it is not, and shows the hand figures.
    html = (out / "ll144.html").read_text("utf-8")
    assert "<script" not in html and "<link" not in html
    assert "http://" not in html and "https://" not in html
    assert "Not an independent audit" in html
    assert "Selection rate" in html and "0.2771" in html  # Female: 23 / 83
    assert f'<td class="num">{expected_p:.3f}</td><td class="num">4</td>' in html
    assert "1.5% of the audited rows" in html


def test_scoring_mode_counts_scores_above_the_median(cli: Cli, tmp_path: Path) -> None:
    # The selected score 0.75, the others 0.25, the median: above it are the selected rows.
    out = tmp_path / "out"
    data = worked_example(tmp_path / "applicants.csv")
    result = cli(*pack_args(data, out, "--scores", "score", "--ll144-mode", "scoring"))
    assert result.exit_code in (0, 1), result.output
    document = written(out)
    check_worked_example(document)
    assert document["ll144"]["mode"] == "scoring"
    assert document["ll144"]["median_score"] == 0.25
    assert "Scoring rate" in (out / "ll144.html").read_text("utf-8")


def test_a_streamed_audit_gives_the_same_pack(cli: Cli, tmp_path: Path) -> None:
    data = worked_example(tmp_path / "applicants.csv")
    whole, chunked = tmp_path / "whole", tmp_path / "chunked"
    assert cli(*pack_args(data, whole)).exit_code in (0, 1)
    assert cli(*pack_args(data, chunked, "--chunk-rows", "37")).exit_code in (0, 1)
    assert written(chunked)["ll144"] == written(whole)["ll144"]


def test_compas_spellings_map_to_eeo1_categories(cli: Cli, tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    spellings = ["African-American", "Caucasian", "Hispanic", "Other", "Asian", "Native American"]
    frame = pd.DataFrame(
        {
            "sex": rng.choice(["Male", "Female"], size=600, p=[0.8, 0.2]),
            "race": rng.choice(spellings, size=600, p=[0.5, 0.3, 0.1, 0.07, 0.02, 0.01]),
            "decision": rng.integers(0, 2, size=600),
        }
    )
    data = tmp_path / "compas.csv"
    frame.to_csv(data, index=False)
    out = tmp_path / "out"
    result = cli(*pack_args(data, out))
    assert result.exit_code in (0, 1), result.output
    race = tables(written(out))["race_ethnicity"]

    eeo1 = {
        "African-American": BLACK,
        "Caucasian": "White",
        "Hispanic": "Hispanic or Latino",
        "Asian": "Asian",
        "Native American": AIAN,
    }
    known = frame[frame["race"].isin(list(eeo1))]
    counts = known.groupby(known["race"].map(eeo1))["decision"].agg(["size", "sum"])
    got = {row["category"][0]: row for row in race["categories"]}
    assert set(got) == set(counts.index)
    for category, (applicants, selected) in counts.iterrows():
        assert (got[category]["applicants"], got[category]["selected"]) == (applicants, selected)
        assert (got[category]["excluded"] is not None) == (applicants / 600 < 0.02)
    assert race["unknown"] == int((frame["race"] == "Other").sum())
    rates = {name: selected / applicants for name, (applicants, selected) in counts.iterrows()}
    included = {name: rate for name, rate in rates.items() if counts.loc[name, "size"] >= 12}
    best = max(included, key=lambda name: included[name])
    assert race["reference"] == [best]
    for name, rate in included.items():
        assert got[name]["impact_ratio"] == pytest.approx(rate / included[best], abs=1e-12)


def test_the_policy_file_sets_metadata_columns_and_mappings(cli: Cli, tmp_path: Path) -> None:
    data = worked_example(tmp_path / "applicants.csv")
    frame = pd.read_csv(data).rename(columns={"sex": "gender_code", "race": "ethnic_group"})
    frame.to_csv(data, index=False)
    config = tmp_path / "policy.toml"
    config.write_text(
        "[ll144]\n"
        "audit_date = 2026-12-01\n"
        'tool_name = "Resume Screen"\n'
        'tool_version = "3.1"\n'
        "distribution_date = 2025-06-01\n"
        'data_source = "ATS export 2025"\n'
        'data_kind = "test"\n'
        'sex_column = "gender_code"\n'
        'race_column = "ethnic_group"\n'
        "min_share = 0.01\n"
        "[ll144.race_ethnicity]\n"
        'Other = "Two or More Races"\n',
        "utf-8",
    )
    out = tmp_path / "out"
    args = [
        "run",
        data,
        "--predictions",
        "decision",
        "--target",
        "decision",
        "--sensitive",
        "gender_code,ethnic_group",
        "--format",
        "ll144",
        "--out",
        out,
        "--config",
        config,
        "--n-boot",
        "0",
    ]
    result = cli(*args)
    assert result.exit_code in (0, 1), result.output
    pack = written(out)["ll144"]
    assert pack["metadata"]["data_kind"] == "test"
    race = tables(written(out))["race_ethnicity"]
    rows = {tuple(row["category"]): row for row in race["categories"]}
    # Other is now a category of its own: 12 applicants, 6 selected; nothing is unknown.
    assert (rows["Two or More Races",]["applicants"], race["unknown"]) == (12, 0)
    # Its 6 of 12 (0.5) now beat Asian's 14 of 30, and at a 1 % rule the 3 Native American
    # applicants (1.5 %) are rated: 1/3 over 1/2.
    assert race["reference"] == ["Two or More Races"]
    assert rows[AIAN,]["impact_ratio"] == pytest.approx((1 / 3) / (1 / 2), abs=1e-12)
    mapping = {row["value"]: row for row in pack["mapping"]}
    assert mapping["Other"]["source"] == "policy"


@pytest.mark.parametrize(
    ("dropped", "needles"),
    [
        ("--data-kind", ("data_kind", "--data-kind historical", "[ll144]")),
        ("--audit-date", ("audit_date", "--audit-date 2026-12-01", "[ll144]")),
        ("--tool-version", ("tool_version", "--tool-version", "[ll144]")),
    ],
)
def test_missing_metadata_is_a_one_line_error(
    cli: Cli, tmp_path: Path, dropped: str, needles: tuple[str, ...]
) -> None:
    data = worked_example(tmp_path / "applicants.csv")
    args = pack_args(data, tmp_path / "out")
    position = args.index(dropped)
    del args[position : position + 2]
    cli.input_error(args, *needles)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("extra", "sensitive", "needles"),
    [
        ((), "sex", ("race/ethnicity", "race_column", "[ll144]")),
        (("--data-kind", "synthetic"), "sex,race", ("ll144.data_kind", "historical", "test")),
        (("--audit-date", "yesterday"), "sex,race", ("ll144.audit_date",)),
        (("--ll144-mode", "scoring"), "sex,race", ("scoring mode needs scores", "--scores")),
    ],
)
def test_unusable_pack_settings_are_one_line_errors(
    cli: Cli, tmp_path: Path, extra: tuple[str, ...], sensitive: str, needles: tuple[str, ...]
) -> None:
    args = pack_args(worked_example(tmp_path / "applicants.csv"), tmp_path / "out", *extra)
    args[args.index("--sensitive") + 1] = sensitive
    cli.input_error(args, *needles)


def test_a_mapping_to_no_category_is_a_one_line_error(cli: Cli, tmp_path: Path) -> None:
    config = tmp_path / "policy.toml"
    config.write_text('[ll144.race_ethnicity]\nOther = "Martian"\n', "utf-8")
    args = pack_args(worked_example(tmp_path / "applicants.csv"), tmp_path / "out")
    cli.input_error([*args, "--config", config], "'Martian'", "Two or More Races", "unknown")


def test_other_formats_skip_the_pack_and_json_carries_it(cli: Cli, tmp_path: Path) -> None:
    data = worked_example(tmp_path / "applicants.csv")
    plain, both = tmp_path / "plain", tmp_path / "both"
    args = pack_args(data, plain)
    args[args.index("--format") + 1] = "json"
    assert cli(*args).exit_code in (0, 1)
    assert "ll144" not in json.loads((plain / "report.json").read_text("utf-8"))
    args = pack_args(data, both)
    args[args.index("--format") + 1] = "json,ll144"
    assert cli(*args).exit_code in (0, 1)
    report = json.loads((both / "report.json").read_text("utf-8"))
    validate_document(report)
    assert report["ll144"] == written(both)["ll144"]


def test_the_python_api_asks_for_the_pack(tmp_path: Path) -> None:
    metadata = dict(zip(METADATA[::2], METADATA[1::2], strict=True))
    request = AuditRequest(
        data=worked_example(tmp_path / "applicants.csv"),
        target="decision",
        predictions="decision",
        sensitive=("sex", "race"),
        search_config=False,
        policy_overrides={
            "n_boot": 0,
            "ll144": {flag.removeprefix("--").replace("-", "_"): v for flag, v in metadata.items()},
        },
        ll144=True,
    )
    files = render(run_audit(request), ["ll144"])
    assert sorted(files) == ["ll144.csv", "ll144.html", "ll144.json"]
    check_worked_example(json.loads(files["ll144.json"]))
    # Without ll144=True the audit has no pack, and the format says how to get one.
    with pytest.raises(ValueError, match="ll144=True"):
        render(run_audit(replace(request, ll144=False)), ["ll144"])


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["selection", "scoring"])
def test_the_adult_example_writes_the_pack(cli: Cli, tmp_path: Path, mode: str) -> None:
    out = tmp_path / "out"
    result = cli(
        "run",
        EXAMPLE / "model.pt",
        EXAMPLE / "test.csv.gz",
        "--target",
        "income",
        "--sensitive",
        "sex,race",
        "--format",
        "ll144,json",
        "--out",
        out,
        "--no-explain",
        "--n-boot",
        "0",
        "--ll144-mode",
        mode,
        *METADATA,
    )
    assert result.exit_code == 1, result.output
    document = written(out)
    by_dimension = tables(document)
    report = json.loads((out / "report.json").read_text("utf-8"))
    groups = {(tuple(g["feature"]), tuple(g["group"])): g for g in report["groups"]}
    # Applicants per category are the fairness stage's group sizes (Fairlearn's path).
    race = {tuple(row["category"]): row for row in by_dimension["race_ethnicity"]["categories"]}
    assert race["White",]["applicants"] == groups[("race",), ("White",)]["n"]
    assert race[AIAN,]["applicants"] == groups[("race",), ("Amer-Indian-Eskimo",)]["n"]
    assert race[AIAN,]["excluded"] is not None  # 159 of 16281 rows
    unknown = sum(groups[("race",), (value,)]["n"] for value in ("Asian-Pac-Islander", "Other"))
    assert by_dimension["race_ethnicity"]["unknown"] == unknown
    sex = {tuple(row["category"]): row for row in by_dimension["sex"]["categories"]}
    if mode == "selection":
        for name in ("Male", "Female"):
            rate = groups[("sex",), (name,)]["metrics"]["selection_rate"]
            assert sex[name,]["rate"] == pytest.approx(rate, abs=1e-12)
    else:
        assert 0 < document["ll144"]["median_score"] < 1
        above = sum(row["selected"] for row in by_dimension["sex"]["categories"])
        assert 16281 // 2 - 50 < above <= 16281 // 2  # strictly above the median
    assert "Not an independent audit" in (out / "ll144.html").read_text("utf-8")
