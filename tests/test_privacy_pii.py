"""PII detection: planted personal data of every type is found, look-alikes are not.

The planted values are generated here with their own rules (Luhn and ISO 7064 check digits
computed in this file, SSN ranges from the SSA's published rules), so the detector is tested
against an independent notion of "valid", not against itself.
"""

from __future__ import annotations

import re
import string
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import linear

from audit import AuditRequest, run_audit
from audit.core.registry import CHECKS
from audit.privacy.masking import mask
from audit.privacy.pii import knowledge, sample_values, scan_frame

ROWS = 300
FIRST = ["Anna", "Ben", "Carla", "David", "Elena", "Farid", "Greta", "Hugo", "Ines", "Jonas"]
LAST = ["Smith", "Okafor", "Nguyen", "Garcia", "Kowalski", "Larsen", "Moreau", "Rossi"]
STREETS = ["Main", "Oak", "Maple", "Cedar", "Elm", "Station", "Church", "Mill"]


def luhn_check_digit(payload: str) -> str:
    total = 0
    for index, char in enumerate(reversed(payload)):
        digit = int(char)
        if index % 2 == 0:  # doubled: these sit left of the check digit at odd distance
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return str((10 - total % 10) % 10)


def luhn_valid(number: str) -> bool:
    return luhn_check_digit(number[:-1]) == number[-1]


def iban_for(country: str, bban: str) -> str:
    """ISO 13616 check digits: move the country code and 00 to the end, mod 97."""
    moved = bban + country + "00"
    numeric = "".join(str(int(char, 36)) for char in moved)
    return f"{country}{98 - int(numeric) % 97:02d}{bban}"


def valid_ssn(rng: np.random.Generator) -> str:
    # SSA rules: area 001-899 but not 666, group 01-99, serial 0001-9999.
    area = int(rng.integers(1, 666))
    return f"{area:03d}-{rng.integers(1, 100):02d}-{rng.integers(1, 10000):04d}"


def planted_frame(rows: int = ROWS, seed: int = 0) -> pd.DataFrame:
    """A table with one column per PII type, plus the target and a sensitive column."""
    rng = np.random.default_rng(seed)
    pick = lambda items: [items[i] for i in rng.integers(0, len(items), rows)]  # noqa: E731
    first, last = pick(FIRST), pick(LAST)
    cards = []
    for _ in range(rows):
        payload = "4" + "".join(str(d) for d in rng.integers(0, 10, 14))
        cards.append(payload + luhn_check_digit(payload))
    ibans = [iban_for("DE", "".join(str(d) for d in rng.integers(0, 10, 18))) for _ in range(rows)]
    sins = []
    for _ in range(rows):
        payload = str(rng.integers(1, 8)) + "".join(str(d) for d in rng.integers(0, 10, 7))
        number = payload + luhn_check_digit(payload)
        sins.append(f"{number[:3]} {number[3:6]} {number[6:]}")
    letters = string.ascii_uppercase
    return pd.DataFrame(
        {
            "customer_name": [f"{a} {b}" for a, b in zip(first, last, strict=True)],
            "contact": [
                f"{a.lower()}.{b.lower()}{i}@mail{i % 7}.example.org"
                for i, (a, b) in enumerate(zip(first, last, strict=True))
            ],
            "tel": [
                f"+1 212-{rng.integers(200, 999)}-{rng.integers(0, 10000):04d}" for _ in range(rows)
            ],
            "ssn": [valid_ssn(rng) for _ in range(rows)],
            "sin": sins,
            "card_number": cards,
            "iban": ibans,
            "client_ip": [
                ".".join(str(part) for part in (rng.integers(11, 223), *rng.integers(0, 256, 3)))
                for _ in range(rows)
            ],
            "dob": [
                f"{rng.integers(1940, 2005)}-{rng.integers(1, 13):02d}-{rng.integers(1, 29):02d}"
                for _ in range(rows)
            ],
            "street_address": [f"{rng.integers(1, 999)} {s} Street" for s in pick(STREETS)],
            "postcode": [
                f"{letters[rng.integers(26)]}{letters[rng.integers(26)]}{rng.integers(1, 10)} "
                f"{rng.integers(1, 10)}{letters[rng.integers(26)]}{letters[rng.integers(26)]}"
                for _ in range(rows)
            ],
            "notes": [
                f"Customer called about the invoice and asked us to write to "
                f"{a.lower()}{i}@inbox.example.com before Friday."
                if i % 3 == 0
                else "Customer called about the invoice; no follow-up needed this time."
                for i, a in enumerate(first)
            ],
            "income": rng.normal(50_000, 10_000, rows).round(2),
            "sex": pick(["F", "M"]),
            "label": rng.integers(0, 2, rows),
        }
    )


