"""The audit log: sign-in attempts, lockouts, password changes and every admin change."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.models import AuditEvent, User

log = logging.getLogger(__name__)

MAX_DETAIL_LENGTH = 2000
PAGE_SIZE = 100


def record(
    session: Session,
    action: str,
    *,
    actor_id: int | None = None,
    actor_username: str = "",
    customer_id: int | None = None,
    object_type: str = "",
    object_id: object = "",
    detail: str = "",
) -> None:
    """Add an event to the audit log in the caller's transaction.

    Callers pass what changed in words and numbers, never a password, cookie or key.
    The event is saved with the change it describes, or not at all.
    """
    session.add(
        AuditEvent(
            action=action,
            actor_id=actor_id,
            actor_username=actor_username[:100],
            customer_id=customer_id,
            object_type=object_type,
            object_id=str(object_id)[:64],
            detail=detail[:MAX_DETAIL_LENGTH],
        )
    )


@dataclass(frozen=True)
class AuditRow:
    created_at: dt.datetime
    actor: str
    customer_id: int | None
    action: str
    object_type: str
    object_id: str
    detail: str


def list_events(
    session: Session, action: str | None = None, customer_id: int | None = None, before_id: int | None = None
) -> list[tuple[int, AuditRow]]:
    """Return a page of audit events, newest first, with their ids for paging."""
    statement = select(AuditEvent, User.username).outerjoin(User, User.id == AuditEvent.actor_id)
    if action:
        statement = statement.where(AuditEvent.action == action)
    if customer_id is not None:
        statement = statement.where(AuditEvent.customer_id == customer_id)
    if before_id is not None:
        statement = statement.where(AuditEvent.id < before_id)
    statement = statement.order_by(AuditEvent.id.desc()).limit(PAGE_SIZE)
    return [
        (
            event.id,
            AuditRow(
                event.created_at,
                username or event.actor_username,
                event.customer_id,
                event.action,
                event.object_type,
                event.object_id,
                event.detail,
            ),
        )
        for event, username in session.execute(statement)
    ]
