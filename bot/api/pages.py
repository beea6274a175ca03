"""Lists a page at a time, newest first, with an opaque cursor that names where the next page
starts (the last row's time and id), so pages stay right while rows are added."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.orm import Session

from bot.api.errors import ApiError

Row = TypeVar("Row")


def page(
    session: Session,
    query: sa.sql.Select,
    model: type[Row],
    cursor: str | None,
    limit: int,
) -> tuple[list[Row], str | None]:
    """One page of ``query`` (rows of ``model``, which has ``created_at`` and ``id``) after
    ``cursor``; the rows and the next page's cursor (None on the last page)."""
    created, key = model.created_at, model.id  # type: ignore[attr-defined]
    if cursor:
        at, last = _decode(cursor)
        if not isinstance(last, key.type.python_type):
            raise _bad_cursor()
        query = query.where(sa.or_(created < at, sa.and_(created == at, key < last)))
    ordered = query.order_by(created.desc(), key.desc()).limit(limit + 1)
    rows = list(session.execute(ordered).scalars())
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    final = rows[-1]
    return rows, _encode(final.created_at, final.id)


def _encode(at: dt.datetime, key: Any) -> str:
    raw = json.dumps([at.isoformat(), key]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(cursor: str) -> tuple[dt.datetime, Any]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        at, key = json.loads(raw)
        if isinstance(key, bool):
            raise ValueError("a key is an id")
        at = dt.datetime.fromisoformat(at)
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise _bad_cursor() from None
    if at.tzinfo is not None:
        at = at.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return at, key


def _bad_cursor() -> ApiError:
    return ApiError(422, "invalid_cursor", "cursor is not one this API gave")
