"""One-time codes: what they look like, that only an HMAC is stored, and that verification is
single-use, bounded in wrong codes per buyer across resends (then cool-downs that grow), rate
limited, and safe under concurrent submissions and resends on SQLite and on PostgreSQL."""

import datetime as dt
import re

import pytest
import sqlalchemy as sa
import time_machine

from bot.platform import db
from bot.platform.models import Buyer, OtpChallenge
from bot.platform.patterns import OTP_CODE_PATTERN
from bot.platform.settings import get_settings
from bot.shop import codes
from bot.shop.codes import (
    ALPHABET,
    CODE_LENGTH,
    COOL_DOWNS,
    DIGITS,
    MAX_FAILED_ATTEMPTS,
    SYMBOLS,
    IssueRefused,
    Limit,
    Verdict,
    generate_code,
    issue_code,
    verify_code,
)
from tests.conftest import OTP_SECRET, make_buyer, make_shop
from tests.helpers.threads import race

TTL = 300


@pytest.fixture
def buyer():
    make_shop()
    return make_buyer("mama-put", "2348012345678", channel="whatsapp")


@pytest.fixture
def other_buyer(buyer):
    return make_buyer("mama-put", "2348099990000", channel="whatsapp")


def issue(buyer, ttl_seconds=TTL):
    with db.session_scope() as session:
        return issue_code(session, buyer, key=OTP_SECRET, ttl_seconds=ttl_seconds)


def verify(buyer, typed):
    with db.session_scope() as session:
        return verify_code(session, buyer, typed, key=OTP_SECRET)


def challenges(buyer):
    with db.session_scope() as session:
        return list(
            session.execute(
                sa.select(OtpChallenge)
                .where(OtpChallenge.buyer_id == buyer.id)
                .order_by(OtpChallenge.id)
            ).scalars()
        )


def age_challenges(buyer, seconds):
    """Move every challenge of the buyer into the past, as if issued ``seconds`` earlier."""
    with db.session_scope() as session:
        rows = session.execute(
            sa.select(OtpChallenge).where(OtpChallenge.buyer_id == buyer.id)
        ).scalars()
        for row in rows:
            row.created_at -= dt.timedelta(seconds=seconds)


def buyer_row(buyer):
    with db.session_scope() as session:
        return session.get(Buyer, buyer.id)


@pytest.fixture
def clock():
    """Time stands still until the test moves it on (``clock.shift``)."""
    with time_machine.travel(dt.datetime.now(dt.timezone.utc), tick=False) as traveller:
        yield traveller


def wrong_code_for(code):
    """A well-formed code that differs from ``code``."""
    while True:
        other = generate_code()
        if other != code:
            return other


# --- generation -------------------------------------------------------------------------------


def test_alphabet_has_no_look_alikes():
    assert not set("0O1IL") & set(ALPHABET)
    assert not set("*_~") & set(ALPHABET)
    assert len(set(ALPHABET)) == len(ALPHABET)


def test_generated_codes_have_the_promised_shape():
    for _ in range(2000):
        code = generate_code()
        assert len(code) == CODE_LENGTH == 8
        assert set(code) <= set(ALPHABET), code
        assert set(code) & set(DIGITS), code
        assert set(code) & set(SYMBOLS), code
        assert not set(code) & set("0O1IL"), code


def test_generated_codes_match_the_extraction_pattern():
    pattern = re.compile(OTP_CODE_PATTERN)
    for _ in range(500):
        code = generate_code()
        assert pattern.fullmatch(code), code
        assert pattern.fullmatch(code.lower()), code


def test_generated_codes_are_distinct():
    sample = [generate_code() for _ in range(2000)]
    assert len(set(sample)) == len(sample)


# --- storage ----------------------------------------------------------------------------------


def test_only_an_hmac_is_stored(buyer):
    code = issue(buyer)
    (row,) = challenges(buyer)
    assert row.code_hmac == codes.code_hmac(OTP_SECRET, buyer.id, code)
    assert re.fullmatch(r"[0-9a-f]{64}", row.code_hmac)
    with db.engine_for(get_settings().database_url).connect() as connection:
        raw = connection.execute(sa.text("SELECT * FROM otp_challenges")).one()
    for value in raw:
        assert code not in str(value)
        assert code.lower() not in str(value)


