"""What makes a shop sound like itself: tone, welcome, contact line, features, own responses.

All of it lives in the database and is read on every message, so an owner's change applies to
the very next buyer message with no retraining and no restart.
"""

from __future__ import annotations

import difflib
import functools
import re
import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import yaml
from sqlalchemy.orm import Session

from bot.platform.models import Channel, Shop, ShopResponse, utcnow
from bot.platform.settings import PROJECT_ROOT

TONES = ("friendly", "professional", "casual")
FEATURES = {
    "order_tracking": "order tracking",
    "receipt_upload": "receipt uploads",
    "address_collection": "delivery address collection",
    "order_cancellation": "order cancellation",
}
DEFAULT_FEATURES = {
    "order_tracking": True,
    "receipt_upload": True,
    "address_collection": False,
    "order_cancellation": True,
}
DEFAULT_WELCOME = "Welcome to {shop_name}!"
DEFAULT_CONTACT_LINE = "Please contact {shop_name} directly."
# Filled in for every response of every shop, whatever the response.
SHOP_PLACEHOLDERS = frozenset({"shop_name", "buyer_name", "contact_line", "welcome"})
WELCOME_PLACEHOLDERS = frozenset({"shop_name", "buyer_name"})
CHANNELS = tuple(channel.value for channel in Channel)
# Meta's rules for a message template's name and language code.
_TEMPLATE_NAME_RE = re.compile(r"[a-z0-9_]{1,512}")
_TEMPLATE_LANGUAGE_RE = re.compile(r"[a-z]{2,3}(?:_[A-Z]{2})?")


class ProfileError(ValueError):
    """A setting or response file that cannot be saved; the message says exactly why."""


@dataclass(frozen=True)
class CodeTemplate:
    """The shop's approved WhatsApp authentication template that carries a one-time code to a
    phone number (Meta sends codes to numbers only as such a template)."""

    name: str
    language: str = "en"


def code_template_of(shop: Shop) -> CodeTemplate | None:
    template = (shop.settings or {}).get("code_template")
    if not isinstance(template, Mapping) or not template.get("name"):
        return None
    return CodeTemplate(str(template["name"]), str(template.get("language") or "en"))


@dataclass(frozen=True)
class ShopProfile:
    shop_id: str
    name: str
    tone: str = "friendly"
    welcome: str = DEFAULT_WELCOME
    contact_line: str = DEFAULT_CONTACT_LINE
    features: Mapping[str, bool] = field(default_factory=lambda: dict(DEFAULT_FEATURES))
    responses: Mapping[str, list[dict[str, Any]]] = field(default_factory=dict)
    code_template: CodeTemplate | None = None

    def offers(self, feature: str) -> bool:
        return self.features[feature]

    def shop_values(self, buyer_name: str | None) -> dict[str, str]:
        """The shop's placeholders, already filled in (the welcome may name the shop)."""
        names = {"shop_name": self.name, "buyer_name": buyer_name or "there"}
        return {
            **names,
            "welcome": self.welcome.format_map(names),
            "contact_line": self.contact_line.format_map(names),
        }


def features_of(settings: Mapping[str, Any]) -> dict[str, bool]:
    return {**DEFAULT_FEATURES, **settings.get("features", {})}


def shop_offers(shop: Shop, feature: str) -> bool:
    """Read straight from the shop row, which the actions have loaded anyway."""
    return features_of(shop.settings or {})[feature]


def placeholders(text: str) -> set[str]:
    """``"Hi {buyer_name}"`` → ``{"buyer_name"}``; a malformed template raises ProfileError."""
    try:
        return {name for _, name, _, _ in string.Formatter().parse(text) if name}
    except ValueError as error:
        raise ProfileError(f"{text!r}: {error}") from error


def load_profile(session: Session, shop: Shop) -> ShopProfile:
    settings = shop.settings or {}
    overrides = session.execute(
        sa.select(ShopResponse.name, ShopResponse.variants).where(ShopResponse.shop_id == shop.id)
    ).all()
    return ShopProfile(
        shop_id=shop.id,
        name=shop.name,
        tone=settings.get("tone", "friendly"),
        welcome=settings.get("welcome") or DEFAULT_WELCOME,
        contact_line=settings.get("contact_line") or DEFAULT_CONTACT_LINE,
        features=features_of(settings),
        responses={name: variants for name, variants in overrides},
        code_template=code_template_of(shop),
    )


