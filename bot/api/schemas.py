"""The API's bodies and answers as pydantic models: requests are validated with them, and the
OpenAPI document's schemas are generated from them (``bot.api.openapi``)."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, Extra, Field, StrictBool, root_validator, validator

from bot.shop.notice_templates import FIELDS, MAX_PARAMETERS
from bot.shop.owners import MAX_OWNERS

# What an order may be moved to from outside; confirming is the buyer's.
MOVES = ("shipped", "delivered", "cancelled")
STATUSES = ("pending", "confirmed", "shipped", "delivered", "cancelled")
MAX_PAGE = 100
MAX_ID = 2**31 - 1


def _nullable(schema: dict[str, Any], model: type[BaseModel]) -> None:
    """OpenAPI 3.0 spells "may be null" as ``nullable``, which pydantic 1 does not write."""
    for name, field in model.__fields__.items():
        prop = schema.get("properties", {}).get(field.alias or name)
        if prop is None or not field.allow_none:
            continue
        if "$ref" in prop:
            schema["properties"][field.alias or name] = {"allOf": [prop], "nullable": True}
        else:
            prop["nullable"] = True


# A request body: unknown fields are refused, text is stripped, and no text carries a NUL or a
# lone surrogate (which no database stores). (Comments, not docstrings: pydantic would give a
# docstring to every model's schema.)
class Model(BaseModel):
    class Config:
        extra = Extra.forbid
        anystr_strip_whitespace = True
        schema_extra = staticmethod(_nullable)

    @validator("*", pre=True, each_item=True)
    def _storable(cls, value: Any) -> Any:  # noqa: N805  (pydantic validators take the class)
        if isinstance(value, str):
            if "\x00" in value:
                raise ValueError("text must not contain NUL characters")
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise ValueError("text must be valid Unicode") from None
        return value


# An answer: documented, never validated at run time (``bot.shop.documents`` builds it).
class Document(BaseModel):
    class Config:
        extra = Extra.allow
        schema_extra = staticmethod(_nullable)


# Requests


class BuyerByPhone(Model):
    phone: str = Field(..., min_length=1, max_length=40, description="any spelling")


def _whole_number(value: Any) -> Any:
    """A JSON integer, not a string, a fraction or a boolean that pydantic would turn into one."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("must be a whole number")
    return value


class BuyerById(Model):
    buyer_id: int = Field(..., ge=1, le=MAX_ID)

    _whole = validator("buyer_id", pre=True, allow_reuse=True)(_whole_number)


class BuyerByInstagram(Model):
    instagram_user_id: str = Field(..., min_length=1, max_length=64)


class NewOrder(Model):
    buyer: BuyerByPhone | BuyerById | BuyerByInstagram
    amount_kobo: int = Field(..., ge=1, le=10**12, description="₦250.00 is 25000")
    description: str = Field(..., min_length=1, max_length=500)
    reference: str | None = Field(
        None, min_length=1, max_length=100, description="the shop's own id, unique per shop"
    )

    _whole = validator("amount_kobo", pre=True, allow_reuse=True)(_whole_number)


class StatusChange(Model):
    status: Literal[MOVES]  # type: ignore[valid-type]
    reason: str | None = Field(None, min_length=1, max_length=500)

    @root_validator(skip_on_failure=True)
    def _reason_when_cancelling(cls, values: dict[str, Any]) -> dict[str, Any]:  # noqa: N805
        if values.get("status") == "cancelled" and not values.get("reason"):
            raise ValueError("a cancellation needs a reason: the buyer is told it")
        return values


class Template(Model):
    name: str = Field(..., min_length=1, max_length=512)
    language: str = Field("en", min_length=2, max_length=6)


class NoticeTemplate(Template):
    parameters: list[Literal[FIELDS]] = Field([], max_items=MAX_PARAMETERS)  # type: ignore[valid-type]


class Features(Model):
    order_tracking: StrictBool | None = None
    receipt_upload: StrictBool | None = None
    address_collection: StrictBool | None = None
    order_cancellation: StrictBool | None = None


class NoticeTemplates(Model):
    """Each kind's template; ``null`` removes it, a kind left out keeps its own."""

    order_created: NoticeTemplate | None = None
    order_shipped: NoticeTemplate | None = None
    order_delivered: NoticeTemplate | None = None
    order_cancelled: NoticeTemplate | None = None
    owner_order_confirmed: NoticeTemplate | None = None
    owner_order_cancelled: NoticeTemplate | None = None
    owner_receipt_received: NoticeTemplate | None = None