EXPECTED = {
    "customer_name": "person_name",
    "contact": "email",
    "tel": "phone",
    "ssn": "national_id",
    "sin": "national_id",
    "card_number": "payment_card",
    "iban": "iban",
    "client_ip": "ip_address",
    "dob": "date_of_birth",
    "street_address": "street_address",
    "postcode": "postcode",
}


def _by_column(scan):  # type: ignore[no-untyped-def]
    found: dict[str, list] = {}
    for detection in scan.detections:
        found.setdefault(detection.column, []).append(detection)
    return found


def test_every_planted_type_is_found_with_its_share_and_confidence() -> None:
    frame = planted_frame()
    scan = scan_frame(frame, seed=0, model_inputs=["income", "postcode"], sensitive=["sex"])
    assert scan.status == "ok"
    found = _by_column(scan)
    for column, expected in EXPECTED.items():
        detections = found.get(column, [])
        assert [d.type for d in detections] == [expected], (column, detections)
        detection = detections[0]
        assert detection.share == 1.0, (column, detection.share)
        assert detection.confidence == "high"
        assert detection.sampled == ROWS
        assert detection.masked_example
    assert found["ssn"][0].scheme == "us_ssn"
    assert found["sin"][0].scheme == "ca_sin"
    assert found["postcode"][0].model_input and not found["contact"][0].model_input
    # Free text: a third of the notes carry an e-mail address.
    notes = found["notes"]
    assert [(d.type, d.in_text, d.basis) for d in notes] == [("email", True, "text")]
    assert notes[0].share == pytest.approx(frame["notes"].str.contains("@").mean(), abs=1e-9)
    # Columns without personal data are not flagged.
    assert not {"income", "sex", "label"} & set(found)
    assert set(scan.validators) == {"python-stdnum", "phonenumbers", "email-validator"}


def test_a_repeated_value_counts_as_often_as_it_is_sampled() -> None:
    """Each distinct value is tested once, but the share counts every sampled row: 180 rows of
    three valid addresses and 20 of an invalid one give 0.9."""
    emails = ["ana@example.org", "ben@example.net", "carla@example.com"] * 60 + ["nobody@"] * 20
    frame = pd.DataFrame({"contact_email": emails})
    (detection,) = scan_frame(frame, seed=0).detections
    assert (detection.type, detection.sampled) == ("email", 200)
    assert detection.share == pytest.approx(0.9, abs=1e-12)


def test_look_alikes_that_fail_validation_are_not_found() -> None:
    rng = np.random.default_rng(3)
    rows = 200
    bad_cards = []
    while len(bad_cards) < rows:
        number = "4" + "".join(str(d) for d in rng.integers(0, 10, 15))
        if not luhn_valid(number):
            bad_cards.append(number)
    bad_ssns = [
        f"{area}-{rng.integers(1, 100):02d}-{rng.integers(1, 10000):04d}"
        for area in rng.choice(["000", "666", "900", "987"], rows)
    ]
    good = [iban_for("DE", "".join(str(d) for d in rng.integers(0, 10, 18))) for _ in range(rows)]
    # Change one digit of the account number: the check digits no longer match.
    bad_ibans = [iban[:-1] + str((int(iban[-1]) + 1) % 10) for iban in good]
    frame = pd.DataFrame({"ref_a": bad_cards, "ref_b": bad_ssns, "transfer_ref": bad_ibans})
    scan = scan_frame(frame, seed=0)
    assert scan.detections == ()
    # A hinting name does not make them PII: the values decide, and none validates.
    hinted = frame.rename(columns={"ref_a": "card_number", "ref_b": "ssn", "transfer_ref": "iban"})
    assert scan_frame(hinted, seed=0).detections == ()


def test_name_hints_derived_columns_and_special_categories() -> None:
    frame = pd.DataFrame(
        {
            "zip3": np.arange(100) % 7,
            "ethnicity": ["a", "b"] * 50,
            "product_name": ["Widget Pro", "Gadget Max"] * 50,
            "emailOptIn": [True, False] * 50,
        }
    )
    found = _by_column(scan_frame(frame, seed=1, model_inputs=["zip3"]))
    assert set(found) == {"zip3", "ethnicity"}
    assert (found["zip3"][0].type, found["zip3"][0].basis) == ("postcode", "derived name")
    assert found["zip3"][0].model_input
    assert (found["ethnicity"][0].type, found["ethnicity"][0].category) == (
        "special_category",
        "special",
    )


