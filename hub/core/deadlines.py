"""Response deadlines for data-subject requests (GDPR Art. 12(3)).

The period. Art. 12(3): the controller answers "without undue delay and in any event within one
month of receipt of the request", extendable "by two further months where necessary". GDPR is an
EU regulation, so its periods are counted under Regulation (EEC, Euratom) No 1182/71 on the rules
applicable to periods, dates and time limits:

* Art. 3(1): the day of receipt itself is not counted;
* Art. 3(2)(c): a period in months ends on the day of the last month that has the same number
  as the day of receipt, or on that month's last day when there is no such day
  (received 31 January -> due 28/29 February);
* Art. 3(4): when the last day is a public holiday, a Saturday or a Sunday, the period ends at
  the end of the following working day;
* Art. 2(1): "public holidays" are those of the Member State where the action is taken, i.e. in
  Sweden the *allmänna helgdagar* of lag (1989:253) om allmänna helgdagar.

Swedish holidays come from the maintained ``holidays`` library (category PUBLIC, which is
exactly the lag 1989:253 list), never from a hand-written table.

The eves. Midsommarafton, julafton and nyårsafton are not public holidays but are de facto
non-working days. Swedish law counts them as such for Swedish statutory periods: lag (1930:173)
om beräkning av lagstadgad tid, 2 § ("... på en söndag, annan allmän helgdag, lördag,
midsommarafton, julafton eller nyårsafton, får åtgärden vidtas nästa vardag"); its 1 § gives the
same month rule as 1182/71. That act governs periods set "enligt lag eller särskild författning"
(Swedish legislation), whereas the GDPR period is governed by 1182/71, under which the eves are
ordinary working days. **Decision:** by default the eves are working days. This is the stricter
reading and can only make the hub answer earlier, never late. ``skip_eves=True`` applies the
Swedish act's wider rule for a controller whose counsel reads it that way.
"""

from __future__ import annotations

import calendar
from datetime import date, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

#: Receipt days and deadlines are calendar days in Sweden.
LOCAL_TIMEZONE = ZoneInfo("Europe/Stockholm")

#: Art. 12(3): "within one month", extendable "by two further months".
RESPONSE_MONTHS = 1
MAX_EXTENSION_MONTHS = 2


def add_months(start: date, months: int) -> date:
    """``start`` plus whole months, clamped to the last day of a shorter month
    (1182/71 Art. 3(2)(c); lag 1930:173 1 §)."""
    index = start.month - 1 + months
    year, month = start.year + index // 12, index % 12 + 1
    return date(year, month, min(start.day, calendar.monthrange(year, month)[1]))


@lru_cache(maxsize=64)
def _swedish_days_off(year: int, skip_eves: bool) -> frozenset[date]:
    import holidays

    categories: tuple[str, ...] = (holidays.PUBLIC,)
    if skip_eves:
        categories += (holidays.DE_FACTO,)  # midsommarafton, julafton, nyårsafton
    return frozenset(holidays.country_holidays("SE", years=year, categories=categories))


def is_swedish_public_holiday(day: date, *, skip_eves: bool = False) -> bool:
    """True on an *allmän helgdag* (and, with ``skip_eves``, on the three eves)."""
    return day in _swedish_days_off(day.year, skip_eves)


def is_working_day(day: date, *, skip_eves: bool = False) -> bool:
    """Not a Saturday, Sunday or Swedish public holiday (1182/71 Art. 3(4))."""
    return day.weekday() < 5 and not is_swedish_public_holiday(day, skip_eves=skip_eves)


def next_working_day(day: date, *, skip_eves: bool = False) -> date:
    """``day`` itself if it is a working day, else the first working day after it."""
    while not is_working_day(day, skip_eves=skip_eves):
        day += timedelta(days=1)
    return day


def period_end(received: date, months: int, *, skip_eves: bool = False) -> date:
    """The last day to act for a period of ``months`` months counted from ``received``."""
    return next_working_day(add_months(received, months), skip_eves=skip_eves)


def response_due(received: date, *, skip_eves: bool = False) -> date:
    """The Art. 12(3) one-month deadline for a request received on ``received``.

    Received 2026-12-01: one month is 2027-01-01 (New Year's Day), then a weekend, so the
    answer is due on Monday 2027-01-04.
    """
    return period_end(received, RESPONSE_MONTHS, skip_eves=skip_eves)


def extended_due(received: date, months: int = MAX_EXTENSION_MONTHS, *,
                 skip_eves: bool = False) -> date:
    """The deadline after an Art. 12(3) extension by ``months`` (1 or 2) further months.

    The extension lengthens the one-month period, so the new period is counted from receipt
    (1 + ``months`` months) rather than from the already shifted first deadline; this keeps
    month ends right (received 31 January: due 30 April, not 28 April).
    """
    if not 1 <= months <= MAX_EXTENSION_MONTHS:
        raise ValueError(
            f"Art. 12(3) allows an extension by at most {MAX_EXTENSION_MONTHS} further months, "
            f"not {months}")
    return period_end(received, RESPONSE_MONTHS + months, skip_eves=skip_eves)
