"""The privacy stage at scale: the PII column scan of a 1,000,000-row file, and membership
inference on 10,000 members + 10,000 non-members.

(a) Writes a ``--rows``-row CSV: the bundled UCI Adult test split resampled with a seed,
    plus eight planted PII columns (e-mail, phone, SSN, card, IBAN, IP, date of birth,
    postcode). Times ``pandas.read_csv`` of it, then ``scan_frame`` on the loaded table,
    which samples 1,000 values per column and never reads a column in full.
(b) Runs the bundled Adult model on 10,000 resampled rows as members and 10,000 others as
    non-members (the model's real training rows are not shipped; the figures time the
    attacks, they do not judge this model) and times ``membership_inference`` with
    ``--n-boot`` replicates: both attacks, intervals, TPR at low FPR and per-group figures
    for sex and race.

    python benchmarks/bench_privacy.py [--rows 1000000] [--n-boot 1000]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from benchkit import (
    MODEL,
    SENSITIVE,
    TARGET,
    TEST_CSV,
    adult_test,
    format_seconds,
    machine_line,
    print_table,
    resample_rows,
    time_call,
)

from audit import AuditRequest
from audit.data.table import prepare_sensitive, prepare_target
from audit.models import load_model
from audit.models.features import parse_metadata
from audit.models.inference import feature_matrix
from audit.models.scoring import model_predictions, raw_output
from audit.privacy.membership import GroupCodes, Scored, membership_inference
from audit.privacy.pii import scan_frame


def planted(rows: int, seed: int) -> pd.DataFrame:
    """Eight PII columns of ``rows`` values each, from a small pool of valid values."""
    rng = np.random.default_rng(seed)
    pool = 2000
    luhn = []
    for number in rng.integers(4 * 10**14, 5 * 10**14, pool):
        digits = [int(d) for d in str(number)]
        total = sum(
            d if i % 2 else (d * 2 - 9 if d > 4 else d * 2) for i, d in enumerate(digits[::-1])
        )
        luhn.append(f"{number}{(10 - total % 10) % 10}")
    values = {
        "email": [f"user{i}@mail{i % 50}.example.org" for i in range(pool)],
        "phone": [f"+1 212-{200 + i % 700}-{i:04d}" for i in range(pool)],
        "ssn": [f"{1 + i % 600:03d}-{1 + i % 98:02d}-{1 + i:04d}" for i in range(pool)],
        "card_number": luhn,
        "iban": ["DE89370400440532013000"] * pool,
        "client_ip": [f"10.{i % 256}.{i // 256}.{1 + i % 200}" for i in range(pool)],
        "dob": [f"{1950 + i % 50}-{1 + i % 12:02d}-{1 + i % 28:02d}" for i in range(pool)],
        "postcode": [f"SW{1 + i % 9} {i % 10}AA" for i in range(pool)],
    }
    picks = rng.integers(0, pool, rows)
    return pd.DataFrame({name: np.asarray(column)[picks] for name, column in values.items()})


def scan_benchmark(rows: int) -> list[list[str]]:
    base = adult_test()
    frame = base.iloc[resample_rows(len(base), rows, 0)].reset_index(drop=True)
    frame = pd.concat([frame, planted(rows, 1)], axis=1)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "big.csv"
        frame.to_csv(path, index=False)
        read = time_call(lambda: pd.read_csv(path), repeat=1)
    loaded = read.value
    scan = time_call(lambda: scan_frame(loaded, seed=0), repeat=3)
    found = sorted({(d.column, d.type) for d in scan.value.detections})
    print(f"\nDetected ({len(found)}): " + ", ".join(f"{c}={t}" for c, t in found))
    return [
        [
            f"pandas.read_csv, {rows:,} rows x {loaded.shape[1]} columns",
            format_seconds(read.best),
            "1",
        ],
        [
            "scan_frame (1,000 sampled values per column)",
            format_seconds(scan.best),
            str(scan.runs),
        ],
    ]


def membership_benchmark(n: int, n_boot: int) -> list[list[str]]:
    base = adult_test()
    rows = resample_rows(len(base), 2 * n, 2)
    members_frame = base.iloc[rows[:n]].reset_index(drop=True)
    nonmembers_frame = base.iloc[rows[n:]].reset_index(drop=True)
    model = load_model(MODEL)
    assert model.metadata_text is not None
    metadata = parse_metadata(model.metadata_text, MODEL)
    request = AuditRequest(data=TEST_CSV, target=TARGET, sensitive=SENSITIVE, model=MODEL)

    def score(frame: pd.DataFrame) -> Scored:
        target = prepare_target(frame, TARGET, metadata.positive_label, TEST_CSV)
        matrix = feature_matrix(request, frame, metadata, {TARGET, *SENSITIVE})
        output = raw_output(model, matrix.values, 8192, MODEL)
        predicted = model_predictions(
            output, "auto", 0.5, None, target.positive_label, MODEL, target.labels
        )
        assert predicted.scores is not None
        return Scored(target.y, predicted.scores, predicted.decisions)

    members, nonmembers = score(members_frame), score(nonmembers_frame)
    both = pd.concat([members_frame, nonmembers_frame], ignore_index=True)
    groups = [
        GroupCodes(column.name, column.groups, column.codes[:n], column.codes[n:])
        for column in prepare_sensitive(both, list(SENSITIVE), {}, 10, 4, TEST_CSV)
    ]
    timing = time_call(
        lambda: membership_inference(
            members,
            nonmembers,
            "holdout",
            groups,
            n_boot=n_boot,
            confidence_level=0.95,
            seed=0,
            min_group_size=30,
        ),
        repeat=3,
    )
    result = timing.value
    for attack in result.attacks:
        print(
            f"{attack.attack}: AUC {attack.auc:.3f} {attack.ci}, TPR@1%FPR "
            f"{attack.tpr_at_1pct_fpr}, TPR@0.1%FPR {attack.tpr_at_0_1pct_fpr}"
        )
    return [
        [
            f"membership_inference, {n:,} + {n:,} rows, n_boot={n_boot}, "
            f"{len(result.groups)} groups",
            format_seconds(timing.best),
            str(timing.runs),
        ]
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--members", type=int, default=10_000)
    parser.add_argument("--n-boot", type=int, default=1000)
    args = parser.parse_args()
    print(machine_line())
    rows = scan_benchmark(args.rows) + membership_benchmark(args.members, args.n_boot)
    print_table("Privacy stage", ["step", "best", "runs"], rows)


if __name__ == "__main__":
    main()