def test_sampling_is_seeded_bounded_and_never_reads_the_whole_column() -> None:
    class Value:
        """A cell that counts how often it is turned into text, i.e. looked at."""

        reads = 0

        def __init__(self, number: int) -> None:
            self.number = number

        def __str__(self) -> str:
            Value.reads += 1
            return f"v{self.number}"

    n = 200_000
    series = pd.Series([Value(i) for i in range(n)], dtype=object)
    first = sample_values(series, 1000, np.random.default_rng(0))
    assert len(first) == 1000 and len(set(first)) == 1000
    assert Value.reads <= 2 * 1000  # each sampled value is read (twice at most), no others
    again = sample_values(series, 1000, np.random.default_rng(0))
    other = sample_values(series, 1000, np.random.default_rng(1))
    assert first == again and first != other
    # Mostly empty: the sample still finds the non-null values, and only those.
    sparse = pd.Series([None] * (n - 50) + [f"v{i}" for i in range(50)])
    assert sorted(sample_values(sparse, 1000, np.random.default_rng(0))) == sorted(
        f"v{i}" for i in range(50)
    )
    # Integral floats (a numeric column with gaps) are read back as their digits.
    floats = pd.Series([4111111111111111.0, np.nan])
    assert sample_values(floats, 10, np.random.default_rng(0)) == ["4111111111111111"]


def test_a_large_frame_is_scanned_from_a_sample_of_each_column() -> None:
    frame = planted_frame(rows=400)
    big = frame.iloc[np.random.default_rng(0).integers(0, 400, 200_000)].reset_index(drop=True)
    scan = scan_frame(big, seed=0)
    assert scan.sample_size == knowledge()[0].sample_size == 1000
    assert all(detection.sampled == 1000 for detection in scan.detections)
    assert {d.column for d in scan.detections} >= set(EXPECTED)


@pytest.mark.parametrize(
    ("pii_type", "value", "masked"),
    [
        ("email", "jane.doe@example.org", "j***@e***.org"),
        ("national_id", "123-45-6789", "***-**-6789"),
        ("payment_card", "4111 1111 1111 1111", "**** **** **** 1111"),
        ("iban", "DE89 3704 0044 0532 0130 00", "DE" + "*" * 16 + "3000"),
        ("phone", "+1 212-555-0143", "+* ***-***-**43"),
        ("ip_address", "192.168.10.20", "192.*.*.*"),
        ("date_of_birth", "1985-03-14", "****-**-**"),
        ("person_name", "Jane Doe", "J*** D***"),
        ("street_address", "221 Baker Street", "*** B*** S***"),
        ("postcode", "SW1A 2AA", "SW** ***"),
    ],
)
def test_masking_keeps_the_shape_and_hides_the_value(
    pii_type: str, value: str, masked: str
) -> None:
    assert mask(pii_type, value) == masked
    digits = re.sub(r"\D", "", value)
    if len(digits) >= 6:
        assert digits not in re.sub(r"\D", "", mask(pii_type, value))


def test_findings_grade_pii_by_use_and_kind(tmp_path: Path) -> None:
    frame = planted_frame(rows=120)
    frame["x1"] = np.random.default_rng(0).normal(size=len(frame))
    frame["zip3"] = np.arange(len(frame)) % 900 + 100
    data = tmp_path / "data.csv"
    frame.to_csv(data, index=False)
    request = AuditRequest(
        data=data,
        target="label",
        sensitive=("sex",),
        predictions="label",
        search_config=False,
        policy_overrides={"n_boot": 20},
    )
    checks = [check for check in CHECKS if check.id.startswith("privacy.")]
    # Decisions only: which columns a model would use is unknown, so that check is skipped.
    result = run_audit(request, checks)
    runs = {run.id: run for run in result.checks}
    assert runs["privacy.pii_model_input"].status.value == "skipped"
    by_column = {f.evidence.feature[0]: f for f in result.findings if f.check.endswith("in_data")}
    assert by_column["contact"].severity.value == "low"  # a direct identifier, kept unused
    assert by_column["postcode"].severity.value == "low"  # a quasi-identifier, kept unused
    assert by_column["contact"].accountable.value == "developer"
    assert any("Art. 5(1)(c)" in ref for ref in by_column["contact"].references)
    assert by_column["contact"].evidence.details["masked_examples"][0].count("*") >= 6

    model = tmp_path / "model.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.save(torch.jit.script(linear([[0, 0], [1.0, 0.01]], [0, 0])), str(model))
    with_model = run_audit(
        AuditRequest(
            data=data,
            model=model,
            target="label",
            sensitive=("sex",),
            features=("x1", "zip3"),
            search_config=False,
            policy_overrides={"n_boot": 20},
        ),
        checks,
    )
    (used,) = [f for f in with_model.findings if f.check == "privacy.pii_model_input"]
    assert used.evidence.feature == ("zip3",) and used.severity.value == "medium"
    assert used.evidence.details["derived"] is True
    assert "regulator" in [role.value for role in used.consulted]
