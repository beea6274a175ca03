"""Upload links: unguessable, for 10 minutes, used once even when two uploads race."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
import sqlalchemy as sa
import time_machine

from bot.platform import db
from bot.platform.models import UploadLink
from bot.shop import orders
from bot.shop.buyers import get_or_create_buyer
from bot.shop.upload_links import LinkProblem, LinkRefused, claim, issue_link, usable_link
from tests.conftest import make_shop
from tests.helpers.threads import race


def new_link() -> str:
    make_shop()
    with db.session_scope() as session:
        buyer, _ = get_or_create_buyer(session, "mama-put", "rest", "ada")
        order = orders.create_order(session, buyer, 100, "Gele")
        return issue_link(session, buyer, order, "rest", "ada").token


def use(token: str) -> None:
    with db.session_scope() as session:
        claim(session, usable_link(session, token))


def refusal(token: str) -> LinkProblem:
    with pytest.raises(LinkRefused) as refused:
        use(token)
    return refused.value.problem


def test_a_link_is_used_once() -> None:
    token = new_link()
    use(token)
    assert refusal(token) is LinkProblem.USED
    assert refusal(token + "x") is LinkProblem.UNKNOWN
    assert refusal("") is LinkProblem.UNKNOWN


def test_a_link_lives_ten_minutes() -> None:
    token = new_link()
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=10, seconds=1)
    with time_machine.travel(later):
        assert refusal(token) is LinkProblem.EXPIRED
    use(token)


def test_of_two_uploads_racing_on_one_link_exactly_one_uses_it() -> None:
    """Both find the link usable, then both claim it: the conditional update lets one through."""
    token = new_link()

    def upload(start: Callable[[], object]) -> bool:
        with db.session_scope() as session:
            link = usable_link(session, token)
            start()
            try:
                claim(session, link)
            except LinkRefused:
                return False
            return True

    assert sorted(race([upload, upload])) == [False, True]
    with db.session_scope() as session:
        assert session.execute(sa.select(UploadLink.used_at)).scalar_one() is not None
