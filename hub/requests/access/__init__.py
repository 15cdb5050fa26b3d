"""The access request (GDPR Art. 15): :mod:`.lookup` finds what every processor holds,
:mod:`.job` records the answer in the ledger and writes the report files, :mod:`.review` and
:mod:`.approval` hold back what Art. 15(4) asks a person to look at first."""

from hub.requests.access.approval import AccessReview, ReviewState, review_access
from hub.requests.access.job import (
    AccessAnswer,
    access_verdict,
    answer_access,
    answer_one,
    batch_verdict,
)
from hub.requests.access.lookup import ProgressCallback, look_up, look_up_many

__all__ = ["AccessAnswer", "AccessReview", "ProgressCallback", "ReviewState", "access_verdict",
           "answer_access", "answer_one", "batch_verdict", "look_up", "look_up_many",
           "review_access"]
