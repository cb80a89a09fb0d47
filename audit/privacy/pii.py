"""Which columns hold personal data: decided by a seeded sample of each column's values.

A column is PII when its values say so; its name only raises or lowers the share of values
that must agree (and the confidence). The rules are data (audit/knowledge/pii.toml, with the
common person names in audit/knowledge/person_names.toml); validation is done by maintained
libraries (python-stdnum for national identifiers, card checksums and IBANs, phonenumbers,
email-validator, the standard library's ipaddress), never by hand-written checksums.
"""

from __future__ import annotations

import ipaddress
import re
import string
import time
import tomllib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from importlib import import_module, resources
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from typing import Any, Literal

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


# What a column's name says about a type: one of its hints, one of its exclude words, neither.
NameSignal = Literal["hinted", "plain", "excluded"]


@dataclass(frozen=True)
class NamesTest:
    """A person-name column: many distinct values, many of them holding a common name."""

    min_distinct: int
    non_name_words: frozenset[str]
    known_share: dict[str, float]  # by name signal; a missing signal never passes


@dataclass(frozen=True)
class BirthDatesTest:
    """Dates under no birth hint: spread over decades, with a living person's median age."""

    min_year_span: float
    median_age: tuple[float, float]


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
    shares: dict[str, float]  # by name signal; a missing signal makes no value detection
    pattern: re.Pattern[str] | None
    hinted_pattern: re.Pattern[str] | None
    search: re.Pattern[str] | None
    validator: str | None
    column_test: NamesTest | BirthDatesTest | None


@dataclass(frozen=True)
class ScanSettings:
    sample_size: int
    weak_share: float
    weak_min_distinct: int
    free_text_min_length: int
    phone_regions: tuple[str, ...]


@cache
def knowledge() -> tuple[ScanSettings, tuple[PiiType, ...]]:
    data = tomllib.loads(_knowledge_text("pii.toml"))
    scan = data["scan"]
    settings = ScanSettings(
        sample_size=int(scan["sample_size"]),
        weak_share=float(scan["weak_share"]),
        weak_min_distinct=int(scan["weak_min_distinct"]),
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
            shares={signal: float(share) for signal, share in entry.get("shares", {}).items()},
            pattern=_compile(entry.get("pattern")),
            hinted_pattern=_compile(entry.get("hinted_pattern")),
            search=_compile(entry.get("search")),
            validator=entry.get("validator"),
            column_test=_column_test(key, entry.get("column_test")),
        )
        for key, entry in data["types"].items()
    )
    return settings, types


def _knowledge_text(name: str) -> str:
    return resources.files("audit").joinpath(f"knowledge/{name}").read_text("utf-8")


def _compile(pattern: str | None) -> re.Pattern[str] | None:
    return re.compile(pattern) if pattern else None


def _column_test(key: str, entry: dict[str, Any] | None) -> NamesTest | BirthDatesTest | None:
    if entry is None:
        return None
    if entry["kind"] == "names":
        return NamesTest(
            min_distinct=int(entry["min_distinct"]),
            non_name_words=frozenset(entry["non_name_words"]),
            known_share={signal: float(share) for signal, share in entry["known_share"].items()},
        )
    if entry["kind"] == "birth_dates":
        low, high = entry["median_age"]
        return BirthDatesTest(float(entry["min_year_span"]), (float(low), float(high)))
    raise ValueError(f"pii.toml: {key} names unknown column test {entry['kind']!r}")


@cache
def known_names() -> frozenset[str]:
    """Common given names and surnames, case-folded (audit/knowledge/person_names.toml)."""
    data = tomllib.loads(_knowledge_text("person_names.toml"))
    return frozenset(data["given"]) | frozenset(data["surnames"])


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


def name_signal(pii: PiiType, column: str) -> NameSignal:
    # "zip4" and "address1" also say "zip" and "address".
    words = {part for word in name_words(column) for part in (word, word.rstrip(string.digits))}
    if pii.exclude.intersection(words):
        return "excluded"
    joined = _joined(column)
    if any(hint in words or (len(hint) >= 5 and hint in joined) for hint in pii.hints):
        return "hinted"
    return "plain"


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


def _date_of(value: str) -> date | None:
    text = value.split("T")[0].split(" ")[0]
    for form in _DATE_FORMATS:
        try:
            return datetime.strptime(text, form).date()
        except ValueError:
            continue
    return None


def _birth_date(value: str) -> bool:
    parsed = _date_of(value)
    # A plausible birth date lies in the past, at most about 120 years ago.
    return parsed is not None and parsed.year >= 1900 and parsed <= date.today()


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