def test_hmac_depends_on_key_and_buyer():
    code = generate_code()
    base = codes.code_hmac(OTP_SECRET, 1, code)
    assert codes.code_hmac(OTP_SECRET, 2, code) != base
    assert codes.code_hmac(OTP_SECRET + "x", 1, code) != base
    assert codes.code_hmac(OTP_SECRET, 1, f" {code.lower()} ") == base


def test_issued_code_expires_after_the_ttl(buyer):
    issue(buyer, ttl_seconds=120)
    (row,) = challenges(buyer)
    assert row.expires_at - row.created_at == dt.timedelta(seconds=120)
    assert row.failed_attempts == 0
    assert row.consumed_at is None and row.superseded_at is None


# --- verification -----------------------------------------------------------------------------


def test_right_code_verifies(buyer):
    code = issue(buyer)
    assert verify(buyer, code).verdict is Verdict.VERIFIED
    (row,) = challenges(buyer)
    assert row.consumed_at is not None


@pytest.mark.parametrize("typing", [str.lower, lambda c: f"  {c}\n", lambda c: f" {c.lower()} "])
def test_right_code_verifies_in_lower_case_or_with_spaces(buyer, typing):
    code = issue(buyer)
    assert verify(buyer, typing(code)).verdict is Verdict.VERIFIED


def test_code_is_single_use(buyer):
    code = issue(buyer)
    assert verify(buyer, code).verdict is Verdict.VERIFIED
    assert verify(buyer, code).verdict is Verdict.USED
    assert verify(buyer, wrong_code_for(code)).verdict is Verdict.USED


def test_wrong_codes_count_down_then_a_cool_down_starts(buyer):
    code = issue(buyer)
    wrong = wrong_code_for(code)
    results = [verify(buyer, wrong) for _ in range(MAX_FAILED_ATTEMPTS)]
    assert [r.verdict for r in results[:-1]] == [Verdict.WRONG] * 4
    assert [r.attempts_left for r in results[:-1]] == [4, 3, 2, 1]
    assert results[-1].verdict is Verdict.LOCKED_OUT
    assert results[-1].retry_after == COOL_DOWNS[0] == dt.timedelta(minutes=5)
    cooling = verify(buyer, code)
    assert cooling.verdict is Verdict.COOLING_DOWN
    assert dt.timedelta(minutes=4) < cooling.retry_after <= dt.timedelta(minutes=5)
    (row,) = challenges(buyer)
    assert row.failed_attempts == MAX_FAILED_ATTEMPTS
    assert row.consumed_at is None and row.superseded_at is not None
    state = buyer_row(buyer)
    assert (state.code_failures, state.code_lockouts) == (0, 1)


def test_wrong_codes_count_across_resends(buyer):
    """A new code does not give the buyer five new tries: the count is the buyer's."""
    first = issue(buyer)
    assert [verify(buyer, wrong_code_for(first)).attempts_left for _ in range(3)] == [4, 3, 2]
    age_challenges(buyer, 61)
    second = issue(buyer)
    assert verify(buyer, wrong_code_for(second)).attempts_left == 1
    assert verify(buyer, wrong_code_for(second)).verdict is Verdict.LOCKED_OUT
    assert verify(buyer, second).verdict is Verdict.COOLING_DOWN


def test_no_code_is_issued_during_a_cool_down(buyer, clock):
    code = issue(buyer)
    for _ in range(MAX_FAILED_ATTEMPTS):
        verify(buyer, wrong_code_for(code))
    clock.shift(dt.timedelta(minutes=2))
    with pytest.raises(IssueRefused) as refused:
        issue(buyer)
    assert refused.value.limit is Limit.COOLING_DOWN
    assert refused.value.retry_after == dt.timedelta(minutes=3)
    assert len(challenges(buyer)) == 1


def test_after_the_cool_down_the_blocked_code_stays_blocked_and_a_new_one_verifies(buyer, clock):
    code = issue(buyer)
    for _ in range(MAX_FAILED_ATTEMPTS):
        verify(buyer, wrong_code_for(code))
    clock.shift(COOL_DOWNS[0])
    assert verify(buyer, code).verdict is Verdict.LOCKED
    new = issue(buyer)
    assert verify(buyer, wrong_code_for(new)).attempts_left == 4
    assert verify(buyer, new).verdict is Verdict.VERIFIED


def lock_out(buyer):
    """Five wrong codes on a fresh code; how long the cool-down they start lasts."""
    code = issue(buyer)
    for _ in range(MAX_FAILED_ATTEMPTS - 1):
        assert verify(buyer, wrong_code_for(code)).verdict is Verdict.WRONG
    result = verify(buyer, wrong_code_for(code))
    assert result.verdict is Verdict.LOCKED_OUT
    return result.retry_after