def update_settings(
    shop: Shop,
    *,
    tone: str | None = None,
    welcome: str | None = None,
    contact_line: str | None = None,
    enable: Iterable[str] = (),
    disable: Iterable[str] = (),
    code_template: CodeTemplate | None = None,
) -> None:
    """Validate everything first; an invalid argument changes nothing."""
    enable, disable = list(enable), list(disable)
    if tone is not None and tone not in TONES:
        raise ProfileError(f"tone must be one of {', '.join(TONES)}, not {tone!r}")
    for feature in enable + disable:
        if feature not in FEATURES:
            raise ProfileError(f"unknown feature {feature!r} (features: {', '.join(FEATURES)})")
    if set(enable) & set(disable):
        raise ProfileError("a feature cannot be enabled and disabled at once")
    if code_template is not None:
        check_template(code_template.name, code_template.language)
    for label, text, allowed in (
        ("welcome", welcome, WELCOME_PLACEHOLDERS),
        ("contact line", contact_line, WELCOME_PLACEHOLDERS),
    ):
        if text is not None:
            unknown = placeholders(text) - allowed
            if unknown:
                raise ProfileError(
                    f"{label} uses unknown placeholder(s) {_braced(unknown)}; "
                    f"allowed: {_braced(allowed)}"
                )
    settings = dict(shop.settings or {})
    if tone is not None:
        settings["tone"] = tone
    if welcome is not None:
        settings["welcome"] = welcome.strip()
    if contact_line is not None:
        settings["contact_line"] = contact_line.strip()
    features = features_of(settings)
    features.update({feature: True for feature in enable})
    features.update({feature: False for feature in disable})
    settings["features"] = features
    if code_template is not None:
        settings["code_template"] = {"name": code_template.name, "language": code_template.language}
    shop.settings = settings


def check_template(name: str, language: str) -> None:
    """A WhatsApp message template's name and language as Meta spells them; ProfileError if not."""
    if not _TEMPLATE_NAME_RE.fullmatch(name):
        raise ProfileError(
            f"template name {name!r} must be lower-case letters, digits and underscores, "
            "as in WhatsApp Manager"
        )
    if not _TEMPLATE_LANGUAGE_RE.fullmatch(language):
        raise ProfileError(f"template language {language!r} must be a code such as en or en_US")


def describe_settings(profile: ShopProfile) -> list[str]:
    flags = ", ".join(f"{f} {'on' if profile.offers(f) else 'off'}" for f in FEATURES)
    return [
        f"tone: {profile.tone}",
        f"welcome: {profile.welcome}",
        f"contact line: {profile.contact_line}",
        f"features: {flags}",
        "code template: "
        + (
            f"{profile.code_template.name} ({profile.code_template.language})"
            if profile.code_template
            else "none (buyers cannot prove a phone number by code)"
        ),
        f"own responses: {', '.join(sorted(profile.responses)) or 'none'}",
    ]


# Response overrides


@functools.lru_cache(maxsize=1)
def domain_responses(path: Path = PROJECT_ROOT / "domain.yml") -> dict[str, list[dict[str, Any]]]:
    return yaml.safe_load(path.read_text())["responses"]


def default_variants(name: str, tone: str) -> list[dict[str, Any]]:
    """The domain's wording of a response in a tone, without the tone conditions."""
    variants = domain_responses()[name]
    toned = [v for v in variants if _tone_of(v) == tone]
    chosen = toned or [v for v in variants if _tone_of(v) is None]
    return [{k: v for k, v in variant.items() if k != "condition"} for variant in chosen]


def _tone_of(variant: Mapping[str, Any]) -> str | None:
    for condition in variant.get("condition") or []:
        if condition.get("name") == "tone":
            return condition.get("value")
    return None


def allowed_placeholders(name: str) -> set[str]:
    """What an override of a response may name: what the domain's wording of it names."""
    found: set[str] = set()
    for variant in domain_responses()[name]:
        for text in _texts(variant):
            found |= placeholders(text)
    return found | SHOP_PLACEHOLDERS


