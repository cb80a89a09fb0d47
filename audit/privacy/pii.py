"""Which columns hold personal data: from each column's name and a seeded sample of its values.

The rules are data (audit/knowledge/pii.toml); validation is done by maintained libraries
(python-stdnum for national identifiers, card checksums and IBANs, phonenumbers,
email-validator, the standard library's ipaddress), never by hand-written checksums.
"""

from __future__ import annotations

import ipaddress
import re
import time
import tomllib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from importlib import import_module, resources
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from typing import Any

import numpy as np
import pandas as pd

from audit.privacy.masking import mask
from audit.privacy.report import Confidence, PiiDetection, PiiScan

EXTRA_HINT = "pip install 'rai-audit[privacy]'"
# The libraries the value checks need, by import name and distribution name.
VALIDATOR_PACKAGES = {
    "stdnum": "python-stdnum",
    "phonenumbers": "phonenumbers",
    "email_validator": "email-validator",
}


@dataclass(frozen=True)
class PiiType:
    key: str
    type: str
    label: str
    category: str
    strength: str  # "strong", "weak" or "none"
    hints: tuple[str, ...]
    exclude: frozenset[str]
    derived: tuple[str, ...]
    pattern: re.Pattern[str] | None
    hinted_pattern: re.Pattern[str] | None
    search: re.Pattern[str] | None
    validator: str | None


@dataclass(frozen=True)
class ScanSettings:
    sample_size: int
    min_share: float
    weak_share: float
    free_text_min_length: int
    phone_regions: tuple[str, ...]


@cache
def knowledge() -> tuple[ScanSettings, tuple[PiiType, ...]]:
    text = resources.files("audit").joinpath("knowledge/pii.toml").read_text("utf-8")
    data = tomllib.loads(text)
    scan = data["scan"]
    settings = ScanSettings(
        sample_size=int(scan["sample_size"]),
        min_share=float(scan["min_share"]),
        weak_share=float(scan["weak_share"]),
        free_text_min_length=int(scan["free_text_min_length"]),
        phone_regions=tuple(scan["phone_regions"]),
    )
    types = tuple(
        PiiType(
            key=key,
            type=entry.get("type", key),
            label=entry["label"],
            category=entry["category"],
            strength=entry["strength"],
            hints=tuple(entry.get("hints", ())),
            exclude=frozenset(entry.get("exclude", ())),
            derived=tuple(_joined(name) for name in entry.get("derived", ())),
            pattern=_compile(entry.get("pattern")),
            hinted_pattern=_compile(entry.get("hinted_pattern")),
            search=_compile(entry.get("search")),
            validator=entry.get("validator"),
        )
        for key, entry in data["types"].items()
    )
    return settings, types


def _compile(pattern: str | None) -> re.Pattern[str] | None:
    return re.compile(pattern) if pattern else None


def missing_validators() -> list[str]:
    """Distributions of the ``privacy`` extra that are not installed."""
    missing = []
    for module, distribution in VALIDATOR_PACKAGES.items():
        try:
            import_module(module)
        except ImportError:
            missing.append(distribution)
    return missing


def validator_versions() -> dict[str, str]:
    versions = {}
    for distribution in VALIDATOR_PACKAGES.values():
        try:
            versions[distribution] = package_version(distribution)
        except PackageNotFoundError:
            continue
    return versions


# --------------------------------------------------------------------------- column names
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def name_words(column: str) -> tuple[str, ...]:
    """``customerEmail_2`` -> ("customer", "email", "2")."""
    spaced = _CAMEL.sub(" ", str(column))
    return tuple(word for word in re.split(r"[^a-z0-9]+", spaced.lower()) if word)


def _joined(column: str) -> str:
    return "".join(name_words(column))


def hinted(pii: PiiType, column: str) -> bool:
    words = name_words(column)
    if not words or pii.exclude.intersection(words):
        return False
    joined = "".join(words)
    return any(hint in words or (len(hint) >= 5 and hint in joined) for hint in pii.hints)


def derived_from(pii: PiiType, column: str) -> bool:
    return bool(pii.derived) and _joined(column) in pii.derived


# ------------------------------------------------------------------------------ validators
# Suffix of a stricter validator used where the column name gives no hint.
_UNHINTED = ":unhinted"


def _stdnum(module_name: str) -> Callable[[str], bool]:
    module = import_module(f"stdnum.{module_name}")
    is_valid: Callable[[str], bool] = module.is_valid
    return is_valid


def _card(value: str) -> bool:
    from stdnum import luhn

    digits = re.sub(r"[ -]", "", value)
    # Issuer prefixes 2-6 (Mastercard, Visa, Amex, Discover, JCB, UnionPay...): with Luhn
    # alone one random number in ten would pass.
    return 13 <= len(digits) <= 19 and digits[0] in "23456" and bool(luhn.is_valid(digits))


