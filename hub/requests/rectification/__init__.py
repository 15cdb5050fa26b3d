"""The rectification request (GDPR Art. 16): plan, confirm, send, verify, answer (:mod:`.job`)."""

from hub.requests.rectification.changes import Changes, parse_changes
from hub.requests.rectification.job import (
    RectificationProposal,
    RectificationResult,
    carry_out,
    propose_rectification,
)
from hub.requests.rectification.plan import PlanLine, mask

__all__ = ["Changes", "PlanLine", "RectificationProposal", "RectificationResult", "carry_out",
           "mask", "parse_changes", "propose_rectification"]
