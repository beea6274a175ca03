"""``python -m bot shop refresh-tokens``, run in-process against the real SQLite database, the
secrets file of the test and the Graph API double on loopback, which plays graph.instagram.com's
``refresh_access_token`` (every Meta host points at it, whatever the developer's environment).

Instagram tokens about to expire are refreshed and the new token stored with its new expiry;
the others are left alone without a call; a refused refresh keeps the old token, is audited and
makes the run exit non-zero; WhatsApp tokens about to expire are reported for reconnection.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from bot.cli import main
from bot.meta.instagram_login import InstagramLogin
from bot.platform import db
from bot.platform import secrets as secret_store
from bot.platform.models import AuditEvent, utcnow
from bot.shop import audit, shops
from bot.shop.audit import AuditAction
from devtools.graph_double import TOKEN_EXPIRES_IN, GraphDoubleThread
from tests.bot.meta.conftest import APP_ID, APP_SECRET, REDIRECT_URI

IG_USER_ID = "17841400000000001"
IYA_IG_USER_ID = "17841400000000002"
PHONE_NUMBER_ID = "106540352242922"
DAY = 86400


@pytest.fixture(autouse=True)
def refresh_env(restore_environ: None, meta_app: None) -> None:
    """The Meta app (tests/bot/meta/conftest.py) and two shops on Instagram; `main` fills
    os.environ from .env, which restore_environ undoes afterwards."""
    with db.session_scope() as session:
        shops.add_shop(session, "mama-put", "Mama Put Fabrics", instagram_account_id=IG_USER_ID)
        shops.add_shop(session, "iya-basket", "Iya Basket", instagram_account_id=IYA_IG_USER_ID)


def instagram_token(graph: GraphDoubleThread, code: str, ig_user_id: str = IG_USER_ID) -> str:
    """A long-lived Instagram Login token, obtained as connecting a shop obtains it."""
    graph.add_oauth_code(code, ig_user_id=ig_user_id)
    login = InstagramLogin(graph.url, graph.url, "v26.0")

    async def connect() -> str:
        short = await login.exchange_code(APP_ID, APP_SECRET, REDIRECT_URI, code)
        return (await login.long_lived(APP_SECRET, short["access_token"]))["access_token"]

    return asyncio.run(connect())


def store(
    shop_id: str, platform: str, token: str, account_id: str, days: float | None
) -> int | None:
    expires_at = None if days is None else int(time.time() + days * DAY)
    secret_store.store_shop_token(shop_id, platform, token, account_id, expires_at)
    return expires_at


def stored(secrets_file: Path, shop_id: str = "mama-put", platform: str = "instagram") -> Any:
    return json.loads(secrets_file.read_text())["shops"][shop_id][platform]


def run(capsys, *argv: str) -> tuple[int, list[str], list[str]]:
    code = main(["shop", "refresh-tokens", *argv])
    captured = capsys.readouterr()
    return code, captured.out.splitlines(), captured.err.splitlines()


def refreshes(graph: GraphDoubleThread) -> list[dict[str, Any]]:
    return [c for c in graph.oauth_calls() if c["endpoint"] == "instagram/refresh_access_token"]


def audited() -> list[tuple[str, str, dict[str, Any]]]:
    with db.session_scope() as session:
        rows = session.execute(sa.select(AuditEvent).order_by(AuditEvent.id)).scalars()
        return [(row.shop_id, row.action, row.detail) for row in rows]


def date_of(expires_at: float) -> str:
    return dt.datetime.fromtimestamp(expires_at, dt.timezone.utc).strftime("%Y-%m-%d")


def test_a_token_near_expiry_is_refreshed_and_stored_with_its_new_expiry(
    graph: GraphDoubleThread, secrets_file: Path, capsys
) -> None:
    old = instagram_token(graph, "ig-code")
    store("mama-put", "instagram", old, IG_USER_ID, days=3)

    code, out, err = run(capsys)

    assert (code, err) == (0, [])
    entry = stored(secrets_file)
    new = entry["access_token"]
    assert new != old and graph.grant_of(new)["ig_user_id"] == IG_USER_ID
    assert entry["account_id"] == IG_USER_ID
    assert abs(entry["expires_at"] - (time.time() + TOKEN_EXPIRES_IN)) < 600
    assert secret_store.shop_token("mama-put", "instagram") == new
    assert out == [f"mama-put\tinstagram\trefreshed, expires {date_of(entry['expires_at'])}"]

    [call] = refreshes(graph)
    assert (call["grant_type"], call["account_id"], call["status"]) == (
        "ig_refresh_token",
        IG_USER_ID,
        200,
    )
    assert audited() == [
        (
            "mama-put",
            "shop.token_refreshed",
            {"platform": "instagram", "expires": date_of(entry["expires_at"])},
        )
    ]
    shown = json.dumps([out, audited(), graph.oauth_calls()])
    assert old not in shown and new not in shown


def test_a_token_far_from_expiry_is_left_alone_until_the_window_reaches_it(
    graph: GraphDoubleThread, secrets_file: Path, capsys
) -> None:
    token = instagram_token(graph, "ig-code")
    expires_at = store("mama-put", "instagram", token, IG_USER_ID, days=30)

    assert run(capsys) == (0, [f"mama-put\tinstagram\tok, expires {date_of(expires_at)}"], [])
    assert run(capsys, "--within-days", "29") == (
        0,
        [f"mama-put\tinstagram\tok, expires {date_of(expires_at)}"],
        [],
    )

    assert refreshes(graph) == []
    assert stored(secrets_file) == {
        "access_token": token,
        "account_id": IG_USER_ID,
        "expires_at": expires_at,
    }
    assert audited() == []

    code, out, _ = run(capsys, "--within-days", "31")
    assert code == 0 and out[0].startswith("mama-put\tinstagram\trefreshed, expires ")
    assert len(refreshes(graph)) == 1


@pytest.mark.parametrize("revoked", [False, True], ids=["session-expired", "unknown-token"])
def test_a_refused_refresh_keeps_the_token_is_audited_and_fails_the_run(
    graph: GraphDoubleThread, secrets_file: Path, capsys, revoked: bool
) -> None:
    token = "IGAArevoked-by-the-owner" if revoked else instagram_token(graph, "ig-code")
    store("mama-put", "instagram", token, IG_USER_ID, days=2)
    before = stored(secrets_file)
    if not revoked:
        graph.fail_next(190, 400, account_id=IG_USER_ID)

    code, out, err = run(capsys)

    assert code == 1
    assert err == ["python -m bot: error: 1 token(s) need attention: see the lines above"]
    [line] = out
    assert line.startswith("mama-put\tinstagram\tREFRESH REFUSED (code 190: ")
    assert line.endswith(
        "token unchanged, send the owner a new connect link: "
        "python -m bot shop connect-url --shop mama-put --platform instagram"
    )
    assert stored(secrets_file) == before
    assert [c["status"] for c in refreshes(graph)] == [400]
    [(shop_id, action, detail)] = audited()
    assert (shop_id, action) == ("mama-put", "shop.token_refresh_failed")
    assert detail["platform"] == "instagram" and detail["graph_code"] == 190
    assert detail["retried_tomorrow"] is False
    assert token not in json.dumps([out, err, detail])


def test_a_refresh_that_meta_could_not_answer_is_tried_again_by_the_next_run(
    graph: GraphDoubleThread, secrets_file: Path, capsys
) -> None:
    token = instagram_token(graph, "ig-code")
    store("mama-put", "instagram", token, IG_USER_ID, days=2)
    graph.fail_next(2, 503, account_id=IG_USER_ID)

    code, out, _ = run(capsys)

    assert code == 1
    assert out[0].startswith("mama-put\tinstagram\tREFRESH FAILED (code 2: ")
    assert out[0].endswith("token unchanged, the next run tries again")
    assert stored(secrets_file)["access_token"] == token
    assert audited()[0][2]["retried_tomorrow"] is True

    code, out, _ = run(capsys)
    assert code == 0 and out[0].startswith("mama-put\tinstagram\trefreshed")


def test_shop_limits_the_run_to_that_shop(
    graph: GraphDoubleThread, secrets_file: Path, capsys
) -> None:
    mama = instagram_token(graph, "ig-mama")
    iya = instagram_token(graph, "ig-iya", IYA_IG_USER_ID)
    store("mama-put", "instagram", mama, IG_USER_ID, days=1)
    store("iya-basket", "instagram", iya, IYA_IG_USER_ID, days=1)

    code, out, _ = run(capsys, "--shop", "iya-basket")

    assert code == 0
    assert len(out) == 1 and out[0].startswith("iya-basket\tinstagram\trefreshed")
    assert [c["account_id"] for c in refreshes(graph)] == [IYA_IG_USER_ID]
    assert stored(secrets_file, "iya-basket")["access_token"] != iya
    assert stored(secrets_file)["access_token"] == mama
    assert [row[0] for row in audited()] == ["iya-basket"]

    code, _, err = run(capsys, "--shop", "nobody")
    assert code == 1 and "no shop 'nobody'" in err[0]


def test_whatsapp_tokens_near_expiry_are_reported_for_reconnection(
    graph: GraphDoubleThread, capsys
) -> None:
    expires_at = store("mama-put", "whatsapp", "EAAGmama", PHONE_NUMBER_ID, days=4)
    store("iya-basket", "whatsapp", "EAAGsystem-user", "106540352242999", days=None)

    code, out, err = run(capsys)

    assert code == 1 and len(err) == 1
    assert out == [
        "iya-basket\twhatsapp\tok, does not expire",
        f"mama-put\twhatsapp\tRECONNECT NEEDED: expires {date_of(expires_at)}; send the owner "
        "a new connect link: python -m bot shop connect-url --shop mama-put --platform whatsapp",
    ]
    assert graph.oauth_calls() == [] and audited() == []


def test_an_expired_instagram_token_is_not_sent_to_meta(graph: GraphDoubleThread, capsys) -> None:
    expires_at = store("mama-put", "instagram", "IGAAlong-gone", IG_USER_ID, days=-1)

    code, out, _ = run(capsys)

    assert code == 1
    assert out[0].startswith(
        f"mama-put\tinstagram\tRECONNECT NEEDED: expired {date_of(expires_at)};"
    )
    assert refreshes(graph) == []


def test_a_token_of_unknown_expiry_is_refreshed_once_a_day_old(
    graph: GraphDoubleThread, secrets_file: Path, capsys
) -> None:
    token = instagram_token(graph, "ig-code")
    store("mama-put", "instagram", token, IG_USER_ID, days=None)
    with db.session_scope() as session:
        audit.record(
            session, "mama-put", AuditAction.SHOP_CONNECTED, platform="instagram", account="x"
        )

    # Meta refreshes only tokens at least 24 hours old: a fresh connection waits.
    code, out, _ = run(capsys)
    assert (code, out) == (
        0,
        ["mama-put\tinstagram\tok, expires unknown; refreshable once 24 hours old (Meta's rule)"],
    )
    assert refreshes(graph) == []

    with db.session_scope() as session:
        session.execute(sa.update(AuditEvent).values(created_at=utcnow() - dt.timedelta(days=2)))
    code, out, _ = run(capsys)
    assert code == 0 and out[0].startswith("mama-put\tinstagram\trefreshed, expires ")
    assert stored(secrets_file)["expires_at"] is not None


def test_the_within_days_window_stays_inside_a_tokens_life(capsys) -> None:
    for typed in ("0", "60", "ten"):
        with pytest.raises(SystemExit) as exited:
            main(["shop", "refresh-tokens", "--within-days", typed])
        assert exited.value.code == 2
        assert "from 1 to 59" in capsys.readouterr().err


def test_shop_show_tells_when_each_token_expires(graph: GraphDoubleThread, capsys) -> None:
    assert main(["shop", "show", "mama-put"]) == 0
    assert capsys.readouterr().out.splitlines()[1] == "tokens: none"

    instagram = store("mama-put", "instagram", "IGAAmama", IG_USER_ID, days=20)
    store("mama-put", "whatsapp", "EAAGmama", PHONE_NUMBER_ID, days=None)
    assert main(["shop", "show", "mama-put"]) == 0
    shown = capsys.readouterr().out
    assert shown.splitlines()[1] == (
        f"tokens: instagram until {date_of(instagram)}, whatsapp (no expiry known)"
    )
    assert "IGAAmama" not in shown and "EAAGmama" not in shown


def test_no_log_line_carries_a_token(graph: GraphDoubleThread, capsys, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    token = instagram_token(graph, "ig-code")
    store("mama-put", "instagram", token, IG_USER_ID, days=1)
    store("iya-basket", "instagram", "IGAArevoked-token", IYA_IG_USER_ID, days=1)

    assert run(capsys)[0] == 1

    new = secret_store.shop_token("mama-put", "instagram")
    logged = "\n".join(f"{r.getMessage()} {vars(r)}" for r in caplog.records)
    assert "shop.token_refreshed" in logged and "shop.token_refresh_failed" in logged
    for secret in (token, new, "IGAArevoked-token", APP_SECRET):
        assert secret not in logged
