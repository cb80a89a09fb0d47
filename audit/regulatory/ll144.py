"""The figures of a New York City Local Law 144 bias audit (6 RCNY § 5-301), from cell counts.

Every figure is a sum over the audit's fine cells (one per combination of sensitive groups),
so an audit streamed in chunks or partitions gives the same pack as one read whole. The
arithmetic is the rules' own (a rate per category, divided by the highest rate); no library
computes this table, and Fairlearn's MetricFrame would need the rows, which a streamed audit
does not keep.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from audit.core.errors import ConfigError
from audit.data.table import MISSING_GROUP, SensitiveColumn
from audit.fairness.significance import selection_test
from audit.fairness.tables import AucSource, RowScores
from audit.regulatory.results import (
    CategoryRate,
    CategoryTable,
    Dimension,
    LL144Pack,
    MappingSource,
    PackMetadata,
    TableDimension,
    ValueMapping,
)
from audit.regulatory.settings import (
    RACE,
    SEX,
    UNKNOWN,
    CategoryMap,
    LL144Settings,
    category_map,
    require_metadata,
)


@dataclass(frozen=True)
class CellTotals:
    """Per fine cell: its rows and how many of them were selected (or scored above the median)."""

    rows: np.ndarray  # int64 [cells]
    chosen: np.ndarray  # int64 [cells]
    median_score: float | None


def selected_cells(cell_counts: np.ndarray) -> CellTotals:
    # Confusion columns (audit.fairness.metrics.confusion_index): 0 and 1 are positive decisions.
    return CellTotals(cell_counts.sum(axis=1), cell_counts[:, 0] + cell_counts[:, 1], None)


def scored_cells(cell_counts: np.ndarray, auc: AucSource, rows: int) -> CellTotals:
    """Rows scored strictly above the median score of every audited row, per cell."""
    if auc is None:
        raise ConfigError(
            "the ll144 pack in scoring mode needs scores, and this audit has decisions only: "
            "give --scores COLUMN with --predictions, or pass --ll144-mode selection"
        )
    if not isinstance(auc, RowScores):
        raise ConfigError(
            f"the ll144 pack in scoring mode needs every row's score for the median, and this "
            f"streamed audit of {rows} rows keeps a score sketch: set exact_auc_rows to at "
            f"least {rows} in the policy file, or pass --ll144-mode selection"
        )
    median = float(np.median(auc.scores))
    above = np.bincount(auc.cell_of_row[auc.scores > median], minlength=len(cell_counts))
    return CellTotals(cell_counts.sum(axis=1), above.astype(np.int64), median)


def _percent(share: float) -> str:
    return f"{share * 100:.4g}%"


def _table(
    dimension: TableDimension,
    columns: tuple[str, ...],
    category_of_cell: list[tuple[str, ...] | None],  # None: unknown
    order: list[tuple[str, ...]],
    totals: CellTotals,
    applicants: int,
    min_share: float,
    limit: float,
) -> CategoryTable:
    rows: dict[tuple[str, ...], int] = dict.fromkeys(order, 0)
    chosen: dict[tuple[str, ...], int] = dict.fromkeys(order, 0)
    unknown = unknown_chosen = 0
    for cell, category in enumerate(category_of_cell):
        if category is None:
            unknown += int(totals.rows[cell])
            unknown_chosen += int(totals.chosen[cell])
        else:
            rows[category] += int(totals.rows[cell])
            chosen[category] += int(totals.chosen[cell])
    present = [category for category in order if rows[category]]
    excluded = {
        category: (
            f"{_percent(rows[category] / applicants)} of the audited rows, under "
            f"{_percent(min_share)}: left out of the impact ratios, as the rules permit for "
            f"a category under {_percent(min_share)} of the data; its counts are listed"
        )
        for category in present
        if rows[category] / applicants < min_share
    }
    rates = {category: chosen[category] / rows[category] for category in present}
    included = [category for category in present if category not in excluded]
    reference, undefined = None, None
    if not included:
        undefined = f"every category is under {_percent(min_share)} of the data"
    elif max(rates[category] for category in included) == 0:
        undefined = "no one of an included category was selected: every ratio would be 0/0"
    else:
        reference = max(included, key=lambda category: rates[category])  # first of a tie
    tests = {
        category: selection_test(
            chosen[category], rows[category], chosen[reference], rows[reference], limit
        )
        for category in included
        if reference is not None and category != reference
    }
    return CategoryTable(
        dimension=dimension,
        columns=columns,
        categories=tuple(
            CategoryRate(
                category=category,
                applicants=rows[category],
                selected=chosen[category],
                rate=rates[category],
                share=rows[category] / applicants,
                impact_ratio=(
                    rates[category] / rates[reference]
                    if reference is not None and category in included
                    else None
                ),
                excluded=excluded.get(category),
                p_value=tests[category].p_value if category in tests else None,
                shortfall=tests[category].shortfall if category in tests else None,
            )
            for category in present
        ),
        reference=reference,
        unknown=unknown,
        unknown_selected=unknown_chosen,
        undefined=undefined,
    )


def _mapping(
    column: SensitiveColumn, codes: np.ndarray, totals: CellTotals, categories: CategoryMap
) -> list[ValueMapping]:
    """The category of each of the column's groups, in group-code order, with its rows."""
    rows = np.zeros(len(column.groups), dtype=np.int64)
    np.add.at(rows, codes, totals.rows)
    mapped = []
    for code, group in enumerate(column.groups):
        missing: tuple[str, MappingSource] = (UNKNOWN, "missing")
        category, source = missing if group == MISSING_GROUP else categories.category(group)
        mapped.append(
            ValueMapping(
                categories.dimension, column.name, group, category, source, int(rows[code])
            )
        )
    return mapped


