"""Keys a shop's own systems call the API with: shown once when made, kept only as a SHA-256,
scoped to one shop, revocable.

A key is 32 random bytes, so a plain SHA-256 is enough to keep it (there is nothing to guess);
a lookup by that hash does not reveal, by its timing, anything about other keys.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

import sqlalchemy as sa
from sqlalchemy.orm import Session

from bot.platform.models import ApiKey, utcnow

KEY_PREFIX = "tgk_"
# The key's first characters, shown in lists to tell keys apart.
SHOWN = len(KEY_PREFIX) + 8
# Recording every use would write on every request; once a minute says enough.
LAST_USED_EVERY = dt.timedelta(minutes=1)


class ApiKeyError(ValueError):
    """A key cannot be made or revoked as asked; the message says why."""


def create_key(session: Session, shop_id: str, name: str) -> tuple[ApiKey, str]:
    """A new key for the shop: its row and the key itself, which is never stored."""
    name = name.strip()
    if not name or len(name) > 100:
        raise ApiKeyError("a key's name must be 1 to 100 characters")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    row = ApiKey(shop_id=shop_id, name=name, prefix=key[:SHOWN], key_hash=_hash(key))
    session.add(row)
    session.flush()
    return row, key


def list_keys(session: Session, shop_id: str) -> list[ApiKey]:
    return list(
        session.execute(
            sa.select(ApiKey).where(ApiKey.shop_id == shop_id).order_by(ApiKey.id)
        ).scalars()
    )


def revoke_key(session: Session, shop_id: str, key_id: int) -> ApiKey:
    """Revoke the shop's key (from then on it is refused); revoking twice is harmless."""
    row = session.execute(
        sa.select(ApiKey).where(ApiKey.shop_id == shop_id, ApiKey.id == key_id)
    ).scalar_one_or_none()
    if row is None:
        raise ApiKeyError(f"shop {shop_id!r} has no key {key_id}")
    row.revoked_at = row.revoked_at or utcnow()
    return row


def authenticate(session: Session, presented: str) -> ApiKey | None:
    """The live key ``presented`` is, or None; its use is noted at most once a minute."""
    if not presented.startswith(KEY_PREFIX):
        return None
    row = session.execute(
        sa.select(ApiKey).where(ApiKey.key_hash == _hash(presented))
    ).scalar_one_or_none()
    if row is None or row.revoked_at is not None:
        return None
    now = utcnow()
    if row.last_used_at is None or now - row.last_used_at > LAST_USED_EVERY:
        row.last_used_at = now
    return row


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()
