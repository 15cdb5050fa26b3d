"""The restriction request (GDPR Art. 18) and its lifting: plan, confirm, record, mark, answer
(:mod:`.job`)."""

from hub.requests.restriction.job import (
    RestrictionProposal,
    RestrictionResult,
    carry_out,
    check_input,
    propose_restriction,
)
from hub.requests.restriction.plan import PlanLine

__all__ = ["PlanLine", "RestrictionProposal", "RestrictionResult", "carry_out", "check_input",
           "propose_restriction"]
