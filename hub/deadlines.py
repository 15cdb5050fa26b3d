"""Response deadlines for data-subject requests.

GDPR Art. 12(3): the controller answers "within one month of receipt of the request". Following
the EU rule on periods (Regulation 1182/71, Art. 3(2)(c)), a period in months ends on the same day
of the month as the day it started, or on the month's last day when that day does not exist.
"""

from __future__ import annotations

import calendar
from datetime import date


def add_months(start: date, months: int) -> date:
    """``start`` plus whole months, clamped to the last day of a shorter month."""
    index = start.month - 1 + months
    year, month = start.year + index // 12, index % 12 + 1
    return date(year, month, min(start.day, calendar.monthrange(year, month)[1]))


def response_due(received: date) -> date:
    """The Art. 12(3) one-month deadline for a request received on ``received``."""
    return add_months(received, 1)
