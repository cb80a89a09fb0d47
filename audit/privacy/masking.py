"""Masked examples of personal data: enough to recognise the kind of value, never the value.

``mask("email", "jane.doe@example.org")`` is ``j***@e***.org``; ``mask("national_id",
"123-45-6789")`` is ``***-**-6789``. Every example a report shows goes through here.
"""

from __future__ import annotations

import re

_ALNUM = re.compile(r"[A-Za-z0-9]")


def _star_all_but_last(value: str, keep: int) -> str:
    """Replace letters and digits with ``*`` except the last ``keep``; separators stay."""
    positions = [match.start() for match in _ALNUM.finditer(value)]
    hidden = set(positions[: max(len(positions) - keep, 0)])
    return "".join("*" if index in hidden else char for index, char in enumerate(value))


def _email(value: str) -> str:
    local, _, domain = value.rpartition("@")
    labels = domain.split(".")
    top = labels[-1] if len(labels) > 1 else ""
    first = labels[0][:1] if labels and labels[0] else ""
    return f"{local[:1]}***@{first}***" + (f".{top}" if top else "")


def _word_initials(value: str) -> str:
    return " ".join(
        ("*" * len(word)) if word[:1].isdigit() else f"{word[:1]}***" for word in value.split()
    )


def _ip(value: str) -> str:
    if ":" in value:
        return value.split(":")[0] + ":*:*"
    return value.split(".")[0] + ".*.*.*"


def _digits_hidden(value: str) -> str:
    return re.sub(r"[A-Za-z0-9]", "*", value)


def _phone(value: str) -> str:
    return _star_all_but_last(value, 2)


def _iban(value: str) -> str:
    compact = value.replace(" ", "")
    return compact[:2] + "*" * max(len(compact) - 6, 0) + compact[-4:]


def _postcode(value: str) -> str:
    return value[:2] + _digits_hidden(value[2:])


def mask(pii_type: str, value: str) -> str:
    """A masked form of ``value``, by PII type; unknown types hide all but the first char."""
    value = value.strip()
    if pii_type == "email":
        return _email(value)
    if pii_type in ("national_id", "payment_card"):
        keep = 4 if len(_ALNUM.findall(value)) >= 9 else 2
        return _star_all_but_last(value, keep)
    if pii_type == "iban":
        return _iban(value)
    if pii_type == "phone":
        return _phone(value)
    if pii_type == "ip_address":
        return _ip(value)
    if pii_type in ("person_name", "street_address"):
        return _word_initials(value)
    if pii_type == "postcode":
        return _postcode(value)
    if pii_type == "date_of_birth":
        return _digits_hidden(value)
    return value[:1] + "***"
