"""The PII detector on its labelled corpus: precision and recall per kind, and its time.

Reads tests/fixtures/pii_corpus/corpus.json.gz (482 columns: the shared data sets' columns,
COMPAS-shaped tables, fake PII of every pii.toml kind and look-alikes; see the README beside
it), scans each column as a one-column table with ``scan_frame`` and counts, per kind, the
columns reported as that kind (at any confidence) against their labels. Beside it, the
name-only baseline: a column is every kind one of whose hints its name holds, or whose
derived names it has, whatever its values are (what the issue calls "by name alone").

    python benchmarks/bench_pii.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import gzip
import json
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

import pandas as pd
from benchkit import REPO, format_seconds, machine_line, print_table, time_call

from audit.privacy.pii import derived_from, knowledge, name_signal, scan_frame

CORPUS = REPO / "tests" / "fixtures" / "pii_corpus" / "corpus.json.gz"
Column = dict[str, Any]


def load() -> list[Column]:
    return json.loads(gzip.decompress(CORPUS.read_bytes()))


def frames(corpus: Iterable[Column]) -> list[pd.DataFrame]:
    return [pd.DataFrame({c["column"]: pd.Series(c["values"])}) for c in corpus]


def detector(tables: list[pd.DataFrame]) -> list[set[str]]:
    return [{d.scheme for d in scan_frame(table, seed=0).detections} for table in tables]


def by_name(corpus: Iterable[Column]) -> list[set[str]]:
    types = knowledge()[1]
    return [
        {
            pii.key
            for pii in types
            if name_signal(pii, c["column"]) == "hinted" or derived_from(pii, c["column"])
        }
        for c in corpus
    ]


def scores(corpus: list[Column], found: list[set[str]]) -> dict[str, tuple[float, float]]:
    """Precision and recall per kind; NaN where a kind was never reported."""
    hits, reported, labelled = Counter[str](), Counter[str](), Counter[str]()
    for column, kinds in zip(corpus, found, strict=True):
        labelled[column["kind"]] += 1
        for kind in kinds:
            reported[kind] += 1
            hits[kind] += kind == column["kind"]
    return {
        kind: (hits[kind] / reported[kind] if reported[kind] else float("nan"),
               hits[kind] / labelled[kind])
        for kind in labelled if kind != "none"
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(machine_line())
    corpus = load()
    tables = frames(corpus)
    timing = time_call(lambda: detector(tables), repeat=args.repeat)
    measured = scores(corpus, timing.value)
    baseline = scores(corpus, by_name(corpus))
    labels = Counter(c["kind"] for c in corpus)
    number: Callable[[float], str] = lambda value: "-" if value != value else f"{value:.3f}"  # noqa: E731
    rows = [
        [kind, str(labels[kind]), *map(number, measured[kind]), *map(number, baseline[kind])]
        for kind in sorted(measured)
    ]
    everything = [(kind, *measured[kind]) for kind in measured]
    print_table(
        f"PII detector on {len(corpus)} columns ({labels['none']} without PII)",
        ["kind", "columns", "precision", "recall", "by name: precision", "recall"],
        rows,
    )
    worst_precision = min(everything, key=lambda row: row[1])
    worst_recall = min(everything, key=lambda row: row[2])
    print(f"lowest precision: {worst_precision[0]} {worst_precision[1]:.3f}")
    print(f"lowest recall: {worst_recall[0]} {worst_recall[2]:.3f}")
    print(
        f"scan time: {format_seconds(timing.best)} best, {format_seconds(timing.median)} median "
        f"of {timing.runs} ({timing.best / len(corpus) * 1000:.1f} ms a column, "
        "one scan_frame call each)"
    )


if __name__ == "__main__":
    main()