def _texts(variant: Mapping[str, Any]) -> list[str]:
    texts = [variant.get("text") or ""]
    for button in variant.get("buttons") or []:
        texts += [str(button.get("title", "")), str(button.get("payload", ""))]
    return texts


def validate_responses(document: Any) -> list[str]:
    """Every problem of a responses file, each naming the response and variant at fault."""
    if not isinstance(document, dict) or not isinstance(document.get("responses"), dict):
        return ["the file must have a top-level 'responses:' mapping of response names"]
    problems: list[str] = []
    known = domain_responses()
    for name, variants in document["responses"].items():
        if name not in known:
            problems.append(f"{name}: not a response of the domain")
            continue
        if not isinstance(variants, list) or not variants:
            problems.append(f"{name}: must be a list of variants (- text: ...)")
            continue
        allowed = allowed_placeholders(name)
        for number, variant in enumerate(variants, start=1):
            where = f"{name}, variant {number}"
            if not isinstance(variant, dict) or not str(variant.get("text") or "").strip():
                problems.append(f"{where}: needs a non-empty 'text'")
                continue
            extra = set(variant) - {"text", "buttons", "channel"}
            if extra:
                problems.append(f"{where}: unknown key(s) {', '.join(sorted(extra))}")
            if variant.get("channel") not in (None, *CHANNELS):
                problems.append(f"{where}: channel must be one of {', '.join(CHANNELS)}")
            for button in variant.get("buttons") or []:
                if (
                    not isinstance(button, dict)
                    or not button.get("title")
                    or not button.get("payload")
                ):
                    problems.append(f"{where}: every button needs a title and a payload")
            try:
                unknown = set().union(*(placeholders(t) for t in _texts(variant))) - allowed
            except ProfileError as error:
                problems.append(f"{where}: {error}")
                continue
            if unknown:
                problems.append(
                    f"{where}: unknown placeholder(s) {_braced(unknown)}; "
                    f"allowed here: {_braced(allowed)}"
                )
    return problems


def import_responses(session: Session, shop: Shop, text: str) -> list[str]:
    """Make the file the shop's own responses; names of the ones that differ from the domain.

    Nothing changes when the file has any problem (ProfileError lists them all). Entries equal to
    the domain's wording in the shop's tone are not stored, so an exported file re-imports cleanly.
    """
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ProfileError(f"not valid YAML: {error}") from error
    return import_document(session, shop, document)


def import_document(session: Session, shop: Shop, document: Any) -> list[str]:
    """``import_responses`` of a file already read (the API's JSON body, say)."""
    problems = validate_responses(document)
    if problems:
        raise ProfileError("\n".join(problems))
    tone = (shop.settings or {}).get("tone", "friendly")
    own = {
        name: variants
        for name, variants in document["responses"].items()
        if variants != default_variants(name, tone)
    }
    session.execute(sa.delete(ShopResponse).where(ShopResponse.shop_id == shop.id))
    for name, variants in own.items():
        session.add(
            ShopResponse(shop_id=shop.id, name=name, variants=variants, updated_at=utcnow())
        )
    return sorted(own)


def export_responses(profile: ShopProfile) -> str:
    """Every response as the shop's buyers get it now, ready to edit and import."""
    return yaml.safe_dump(
        responses_document(profile), allow_unicode=True, sort_keys=False, width=100
    )


def responses_document(profile: ShopProfile) -> dict[str, Any]:
    return {
        "responses": {
            name: profile.responses.get(name) or default_variants(name, profile.tone)
            for name in sorted(domain_responses())
        }
    }


def diff_responses(profile: ShopProfile) -> str:
    """The shop's own responses against the domain's wording in the shop's tone."""
    chunks: list[str] = []
    for name in sorted(profile.responses):
        before = yaml.safe_dump(default_variants(name, profile.tone), allow_unicode=True)
        after = yaml.safe_dump(profile.responses[name], allow_unicode=True)
        chunks += difflib.unified_diff(
            before.splitlines(keepends=True),
            after.splitlines(keepends=True),
            fromfile=f"domain/{name}",
            tofile=f"{profile.shop_id}/{name}",
        )
    return "".join(chunks)


def _braced(names: Iterable[str]) -> str:
    return ", ".join(f"{{{name}}}" for name in sorted(names))
