"""The access job (GDPR Art. 15): find everything every processor holds about one subject."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

from connectors.base import Connector
from hub import __version__
from hub.deadlines import response_due
from hub.fanout import ProgressCallback, fan_out
from hub.models import Report, RequestInfo, SubjectInfo
from hub.settings import HubSettings
from hub.subject import Subject


def new_request_id(kind: str, now: datetime) -> str:
    """Sortable, unique and free of personal data (it names report folders and log lines)."""
    return f"{kind[:3]}-{now:%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


async def look_up(
    subject: Subject,
    settings: HubSettings,
    connectors: dict[str, type[Connector]],
    *,
    on_progress: ProgressCallback | None = None,
    received_at: datetime | None = None,
) -> Report:
    received = received_at or datetime.now(UTC)
    request_id = new_request_id("access", received)
    results = await fan_out(
        settings, connectors, lambda connector: connector.find_subject(subject),
        request_id=request_id, on_progress=on_progress,
    )
    return Report(
        request=RequestInfo(
            id=request_id, type="access", received_at=received,
            due_at=response_due(received.date()), tool_version=__version__,
        ),
        subject=SubjectInfo(email=subject.email, identifiers=list(subject.identifiers)),
        processors=results,
    )
