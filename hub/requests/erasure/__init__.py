"""The erasure request (GDPR Art. 17): plan, execute, verify, report.

* :mod:`.plan`      one action per record, decided by the retention policy; weak matches
                    approved one by one
* :mod:`.identity`  why a record matched and whose it looks like (someone else's is never erased)
* :mod:`.execute`   the actions at the processors, committed before and after each call
* :mod:`.verify`    a second lookup proves the records are gone
* :mod:`.report`    the erasure report, Art. 19 notifications, what is still open
* :mod:`.job`       the use-case that runs them in order (``dsar erase``, a scheduler, a web UI)
* :mod:`.tasks`     manual tasks and resuming; :mod:`.retention` erasure after a legal hold
* :mod:`.stores`    the ledger and plan it works on, and closing a request
"""

from hub.requests.erasure.execute import execute
from hub.requests.erasure.identity import RecordMatch, describe_records
from hub.requests.erasure.job import (
    ErasureProposal,
    ErasureResult,
    NotExecuted,
    ReviewResult,
    carry_out,
    erase_subject,
    propose_erasure,
    review_erasure,
    with_approvals,
)
from hub.requests.erasure.plan import (
    ERASING,
    EXCLUDED,
    TASK,
    NotApprovable,
    Plan,
    build_plan,
    parse_ref,
    plan_rows,
)
from hub.requests.erasure.report import Notification, erasure_report, notifications, open_work
from hub.requests.erasure.stores import ErasureStores, close_request, open_stores
from hub.requests.erasure.verify import Verification, verify

__all__ = [
    "ERASING",
    "EXCLUDED",
    "TASK",
    "ErasureProposal",
    "ErasureResult",
    "ErasureStores",
    "NotApprovable",
    "NotExecuted",
    "Notification",
    "Plan",
    "RecordMatch",
    "ReviewResult",
    "Verification",
    "build_plan",
    "carry_out",
    "close_request",
    "describe_records",
    "erase_subject",
    "erasure_report",
    "execute",
    "notifications",
    "open_stores",
    "open_work",
    "parse_ref",
    "plan_rows",
    "propose_erasure",
    "review_erasure",
    "verify",
    "with_approvals",
]