def _email(value: str) -> bool:
    from email_validator import EmailNotValidError, validate_email

    try:
        # Syntax only: a deliverability check would send DNS queries from the audit.
        validate_email(value, check_deliverability=False)
    except EmailNotValidError:
        return False
    return True


def _phone_checker(regions: Sequence[str]) -> Callable[[str], bool]:
    import phonenumbers

    def is_phone(value: str) -> bool:
        digits = sum(character.isdigit() for character in value)
        if not 7 <= digits <= 15:
            return False
        for region in (None,) if value.startswith("+") else regions:
            try:
                number = phonenumbers.parse(value, region)
            except phonenumbers.NumberParseException:
                continue
            if phonenumbers.is_valid_number(number):
                return True
        return False

    return is_phone


def _ip(value: str) -> bool:
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return False
    # 0.0.0.0 and the like are placeholders, not someone's address.
    return not address.is_unspecified


_DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d", "%d/%m/%Y", "%m/%d/%Y", "%d.%m.%Y", "%d-%m-%Y")


def _birth_date(value: str) -> bool:
    text = value.split("T")[0].split(" ")[0]
    for form in _DATE_FORMATS:
        try:
            parsed = datetime.strptime(text, form).date()
        except ValueError:
            continue
        # A plausible birth date lies in the past, at most about 120 years ago.
        return parsed.year >= 1900 and parsed <= date.today()
    return False


def validators(
    settings: ScanSettings, types: Iterable[PiiType]
) -> dict[str, Callable[[str], bool]]:
    """Each validator the types name, built once per scan (imports happen here)."""
    built: dict[str, Callable[[str], bool]] = {}
    for pii in types:
        name = pii.validator
        if name is None or name in built:
            continue
        if name.startswith("stdnum:"):
            built[name] = _stdnum(name.removeprefix("stdnum:"))
        elif name == "card":
            built[name] = _card
        elif name == "email":
            built[name] = _email
        elif name == "phone":
            built[name] = _phone_checker(settings.phone_regions)
            # Without a name hint only the first region counts: "666-45-1234" is a valid
            # German number but far more likely an (invalid) SSN.
            built[f"{name}{_UNHINTED}"] = _phone_checker(settings.phone_regions[:1])
        elif name == "ip":
            built[name] = _ip
        elif name == "birth_date":
            built[name] = _birth_date
        else:
            raise ValueError(f"pii.toml names unknown validator {name!r}")
    return built


# -------------------------------------------------------------------------------- sampling
def sample_values(series: pd.Series, size: int, rng: np.random.Generator) -> list[str]:
    """Up to ``size`` non-null values as trimmed text, drawn at seeded random positions.

    A large column is never read in full: positions are drawn first and only those values
    are looked at; only a mostly empty column falls back to locating its non-null rows.
    """
    n = len(series)
    if n > 3 * size:
        positions = np.unique(rng.integers(0, n, 3 * size))
        picked = series.iloc[positions].dropna()
        if len(picked) < size:
            present = np.flatnonzero(series.notna().to_numpy())
            take = min(size, len(present))
            positions = np.sort(rng.choice(present, size=take, replace=False))
            picked = series.iloc[positions]
    else:
        picked = series.dropna()
    if len(picked) > size:
        picked = picked.iloc[np.sort(rng.choice(len(picked), size=size, replace=False))]
    return [_as_text(value) for value in picked.tolist() if _as_text(value)]


def _as_text(value: Any) -> str:
    # A numeric column loses its formatting: 4111111111111111.0 is read back as the digits.
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e19:
        return str(int(value))
    return str(value).strip()


# ------------------------------------------------------------------------------ detection
@dataclass(frozen=True)
class _Match:
    pii: PiiType
    share: float
    example: str | None


def _check(
    pii: PiiType, is_hinted: bool, checks: dict[str, Callable[[str], bool]]
) -> Callable[[str], bool] | None:
    if pii.validator is None:
        return None
    if not is_hinted and f"{pii.validator}{_UNHINTED}" in checks:
        return checks[f"{pii.validator}{_UNHINTED}"]
    return checks[pii.validator]


def _value_share(
    pii: PiiType,
    values: Sequence[str],
    is_hinted: bool,
    checks: dict[str, Callable[[str], bool]],
) -> _Match:
    pattern = pii.hinted_pattern if is_hinted and pii.hinted_pattern else pii.pattern
    if pattern is None or not values:
        return _Match(pii, 0.0, None)
    check = _check(pii, is_hinted, checks)
    matched = 0
    example = None
    for value in values:
        if pattern.fullmatch(value) and (check is None or check(value)):
            matched += 1
            example = example or value
    return _Match(pii, matched / len(values), example)


