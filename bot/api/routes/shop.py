"""The shop itself: its settings (tone, welcome, features, owners, templates), its own
responses, and its webhook. A change with any problem changes nothing and says what is wrong."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from bot.api import schemas
from bot.api.errors import invalid, not_found
from bot.api.operations import Call, Reply, operation
from bot.platform.models import Shop
from bot.shop import events, owners
from bot.shop import notice_templates as templates
from bot.shop import profile as shop_profile
from bot.shop.documents import timestamp

SHOP = ("shop",)


def _shop(session: Session, call: Call) -> Shop:
    shop = session.get(Shop, call.shop_id)
    if shop is None:
        raise not_found("Shop")
    return shop


def _settings(session: Session, shop: Shop) -> dict[str, Any]:
    profile = shop_profile.load_profile(session, shop)
    code = profile.code_template
    return {
        "shop_id": shop.id,
        "name": shop.name,
        "tone": profile.tone,
        "welcome": profile.welcome,
        "contact_line": profile.contact_line,
        "features": dict(profile.features),
        "code_template": {"name": code.name, "language": code.language} if code else None,
        "owner_whatsapp": owners.owner_numbers(shop),
        "notice_templates": {
            kind.value: template.as_json()
            for kind, template in templates.templates_of(shop).items()
        },
    }


@operation("GET", "/settings", "Read the shop's settings", answer=schemas.ShopSettings, tags=SHOP)
def get_settings(call: Call, session: Session) -> dict[str, Any]:
    return _settings(session, _shop(session, call))


@operation(
    "PATCH",
    "/settings",
    "Change the shop's settings",
    body=schemas.SettingsChange,
    answer=schemas.ShopSettings,
    tags=SHOP,
)
def change_settings(call: Call, session: Session) -> dict[str, Any]:
    """Only the fields given change. ``owner_whatsapp`` replaces the owners' numbers;
    ``notice_templates`` sets (or with ``null`` removes) the WhatsApp template of each kind of
    notification, with the fields that fill its parameters in order."""
    change: schemas.SettingsChange = call.body
    shop = _shop(session, call)
    features = change.features.dict(exclude_none=True) if change.features else {}
    try:
        numbers = (
            owners.checked_numbers(change.owner_whatsapp)
            if change.owner_whatsapp is not None
            else None
        )
        notice_changes = {
            templates.parse_kind(kind): (
                templates.checked(given.name, given.language, given.parameters) if given else None
            )
            for kind, given in _given(change.notice_templates).items()
        }
        shop_profile.update_settings(
            shop,
            tone=change.tone,
            welcome=change.welcome,
            contact_line=change.contact_line,
            enable=[name for name, on in features.items() if on],
            disable=[name for name, on in features.items() if not on],
            code_template=(
                shop_profile.CodeTemplate(change.code_template.name, change.code_template.language)
                if change.code_template
                else None
            ),
        )
    except shop_profile.ProfileError as error:
        raise invalid(str(error)) from None
    if numbers is not None:
        owners.set_owner_numbers(shop, numbers)
    if notice_changes:
        templates.set_templates(shop, notice_changes)
    session.flush()
    return _settings(session, shop)


def _given(model: schemas.NoticeTemplates | None) -> dict[str, Any]:
    """The kinds named in the body, ``null`` ones included (they remove a template)."""
    if model is None:
        return {}
    return {name: getattr(model, name) for name in model.__fields_set__}


@operation(
    "GET",
    "/responses",
    "Read the shop's responses",
    answer=schemas.Document,
    tags=SHOP,
)
def get_responses(call: Call, session: Session) -> dict[str, Any]:
    """Every response as the shop's buyers get it now (``responses export`` as JSON)."""
    shop = _shop(session, call)
    return shop_profile.responses_document(shop_profile.load_profile(session, shop))


@operation(
    "PUT",
    "/responses",
    "Replace the shop's own responses",
    body=schemas.Responses,
    answer=schemas.Document,
    tags=SHOP,
)
def put_responses(call: Call, session: Session) -> dict[str, Any]:
    """The same checks as ``responses import``: a document with any problem is refused whole,
    every problem listed, and nothing changes. Answers the names of the responses that differ
    from the default."""
    shop = _shop(session, call)
    try:
        own = shop_profile.import_document(session, shop, call.body.dict())
    except shop_profile.ProfileError as error:
        problems = [{"field": "responses", "problem": line} for line in str(error).splitlines()]
        raise invalid("The responses were not saved: see problems.", problems) from None
    return {"own_responses": own}


def _webhook(session: Session, call: Call, secret: str | None = None) -> dict[str, Any]:
    webhook = events.webhook_of(session, call.shop_id)
    if webhook is None:
        raise not_found("Webhook")
    return {
        "url": webhook.url,
        "secret": secret,
        "created_at": timestamp(webhook.created_at),
        "updated_at": timestamp(webhook.updated_at),
    }


@operation(
    "GET",
    "/webhook",
    "Read the shop's webhook",
    answer=schemas.WebhookState,
    errors=(404,),
    tags=SHOP,
)
def get_webhook(call: Call, session: Session) -> dict[str, Any]:
    """Where events go; the secret is shown only when it is made."""
    return _webhook(session, call)


@operation(
    "PUT",
    "/webhook",
    "Set the shop's webhook",
    body=schemas.Webhook,
    answer=schemas.WebhookState,
    tags=SHOP,
)
def put_webhook(call: Call, session: Session) -> dict[str, Any]:
    """Send events to ``url`` (https; http only to localhost). The signing secret is made the
    first time, or again with ``rotate_secret``, and shown only then: keep it."""
    try:
        secret = events.set_webhook(session, call.shop_id, call.body.url, call.body.rotate_secret)
    except events.WebhookError as error:
        raise invalid(str(error), [{"field": "url", "problem": str(error)}]) from None
    session.flush()
    return _webhook(session, call, secret)


@operation(
    "DELETE",
    "/webhook",
    "Remove the shop's webhook",
    status=204,
    errors=(404,),
    tags=SHOP,
)
def delete_webhook(call: Call, session: Session) -> Reply:
    """No more deliveries; events still pending are kept, marked skipped."""
    if not events.remove_webhook(session, call.shop_id):
        raise not_found("Webhook")
    return Reply(None, 204)
