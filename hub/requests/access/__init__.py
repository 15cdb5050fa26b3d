"""The access request (GDPR Art. 15): :mod:`.lookup` finds what every processor holds,
:mod:`.job` records the answer in the ledger and writes the report files."""

from hub.requests.access.job import (
    AccessAnswer,
    access_verdict,
    answer_access,
    answer_one,
    batch_verdict,
)
from hub.requests.access.lookup import ProgressCallback, look_up, look_up_many

__all__ = ["AccessAnswer", "ProgressCallback", "access_verdict", "answer_access", "answer_one",
           "batch_verdict", "look_up", "look_up_many"]
