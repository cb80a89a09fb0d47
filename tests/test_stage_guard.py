"""A stage part that crashes is recorded as an error; an input error still stops the audit."""

from __future__ import annotations

import pytest

from audit.core.errors import DataError
from audit.core.stage_guard import guarded
from audit.privacy.report import MembershipResult


def test_a_crash_becomes_an_error_section_and_one_line() -> None:
    errors: list[str] = []
    seconds: dict[str, float] = {}

    def crash() -> MembershipResult:
        raise ZeroDivisionError("division by zero")

    section = guarded("membership", errors, MembershipResult(status="skipped"), crash, seconds)
    assert section.status == "error"
    assert section.reason == "crashed (ZeroDivisionError)"
    assert errors == ["membership: ZeroDivisionError: division by zero"]
    assert list(seconds) == ["membership"] and seconds["membership"] >= 0


def test_a_part_that_runs_is_returned_as_it_is() -> None:
    errors: list[str] = []
    done = MembershipResult(status="ok")
    assert guarded("membership", errors, MembershipResult(status="skipped"), lambda: done) is done
    assert errors == []


def test_an_input_error_is_not_swallowed() -> None:
    def bad_input() -> MembershipResult:
        raise DataError("train.csv: no column 'income'")

    with pytest.raises(DataError, match="no column"):
        guarded("membership", [], MembershipResult(status="skipped"), bad_input)