def test_each_further_cool_down_lasts_longer_up_to_a_day(buyer, clock):
    minutes = []
    for _ in range(len(COOL_DOWNS) + 2):
        cool_down = lock_out(buyer)
        minutes.append(cool_down.total_seconds() / 60)
        clock.shift(cool_down)
    assert minutes == [5, 15, 60, 240, 1440, 1440, 1440]


def test_a_day_without_wrong_codes_forgets_them_and_the_cool_downs(buyer, clock):
    assert lock_out(buyer) == COOL_DOWNS[0]
    clock.shift(COOL_DOWNS[0])
    code = issue(buyer)
    assert verify(buyer, wrong_code_for(code)).attempts_left == 4
    clock.shift(dt.timedelta(hours=24))
    assert lock_out(buyer) == COOL_DOWNS[0]


def test_a_day_is_counted_from_the_end_of_the_cool_down(buyer, clock):
    """A day-long cool-down alone does not make the buyer's record forgotten."""
    for cool_down in COOL_DOWNS:
        assert lock_out(buyer) == cool_down
        clock.shift(cool_down)
    clock.shift(dt.timedelta(hours=23))
    assert lock_out(buyer) == COOL_DOWNS[-1]


def test_cool_downs_are_per_buyer(buyer, other_buyer):
    lock_out(buyer)
    code = issue(other_buyer)
    assert verify(other_buyer, code).verdict is Verdict.VERIFIED


def test_a_wrong_guess_does_not_spoil_the_right_code(buyer):
    code = issue(buyer)
    assert verify(buyer, wrong_code_for(code)).verdict is Verdict.WRONG
    assert verify(buyer, code).verdict is Verdict.VERIFIED


def test_expired_code_is_refused(buyer):
    code = issue(buyer)
    with db.session_scope() as session:
        session.execute(
            sa.update(OtpChallenge)
            .where(OtpChallenge.buyer_id == buyer.id)
            .values(expires_at=codes.utcnow() - dt.timedelta(seconds=1))
        )
    assert verify(buyer, code).verdict is Verdict.EXPIRED
    (row,) = challenges(buyer)
    assert row.consumed_at is None


def test_no_code_issued(buyer):
    assert verify(buyer, generate_code()).verdict is Verdict.NO_CODE


def test_new_code_supersedes_the_old_one(buyer):
    old = issue(buyer)
    age_challenges(buyer, 61)
    new = issue(buyer)
    first, second = challenges(buyer)
    assert first.superseded_at is not None
    assert second.superseded_at is None
    assert verify(buyer, old).verdict is Verdict.WRONG
    assert verify(buyer, new).verdict is Verdict.VERIFIED


def test_code_is_bound_to_its_buyer(buyer, other_buyer):
    code = issue(buyer)
    assert verify(other_buyer, code).verdict is Verdict.NO_CODE
    own = issue(other_buyer)
    assert verify(other_buyer, code).verdict is Verdict.WRONG
    assert verify(buyer, code).verdict is Verdict.VERIFIED
    assert verify(other_buyer, own).verdict is Verdict.VERIFIED


def test_code_is_bound_to_its_shop(buyer):
    """The same person in another shop is another buyer, with no code."""
    make_shop("ada-fabrics", "Ada's Fabrics")
    same_person_elsewhere = make_buyer("ada-fabrics", "2348012345678", channel="whatsapp")
    code = issue(buyer)
    assert verify(same_person_elsewhere, code).verdict is Verdict.NO_CODE


# --- rate limits ------------------------------------------------------------------------------


def test_second_code_within_a_minute_is_refused(buyer):
    issue(buyer)
    with pytest.raises(IssueRefused) as refused:
        issue(buyer)
    assert refused.value.limit is Limit.RESEND_INTERVAL
    assert dt.timedelta(0) < refused.value.retry_after <= codes.RESEND_INTERVAL
    assert len(challenges(buyer)) == 1


def test_next_code_allowed_after_a_minute(buyer):
    issue(buyer)
    age_challenges(buyer, 61)
    issue(buyer)
    assert len(challenges(buyer)) == 2


