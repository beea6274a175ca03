"""What happened in the shop: the audit trail, the events sent to its webhook with every
delivery attempt, and the notifications to buyers and owners, sent or not and why."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from bot.api import schemas
from bot.api.errors import not_found
from bot.api.operations import Call, operation
from bot.api.pages import page
from bot.platform.models import AuditEvent, Notification, ShopEvent
from bot.shop import events
from bot.shop.documents import audit_document, event_document, notification_document
from bot.shop.order_ids import normalize_order_id

HISTORY = ("history",)


@operation(
    "GET",
    "/audit",
    "Read the audit trail",
    query=schemas.Query,
    answer=schemas.page_of(schemas.AuditEntry),
    tags=HISTORY,
)
def audit_trail(call: Call, session: Session) -> dict[str, Any]:
    """Who did what in the shop, newest first; buyers are shown masked."""
    query: schemas.Query = call.query
    select = sa.select(AuditEvent).where(AuditEvent.shop_id == call.shop_id)
    rows, cursor = page(session, select, AuditEvent, query.cursor, query.limit)
    return {"data": [audit_document(row) for row in rows], "next_cursor": cursor}


@operation(
    "GET",
    "/events",
    "List events",
    query=schemas.EventQuery,
    answer=schemas.page_of(schemas.Event),
    tags=HISTORY,
)
def list_events(call: Call, session: Session) -> dict[str, Any]:
    """The events of the shop's orders, newest first: ``pending`` (being delivered),
    ``done`` (delivered), ``failed`` (given up after 24 hours), ``skipped`` (no webhook)."""
    query: schemas.EventQuery = call.query
    select = sa.select(ShopEvent).where(ShopEvent.shop_id == call.shop_id)
    if query.type:
        select = select.where(ShopEvent.type == query.type)
    if query.state:
        select = select.where(ShopEvent.state == query.state)
    rows, cursor = page(session, select, ShopEvent, query.cursor, query.limit)
    return {"data": [event_document(row) for row in rows], "next_cursor": cursor}


@operation(
    "GET",
    "/events/{event_id}",
    "Read an event and its deliveries",
    answer=schemas.Event,
    errors=(404,),
    tags=HISTORY,
)
def get_event(call: Call, session: Session) -> dict[str, Any]:
    event = session.get(ShopEvent, call.params["event_id"][:40])
    if event is None or event.shop_id != call.shop_id:
        raise not_found(f"Event {call.params['event_id']}")
    return event_document(event, events.deliveries_of(session, event))


@operation(
    "GET",
    "/notifications",
    "List notifications",
    query=schemas.NotificationQuery,
    answer=schemas.page_of(schemas.Notification),
    tags=HISTORY,
)
def list_notifications(call: Call, session: Session) -> dict[str, Any]:
    """Messages to buyers and owners about orders, newest first: ``done`` (sent), ``waiting``
    (not sent yet, with the reason: it goes when the person next writes), ``pending``,
    ``failed`` (with Meta's error) or ``skipped`` (no longer relevant)."""
    query: schemas.NotificationQuery = call.query
    select = sa.select(Notification).where(Notification.shop_id == call.shop_id)
    if query.order_id:
        select = select.where(
            Notification.order_id == (normalize_order_id(query.order_id) or query.order_id)
        )
    if query.state:
        select = select.where(Notification.state == query.state)
    rows, cursor = page(session, select, Notification, query.cursor, query.limit)
    return {"data": [notification_document(row) for row in rows], "next_cursor": cursor}