def _free_text(values: Sequence[str], settings: ScanSettings) -> bool:
    if not values:
        return False
    mean_length = sum(map(len, values)) / len(values)
    spaced = sum(" " in value for value in values) / len(values)
    return mean_length >= settings.free_text_min_length and spaced >= 0.5


def _in_text(
    pii: PiiType, values: Sequence[str], checks: dict[str, Callable[[str], bool]]
) -> _Match:
    assert pii.search is not None
    check = _check(pii, False, checks)
    matched = 0
    example = None
    for value in values:
        for found in list(pii.search.finditer(value))[:5]:
            text = found.group(0).strip()
            if check is None or check(text):
                matched += 1
                example = example or text
                break
    return _Match(pii, matched / len(values), example)


def classify_column(
    column: str,
    values: Sequence[str],
    settings: ScanSettings,
    types: Sequence[PiiType],
    checks: dict[str, Callable[[str], bool]],
) -> list[tuple[_Match, Confidence, str, bool]]:
    """The PII types of one column: (match, confidence, basis, in_text) per detection."""
    hints = {pii.key for pii in types if hinted(pii, column)}
    matches = [
        _value_share(pii, values, pii.key in hints, checks)
        for pii in types
        if pii.pattern is not None and (pii.strength == "strong" or pii.key in hints)
    ]
    strong = [match for match in matches if match.share >= settings.min_share]
    if strong:
        # The most frequent match wins; a hinted type wins ties.
        best = max(strong, key=lambda match: (match.share, match.pii.key in hints))
        basis = "name and values" if best.pii.key in hints else "values"
        return [(best, "high", basis, False)]
    detections: list[tuple[_Match, Confidence, str, bool]] = []
    by_key = {match.pii.key: match for match in matches}
    for pii in types:
        if pii.key not in hints:
            continue
        match = by_key.get(pii.key, _Match(pii, 0.0, None))
        if pii.strength == "none":
            confidence: Confidence = "medium"
        else:
            confidence = "medium" if match.share >= settings.weak_share else "low"
        detections.append((match, confidence, "name", False))
    if not detections:
        for pii in types:
            if derived_from(pii, column):
                detections.append((_Match(pii, 0.0, None), "medium", "derived name", False))
    if _free_text(values, settings):
        for pii in types:
            if pii.search is None:
                continue
            match = _in_text(pii, values, checks)
            if match.share > 0:
                detections.append(
                    (match, "high" if match.share >= 0.01 else "medium", "text", True)
                )
    return detections


def scan_frame(
    frame: pd.DataFrame,
    seed: int,
    model_inputs: Iterable[str] = (),
    sensitive: Iterable[str] = (),
    settings: ScanSettings | None = None,
) -> PiiScan:
    """Classify every column of ``frame``; never holds a raw value (examples are masked)."""
    missing = missing_validators()
    if missing:
        return PiiScan(
            status="skipped",
            reason=f"PII validation needs {', '.join(missing)}: {EXTRA_HINT}",
            rows=len(frame),
        )
    clock = time.perf_counter()
    default_settings, types = knowledge()
    settings = settings or default_settings
    checks = validators(settings, types)
    inputs, declared = set(model_inputs), set(sensitive)
    detections = []
    for position, column in enumerate(frame.columns):
        # One generator per column, seeded by its position: a column's sample does not
        # change when another column is added or removed after it.
        rng = np.random.default_rng([seed, position])
        series = frame.iloc[:, position]
        if pd.api.types.is_bool_dtype(series):
            values: list[str] = []
        else:
            values = sample_values(series, settings.sample_size, rng)
        name = str(column)
        for match, confidence, basis, in_text in classify_column(
            name, values, settings, types, checks
        ):
            detections.append(
                PiiDetection(
                    column=name,
                    type=match.pii.type,
                    scheme=match.pii.key,
                    label=match.pii.label,
                    category=match.pii.category,  # type: ignore[arg-type]
                    share=match.share,
                    sampled=len(values),
                    confidence=confidence,
                    basis=basis,  # type: ignore[arg-type]
                    in_text=in_text,
                    masked_example=mask(match.pii.type, match.example) if match.example else None,
                    model_input=name in inputs,
                    sensitive=name in declared,
                )
            )
    return PiiScan(
        status="ok",
        rows=len(frame),
        columns_scanned=frame.shape[1],
        sample_size=settings.sample_size,
        seed=seed,
        validators=validator_versions(),
        detections=tuple(detections),
        seconds=round(time.perf_counter() - clock, 3),
    )
