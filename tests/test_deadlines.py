"""Art. 12(3) deadlines: one month, month ends, Swedish public holidays, extensions."""

from __future__ import annotations

from datetime import date

import pytest

from hub.core.deadlines import (
    add_months,
    extended_due,
    is_swedish_public_holiday,
    is_working_day,
    next_working_day,
    response_due,
)


@pytest.mark.parametrize(("start", "months", "expected"), [
    (date(2026, 1, 15), 1, date(2026, 2, 15)),
    (date(2026, 1, 31), 1, date(2026, 2, 28)),   # no 31 February: the month's last day
    (date(2028, 1, 31), 1, date(2028, 2, 29)),   # leap year
    (date(2026, 3, 31), 1, date(2026, 4, 30)),
    (date(2026, 12, 15), 1, date(2027, 1, 15)),  # over the year end
    (date(2028, 2, 29), 1, date(2028, 3, 29)),   # from a leap day: same day number
    (date(2028, 2, 29), 12, date(2029, 2, 28)),
    (date(2026, 1, 31), 3, date(2026, 4, 30)),
])
def test_add_months_clamps_to_month_end(start: date, months: int, expected: date) -> None:
    assert add_months(start, months) == expected


@pytest.mark.parametrize(("received", "due", "why"), [
    (date(2026, 12, 1), date(2027, 1, 4), "New Year's Day (Fri), then a weekend"),
    (date(2026, 11, 25), date(2026, 12, 28), "Christmas Day (Fri), Boxing Day (Sat), Sunday"),
    (date(2026, 3, 3), date(2026, 4, 7), "Good Friday, weekend, Easter Monday"),
    (date(2026, 4, 14), date(2026, 5, 15), "Ascension Day (Thu)"),
    (date(2026, 12, 6), date(2027, 1, 7), "Epiphany (Wed)"),
    (date(2026, 1, 31), date(2026, 3, 2), "28 February 2026 is a Saturday"),
    (date(2027, 1, 31), date(2027, 3, 1), "28 February 2027 is a Sunday"),
    (date(2028, 1, 31), date(2028, 2, 29), "leap day, a Tuesday"),
    (date(2026, 10, 6), date(2026, 11, 6), "an ordinary Friday"),
    (date(2026, 5, 1), date(2026, 6, 1), "received on a holiday: only the end date counts"),
])
def test_response_due(received: date, due: date, why: str) -> None:
    assert response_due(received) == due, why


def test_holidays_come_from_the_library_and_include_movable_feasts() -> None:
    assert is_swedish_public_holiday(date(2026, 6, 6))      # National Day
    assert is_swedish_public_holiday(date(2027, 5, 6))      # Ascension Day 2027 (movable)
    assert is_swedish_public_holiday(date(2027, 6, 26))     # Midsummer Day (a Saturday)
    assert not is_swedish_public_holiday(date(2026, 6, 8))


def test_eves_are_working_days_by_default_and_skippable() -> None:
    """Midsommarafton, julafton and nyårsafton are not public holidays (lag 1989:253), so under
    Regulation 1182/71 the deadline may fall on them; lag 1930:173 2 § would move it on."""
    for eve in (date(2026, 6, 19), date(2026, 12, 24), date(2026, 12, 31)):
        assert is_working_day(eve)
        assert not is_working_day(eve, skip_eves=True)
    assert response_due(date(2026, 11, 24)) == date(2026, 12, 24)
    assert response_due(date(2026, 11, 24), skip_eves=True) == date(2026, 12, 28)
    assert response_due(date(2026, 5, 19)) == date(2026, 6, 19)
    assert response_due(date(2026, 5, 19), skip_eves=True) == date(2026, 6, 22)


def test_next_working_day() -> None:
    assert next_working_day(date(2026, 12, 7)) == date(2026, 12, 7)  # a Monday stays
    assert next_working_day(date(2026, 12, 25)) == date(2026, 12, 28)


@pytest.mark.parametrize(("received", "months", "due"), [
    (date(2026, 1, 31), 2, date(2026, 4, 30)),  # counted from receipt: not 28 April
    (date(2026, 1, 31), 1, date(2026, 3, 31)),
    (date(2026, 12, 1), 2, date(2027, 3, 1)),
    (date(2027, 11, 30), 2, date(2028, 2, 29)),  # leap year
    (date(2026, 10, 31), 2, date(2027, 2, 1)),   # 31 January 2027 is a Sunday
])
def test_extension_by_at_most_two_further_months(received: date, months: int, due: date) -> None:
    assert extended_due(received, months) == due
    assert extended_due(received, months) > response_due(received)


@pytest.mark.parametrize("months", [0, 3, -1])
def test_extension_limits(months: int) -> None:
    with pytest.raises(ValueError, match="at most 2 further months"):
        extended_due(date(2026, 1, 1), months)
