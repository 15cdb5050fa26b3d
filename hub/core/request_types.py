"""The kinds of data-subject request the hub knows: the one list every other part derives from.

``dsar requests open --type`` offers these choices, the ledger stores and validates its ``type``
column against them, and ``report.json`` names the subset the hub writes reports for. Keeping
them in one place means a new right (say, portability as its own request) is added here once
instead of in the CLI, the ledger and the report model separately.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal, get_args


class RequestType(StrEnum):
    """The rights a request exercises (Art. 15-21, Art. 7(3)); the order is the one the CLI's
    help lists them in."""

    ACCESS = "access"
    ERASURE = "erasure"
    OBJECTION = "objection"
    RECTIFICATION = "rectification"
    RESTRICTION = "restriction"
    CONSENT_WITHDRAWAL = "consent-withdrawal"


#: Every request type's name, in :class:`RequestType` order (the CLI's choices).
REQUEST_TYPES: tuple[str, ...] = tuple(kind.value for kind in RequestType)

#: The request types the hub answers with a report (``report.json``'s ``request.type``). A
#: ``Literal`` so the report's JSON Schema lists exactly these; the others are recorded in the
#: ledger and answered by hand.
ReportedType = Literal["access", "erasure"]

#: :data:`ReportedType` as values, for code that iterates over it.
REPORTED_TYPES: tuple[RequestType, ...] = tuple(
    RequestType(name) for name in get_args(ReportedType))