class SettingsChange(Model):
    """Only what is given changes; everything is checked before anything changes."""

    tone: Literal["friendly", "professional", "casual"] | None = None
    welcome: str | None = Field(None, max_length=500)
    contact_line: str | None = Field(None, max_length=500)
    features: Features | None = None
    code_template: Template | None = None
    owner_whatsapp: list[str] | None = Field(None, max_items=MAX_OWNERS)
    notice_templates: NoticeTemplates | None = None

    @validator("owner_whatsapp", each_item=True)
    def _short(cls, value: str) -> str:  # noqa: N805
        if not 1 <= len(value) <= 40:
            raise ValueError("a phone number has 1 to 40 characters")
        return value


class Responses(Model):
    """The shop's own responses, in the domain's shape (``responses export`` as JSON)."""

    responses: dict[str, Any]


class Webhook(Model):
    url: str = Field(..., min_length=1, max_length=2000)
    rotate_secret: StrictBool = False


# Query strings


# A list's query: ``limit`` and the ``cursor`` of the page before.
class Query(BaseModel):
    class Config:
        extra = Extra.ignore
        anystr_strip_whitespace = True

    limit: int = Field(20, ge=1, le=MAX_PAGE)
    cursor: str | None = Field(None, max_length=200)


class OrderQuery(Query):
    status: Literal[STATUSES] | None = None  # type: ignore[valid-type]
    buyer_id: int | None = Field(None, ge=1, le=MAX_ID)
    since: dt.datetime | None = None


class BuyerQuery(Query):
    phone: str | None = Field(None, max_length=40)


class NotificationQuery(Query):
    order_id: str | None = Field(None, max_length=20)
    state: Literal["pending", "done", "waiting", "failed", "skipped"] | None = None


class EventQuery(Query):
    type: str | None = Field(None, max_length=40)
    state: Literal["pending", "done", "failed", "skipped"] | None = None


# Answers


class Error(Document):
    code: str
    message: str
    problems: list[dict[str, str]] | None = None


class BuyerSummary(Document):
    id: int
    phone: str | None
    name: str | None


class Order(Document):
    id: str
    status: Literal[STATUSES]  # type: ignore[valid-type]
    amount_kobo: int
    amount: str
    description: str
    reference: str | None
    buyer: BuyerSummary | None
    cancel_reason: str | None
    delivery_address: dict[str, str] | None
    created_at: str
    updated_at: str


class Account(Document):
    channel: str
    user_id: str | None
    username: str | None


class Buyer(BuyerSummary):
    phone_verified: bool
    verified: bool
    accounts: list[Account]
    created_at: str


class Receipt(Document):
    id: int
    order_id: str
    status: str
    content_type: str | None
    size_bytes: int | None
    sha256: str | None
    verdict: str | None
    verdict_reason: str | None
    download_url: str | None
    download_expires_at: str | None
    created_at: str


class Notification(Document):
    id: int
    order_id: str
    kind: str
    to: Literal["buyer", "owner"]
    owner: str | None
    state: str
    reason: str | None
    channel: str | None
    via: str | None
    error_code: int | None
    attempts: int
    created_at: str
    sent_at: str | None


class Delivery(Document):
    attempted_at: str
    url: str
    status_code: int | None
    error: str | None
    succeeded: bool


class Event(Document):
    id: str
    type: str
    state: str
    attempts: int
    last_error: str | None
    data: dict[str, Any]
    created_at: str
    delivered_at: str | None
    next_attempt_at: str | None
    deliveries: list[Delivery] | None = None


class AuditEntry(Document):
    id: int
    action: str
    buyer: str | None
    detail: dict[str, Any]
    created_at: str


class ShopSettings(Document):
    shop_id: str
    name: str
    tone: str
    welcome: str
    contact_line: str
    features: dict[str, bool]
    code_template: dict[str, str] | None
    owner_whatsapp: list[str]
    notice_templates: dict[str, Any]


class WebhookState(Document):
    url: str
    secret: str | None = None
    created_at: str
    updated_at: str


def page_of(item: type[BaseModel]) -> type[BaseModel]:
    """A page of a list: its items, newest first, and the cursor of the next page."""
    return type(
        f"{item.__name__}Page",
        (Document,),
        {
            "__annotations__": {"data": list[item], "next_cursor": str | None},  # type: ignore[valid-type]
            "__module__": __name__,
        },
    )