def _matching(
    pii: PiiType,
    values: Sequence[str],
    distinct: Sequence[str],
    signal: NameSignal,
    checks: dict[str, Callable[[str], bool]],
) -> list[str]:
    """The sampled values that pass the type's pattern and validator; ``distinct``: the
    values once each. A column's sample mostly repeats a few values (categories, codes), so
    each is tested once: on the Adult audit's 15 columns that cut 0.09 s of regular
    expressions and validators to a few milliseconds."""
    is_hinted = signal == "hinted"
    pattern = pii.hinted_pattern if is_hinted and pii.hinted_pattern else pii.pattern
    if pattern is None:
        return []
    check = _check(pii, is_hinted, checks)
    passing = {
        value for value in distinct if pattern.fullmatch(value) and (check is None or check(value))
    }
    return [value for value in values if value in passing] if passing else []


# The words of a name: "O'Brien-Smith, J." -> o, brien, smith, j.
_NAME_SPLIT = re.compile(r"[\W_]+")


def _column_passes(
    test: NamesTest | BirthDatesTest | None,
    values: Sequence[str],
    matched: Sequence[str],
    signal: NameSignal,
) -> bool:
    """What the sample as a whole must show beside its share of matching values."""
    if isinstance(test, NamesTest):
        needed = test.known_share.get(signal)
        distinct = len(set(values))
        if needed is None or distinct < min(test.min_distinct, len(values)):
            return False
        names = known_names()
        known = 0
        for value in matched:
            words = set(_NAME_SPLIT.split(value.casefold()))
            known += not words & test.non_name_words and bool(words & names)
        return known >= needed * len(values)
    if isinstance(test, BirthDatesTest) and signal != "hinted":
        dates = [parsed for parsed in map(_date_of, matched) if parsed is not None]
        if not dates:
            return False
        years = np.array([day.year + (day.timetuple().tm_yday - 1) / 366 for day in dates])
        low, high = np.percentile(years, [10, 90])
        today = date.today()
        age = today.year + (today.timetuple().tm_yday - 1) / 366 - float(np.median(years))
        youngest, oldest = test.median_age
        return high - low >= test.min_year_span and youngest <= age <= oldest
    return True


def _value_match(
    pii: PiiType,
    values: Sequence[str],
    distinct: Sequence[str],
    signal: NameSignal,
    settings: ScanSettings,
    checks: dict[str, Callable[[str], bool]],
) -> tuple[_Match, Confidence] | None:
    """The type's detection from the values, with its confidence, or None if they disagree.

    Under a hint the values need the type's hinted share, under a plain name its plain
    share, under an exclude word its excluded share; a strong type's validated values
    between the weak share and the hinted share still make a medium detection under a hint.
    """
    needed = pii.shares.get(signal)
    partial = signal == "hinted" and pii.strength == "strong"
    if not values or (needed is None and not partial):
        return None
    matched = _matching(pii, values, distinct, signal, checks)
    match = _Match(pii, len(matched) / len(values), matched[0] if matched else None)
    if needed is not None and match.share >= needed:
        if not _column_passes(pii.column_test, values, matched, signal):
            return None
        if signal == "hinted" or (signal == "plain" and pii.strength == "strong"):
            return match, "high"
        return match, "medium" if signal == "plain" else "low"
    if (
        partial
        and match.share >= settings.weak_share
        and len(set(matched)) >= settings.weak_min_distinct
    ):
        return match, "medium"
    return None


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
    """The PII types of one column: (match, confidence, basis, in_text) per detection.

    The values decide: the type whose value test most of them pass is the column's. Only a
    type that values cannot show (a special category) is recognised by its name alone, and a
    derived column (``zip3``, ``birth_year``) by its name, whatever its values look like.
    """
    derived = [pii for pii in types if derived_from(pii, column)]
    if derived:
        return [(_Match(pii, 0.0, None), "medium", "derived name", False) for pii in derived]
    signals = {pii.key: name_signal(pii, column) for pii in types}
    distinct = list(dict.fromkeys(values))
    found = [
        result
        for pii in types
        if pii.pattern is not None
        and (result := _value_match(pii, values, distinct, signals[pii.key], settings, checks))
    ]
    if found:
        # The most frequent match wins; a hinted type wins ties.
        best, confidence = max(
            found, key=lambda item: (item[0].share, signals[item[0].pii.key] == "hinted")
        )
        basis = "name and values" if signals[best.pii.key] == "hinted" else "values"
        return [(best, confidence, basis, False)]
    detections: list[tuple[_Match, Confidence, str, bool]] = [
        (_Match(pii, 0.0, None), "medium", "name", False)
        for pii in types
        if pii.strength == "none" and signals[pii.key] == "hinted"
    ]
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
