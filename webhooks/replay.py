"""`dialgate webhooks replay`: apply stored raw callbacks again, after a fix, idempotently."""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import col, select, update

from gateway.keys import sessionmaker_key
from gateway.models import InboxStatus, WebhookInbox
from webhooks.applier import applier_key


@dataclass
class ReplayReport:
    selected: int = 0
    changed_calls: int = 0
    failed: int = 0


async def replay(
    app: Mapping[Any, Any],
    *,
    statuses: set[str],
    since: datetime | None = None,
    account_id: int | None = None,
    ids: list[int] | None = None,
) -> ReplayReport:
    """Re-apply the selected inbox rows in their original order.

    Events already applied are duplicates and change nothing; events stored as unknown-status
    and rows that failed (e.g. unparseable before a fix) are applied with today's code.
    """
    stmt = select(WebhookInbox.id).where(col(WebhookInbox.status).in_(statuses))
    if since is not None:
        stmt = stmt.where(col(WebhookInbox.received_at) >= since)
    if account_id is not None:
        stmt = stmt.where(col(WebhookInbox.account_id) == account_id)
    if ids:
        stmt = stmt.where(col(WebhookInbox.id).in_(ids))
    async with app[sessionmaker_key]() as session:
        selected = [i for i in (await session.exec(stmt.order_by(col(WebhookInbox.id)))).all()]
    report = ReplayReport(selected=len(selected))
    for row_id in selected:
        async with app[sessionmaker_key]() as session:
            await session.exec(
                update(WebhookInbox)
                .where(col(WebhookInbox.id) == row_id)
                .values(status=InboxStatus.PENDING, attempts=0, error=None, applied_at=None)
            )
            await session.commit()
        result = await app[applier_key].apply(row_id or 0, replay=True)
        if result is not None:
            report.changed_calls += len(result.changed)
        async with app[sessionmaker_key]() as session:
            row = await session.get(WebhookInbox, row_id)
            if row is not None and row.status != InboxStatus.APPLIED:
                report.failed += 1
    return report
