"""Requests made safe to retry: the answer to a request with an ``Idempotency-Key`` is kept, and
a retry with the same key gets it again instead of doing the work twice.

The answer is stored in the transaction that does the work, so a retry sees either nothing (the
first attempt failed and left nothing behind) or the whole outcome. A key used again for a
different request is refused.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from bot.platform.models import IdempotentRequest

MAX_KEY_LENGTH = 255


class KeyReused(Exception):
    """The key was used before for another request."""


@dataclass(frozen=True)
class Answer:
    status_code: int
    body: Any


def fingerprint(method: str, path: str, body: bytes) -> str:
    return hashlib.sha256(b"\0".join([method.encode(), path.encode(), body])).hexdigest()


def earlier_answer(session: Session, shop_id: str, key: str, request_print: str) -> Answer | None:
    """The answer given to this request before, or None; KeyReused if the key was another's."""
    row = session.execute(
        sa.select(IdempotentRequest).where(
            IdempotentRequest.shop_id == shop_id, IdempotentRequest.key == key
        )
    ).scalar_one_or_none()
    if row is None:
        return None
    if row.fingerprint != request_print:
        raise KeyReused(key)
    return Answer(row.status_code, row.response)


def remember(session: Session, shop_id: str, key: str, request_print: str, answer: Answer) -> None:
    """Keep ``answer`` for the key. When a concurrent request with the same key got there
    first, the flush raises IntegrityError: the caller rolls this request's work back and
    gives that request's answer (``earlier_answer``)."""
    session.add(
        IdempotentRequest(
            shop_id=shop_id,
            key=key,
            fingerprint=request_print,
            status_code=answer.status_code,
            response=answer.body,
        )
    )
    session.flush()