def test_sixth_code_within_an_hour_is_refused(buyer):
    for _ in range(codes.MAX_CODES_PER_HOUR):
        issue(buyer)
        age_challenges(buyer, 61)
    with pytest.raises(IssueRefused) as refused:
        issue(buyer)
    assert refused.value.limit is Limit.HOURLY
    assert refused.value.retry_after > codes.RESEND_INTERVAL
    assert len(challenges(buyer)) == codes.MAX_CODES_PER_HOUR


def test_codes_older_than_an_hour_do_not_count(buyer):
    for _ in range(codes.MAX_CODES_PER_HOUR):
        issue(buyer)
        age_challenges(buyer, 61)
    age_challenges(buyer, 3600)
    code = issue(buyer)
    assert verify(buyer, code).verdict is Verdict.VERIFIED


def test_rate_limit_is_per_buyer(buyer, other_buyer):
    issue(buyer)
    issue(other_buyer)
    assert len(challenges(buyer)) == len(challenges(other_buyer)) == 1


# --- races ------------------------------------------------------------------------------------
# Each race runs against a real SQLite file and against a PostgreSQL database of its own.


@pytest.fixture(params=["sqlite", "postgresql"])
def racing_buyer(request, monkeypatch):
    if request.param == "postgresql":
        monkeypatch.setenv("DATABASE_URL", request.getfixturevalue("postgres_url"))
        get_settings.cache_clear()
    make_shop()
    return make_buyer("mama-put", "2348012345678", channel="whatsapp")


def in_own_sessions(buyer_id, calls):
    """Each call runs with the buyer in a session of its own, all released at once."""

    def job_for(call):
        def job(start):
            with db.session_scope() as session:
                own_buyer = session.get(Buyer, buyer_id)
                start()
                return call(session, own_buyer)

        return job

    return race([job_for(call) for call in calls])


def verifying(typed):
    return lambda session, buyer: verify_code(session, buyer, typed, key=OTP_SECRET)


def issuing(session, buyer):
    try:
        return issue_code(session, buyer, key=OTP_SECRET, ttl_seconds=TTL)
    except IssueRefused as refused:
        return refused.limit


@pytest.mark.parametrize("attempt", range(3))
def test_concurrent_right_codes_verify_exactly_once(racing_buyer, attempt):
    code = issue(racing_buyer)
    results = in_own_sessions(racing_buyer.id, [verifying(code), verifying(code.lower())])
    verdicts = sorted(r.verdict.value for r in results)
    assert verdicts == [Verdict.USED.value, Verdict.VERIFIED.value]


def test_concurrent_wrong_guesses_across_codes_start_one_cool_down(racing_buyer):
    first = issue(racing_buyer)
    verify(racing_buyer, wrong_code_for(first))
    age_challenges(racing_buyer, 61)
    code = issue(racing_buyer)
    guesses = [wrong_code_for(code) for _ in range(MAX_FAILED_ATTEMPTS + 3)]
    results = in_own_sessions(racing_buyer.id, [verifying(guess) for guess in guesses])
    verdicts = sorted(r.verdict.value for r in results)
    assert verdicts == sorted(
        [Verdict.WRONG.value] * 3 + [Verdict.LOCKED_OUT.value] + [Verdict.COOLING_DOWN.value] * 4
    )
    counted = [r.attempts_left for r in results if r.verdict is Verdict.WRONG]
    assert sorted(counted) == [1, 2, 3]
    assert buyer_row(racing_buyer).code_lockouts == 1
    assert verify(racing_buyer, code).verdict is Verdict.COOLING_DOWN


@pytest.mark.parametrize("attempt", range(3))
def test_concurrent_resends_issue_one_code(racing_buyer, attempt):
    issue(racing_buyer)
    age_challenges(racing_buyer, 61)
    results = in_own_sessions(racing_buyer.id, [issuing] * 4)
    issued = [r for r in results if not isinstance(r, Limit)]
    assert len(issued) == 1
    assert [r for r in results if isinstance(r, Limit)] == [Limit.RESEND_INTERVAL] * 3
    assert len(challenges(racing_buyer)) == 2
    assert verify(racing_buyer, issued[0]).verdict is Verdict.VERIFIED


def test_concurrent_resends_never_pass_the_hourly_limit(racing_buyer):
    for _ in range(codes.MAX_CODES_PER_HOUR - 1):
        issue(racing_buyer)
        age_challenges(racing_buyer, 61)
    results = in_own_sessions(racing_buyer.id, [issuing] * 4)
    assert len([r for r in results if not isinstance(r, Limit)]) == 1
    assert len(challenges(racing_buyer)) == codes.MAX_CODES_PER_HOUR