def ll144_pack(
    settings: LL144Settings,
    columns: tuple[str, str],
    sensitive: Sequence[SensitiveColumn],
    cell_codes: np.ndarray,
    totals: CellTotals,
    limit: float,
) -> LL144Pack:
    """The pack of the cells ``cell_codes`` (``[cells, sensitive columns]``) with ``totals``;
    ``limit`` is the four-fifths rule's minimum impact ratio, for each ratio's shortfall."""
    position = {column.name: index for index, column in enumerate(sensitive)}
    maps = {SEX: category_map(settings, SEX), RACE: category_map(settings, RACE)}
    per_cell: dict[Dimension, list[str | None]] = {}
    mapping: list[ValueMapping] = []
    for dimension, column_name in zip((SEX, RACE), columns, strict=True):
        column = sensitive[position[column_name]]
        codes = cell_codes[:, position[column_name]]
        of_group = _mapping(column, codes, totals, maps[dimension])
        mapping.extend(of_group)
        per_cell[dimension] = [
            None if of_group[code].category == UNKNOWN else of_group[code].category
            for code in codes
        ]
    applicants, min_share = int(totals.rows.sum()), settings.min_share

    def alone(dimension: Dimension) -> list[tuple[str, ...] | None]:
        return [None if c is None else (c,) for c in per_cell[dimension]]

    both: list[tuple[str, ...] | None] = [
        None if sex is None or race is None else (sex, race)
        for sex, race in zip(per_cell[SEX], per_cell[RACE], strict=True)
    ]
    sex_order: list[tuple[str, ...]] = [(name,) for name in maps[SEX].categories]
    race_order: list[tuple[str, ...]] = [(name,) for name in maps[RACE].categories]
    both_order: list[tuple[str, ...]] = [(s, r) for (s,) in sex_order for (r,) in race_order]
    table_inputs: tuple[
        tuple[TableDimension, tuple[str, ...], list[tuple[str, ...] | None], list[tuple[str, ...]]],
        ...,
    ] = (
        (SEX, (columns[0],), alone(SEX), sex_order),
        (RACE, (columns[1],), alone(RACE), race_order),
        ("intersectional", columns, both, both_order),
    )
    return LL144Pack(
        metadata=metadata_of(settings),
        mode=settings.mode,
        median_score=totals.median_score,
        applicants=applicants,
        min_share=settings.min_share,
        tables=tuple(
            _table(dimension, table_columns, cells, order, totals, applicants, min_share, limit)
            for dimension, table_columns, cells, order in table_inputs
        ),
        mapping=tuple(mapping),
    )


def metadata_of(settings: LL144Settings) -> PackMetadata:
    require_metadata(settings)
    return PackMetadata(
        audit_date=str(settings.audit_date),
        tool_name=str(settings.tool_name),
        tool_version=str(settings.tool_version),
        distribution_date=str(settings.distribution_date),
        data_source=str(settings.data_source),
        data_kind=settings.data_kind,  # type: ignore[arg-type]
    )
