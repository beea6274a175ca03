"""Graph API client against a real HTTP server on 127.0.0.1: retried only when Meta's answer
allows (rate limits, 5xx, no answer), permanent errors at once, bearer token sent, backoff
capped and jittered, media downloads bounded; and Meta's errors read in both of their shapes.
No network beyond loopback."""

import asyncio
import hashlib
import json
import logging
import random
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp import web

from bot.meta.graph import GraphClient, GraphError, MediaUrlRefused, error_from
from bot.meta.media_hosts import MediaHosts
from devtools.ports import free_port

VERSION = "v26.0"
PHONE_NUMBER_ID = "106540352242922"
IG_ACCOUNT = "17841400000012345"
TOKEN = "test-graph-token-not-real-0123"
BUYER = "2348012345678"
BODY = {
    "messaging_product": "whatsapp",
    "recipient_type": "individual",
    "to": BUYER,
    "type": "text",
    "text": {"body": "Your order ORD-7F3K9Q is confirmed", "preview_url": False},
}
SENT = {"messaging_product": "whatsapp", "messages": [{"id": "wamid.HBgNMjM0"}]}


@dataclass
class Received:
    method: str
    raw_path: str
    headers: dict[str, str]
    body: bytes


Answer = Callable[[web.Request], Awaitable[web.StreamResponse]]


class FakeGraph:
    """Records every request and answers with the next programmed answer (a 500 when none)."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.answers: deque[Answer] = deque()
        self.release = asyncio.Event()
        self.url = ""

    def program(self, *answers: Answer) -> None:
        self.answers.extend(answers)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.received.append(
            Received(request.method, request.raw_path, dict(request.headers), body)
        )
        if not self.answers:
            return web.json_response({"error": {"message": "unprogrammed"}}, status=500)
        return await self.answers.popleft()(request)

    async def hang(self, request: web.Request) -> web.StreamResponse:
        """Answer only when the test is over: longer than any client timeout."""
        await self.release.wait()
        return web.Response()


@asynccontextmanager
async def running_fake_graph(port: int = 0) -> AsyncIterator[FakeGraph]:
    fake = FakeGraph()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", fake.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    host, port = runner.addresses[0][:2]
    fake.url = f"http://{host}:{port}"
    try:
        yield fake
    finally:
        fake.release.set()
        await runner.cleanup()


class RecordedSleeps:
    """Stands in for asyncio.sleep so retries record their delays instead of waiting."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


def answer(status: int, payload: Any) -> Answer:
    async def respond(request: web.Request) -> web.StreamResponse:
        return web.json_response(payload, status=status)

    return respond


def meta_error(status: int, code: int | None, message: str = "An error") -> Answer:
    error = {"message": message, "type": "OAuthException", "fbtrace_id": "AbCdEfGh"}
    if code is not None:
        error.update(code=code, error_subcode=2494010)
    return answer(status, {"error": error})


def redirect(location: str, status: int = 302) -> Answer:
    async def respond(request: web.Request) -> web.StreamResponse:
        return web.Response(status=status, headers={"Location": location})

    return respond


def raw(status: int, body: bytes, content_type: str = "text/html") -> Answer:
    async def respond(request: web.Request) -> web.StreamResponse:
        return web.Response(status=status, body=body, content_type=content_type)

    return respond


@pytest.fixture
async def graph() -> AsyncIterator[FakeGraph]:
    async with running_fake_graph() as fake:
        yield fake


@pytest.fixture
def sleeps() -> RecordedSleeps:
    return RecordedSleeps()


@pytest.fixture
async def client(graph: FakeGraph, sleeps: RecordedSleeps) -> AsyncIterator[GraphClient]:
    client = GraphClient(graph.url, VERSION, timeout=5.0, max_attempts=3, sleep=sleeps)
    yield client
    await client.close()


# Sending


async def test_send_message_posts_the_body_with_the_bearer_token(graph, client, sleeps):
    graph.program(answer(200, SENT))
    assert await client.send_message(PHONE_NUMBER_ID, TOKEN, BODY) == "wamid.HBgNMjM0"
    (request,) = graph.received
    assert request.method == "POST"
    assert request.raw_path == f"/{VERSION}/{PHONE_NUMBER_ID}/messages"
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.headers["Content-Type"] == "application/json"
    assert json.loads(request.body) == BODY
    assert sleeps.delays == []


async def test_send_message_returns_the_instagram_message_id(graph, client):
    graph.program(answer(200, {"recipient_id": "6574321987654321", "message_id": "aWdfZAG1"}))
    body = {"recipient": {"id": "6574321987654321"}, "message": {"text": "hi"}}
    assert await client.send_message(IG_ACCOUNT, TOKEN, body) == "aWdfZAG1"
    assert graph.received[0].raw_path == f"/{VERSION}/{IG_ACCOUNT}/messages"


async def test_an_answer_without_a_message_id_is_an_error_not_retried(graph, client, sleeps):
    graph.program(answer(200, {"success": True}))
    with pytest.raises(GraphError) as raised:
        await client.send_message(PHONE_NUMBER_ID, TOKEN, BODY)
    assert raised.value.retryable is False
    assert len(graph.received) == 1


async def test_rate_limit_is_retried_once_then_the_id_is_returned(graph, client, sleeps, caplog):
    graph.program(meta_error(429, 130429, "(#130429) Rate limit hit"), answer(200, SENT))
    with caplog.at_level(logging.WARNING, logger="bot.meta.graph"):
        assert await client.send_message(PHONE_NUMBER_ID, TOKEN, BODY) == "wamid.HBgNMjM0"
    assert len(graph.received) == 2
    assert len(sleeps.delays) == 1
    (record,) = [record for record in caplog.records if record.name == "bot.meta.graph"]
    assert (record.graph_code, record.http_status, record.attempt) == (130429, 429, 1)
    logged = str(vars(record))
    assert TOKEN not in logged
    assert BUYER not in logged
    assert "ORD-7F3K9Q" not in logged


@pytest.mark.parametrize("code", [130429, 131056, 80007, 4])
async def test_every_retryable_code_is_retried(graph, client, sleeps, code):
    graph.program(meta_error(400, code), answer(200, SENT))
    assert await client.send_message(PHONE_NUMBER_ID, TOKEN, BODY) == "wamid.HBgNMjM0"
    assert len(sleeps.delays) == 1


async def test_server_errors_are_retried(graph, client, sleeps):
    graph.program(meta_error(500, 1, "An unknown error occurred"), raw(502, b"<html/>"))
    graph.program(answer(200, SENT))
    assert await client.send_message(PHONE_NUMBER_ID, TOKEN, BODY) == "wamid.HBgNMjM0"
    assert len(graph.received) == 3
    assert len(sleeps.delays) == 2


async def test_too_many_requests_without_a_code_is_retried(graph, client, sleeps):
    graph.program(raw(429, b"slow down", "text/plain"), answer(200, SENT))
    assert await client.send_message(PHONE_NUMBER_ID, TOKEN, BODY) == "wamid.HBgNMjM0"
    assert len(sleeps.delays) == 1


async def test_closed_window_fails_at_once(graph, client, sleeps):
    graph.program(meta_error(400, 131047, "(#131047) Re-engagement message"))
    with pytest.raises(GraphError) as raised:
        await client.send_message(PHONE_NUMBER_ID, TOKEN, BODY)
    error = raised.value
    assert (error.http_status, error.code, error.retryable) == (400, 131047, False)
    assert error.title == "(#131047) Re-engagement message"
    assert len(graph.received) == 1
    assert sleeps.delays == []


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (401, 190),  # token expired: the shop must reconnect
        (400, 131026),
        (400, 131049),
        (400, 131051),
        (403, 368),
        (429, 368),  # a block, even when answered as 429
        (500, 131047),  # permanent even when answered as 5xx
        (400, 100),  # invalid parameter
        (404, None),
        (403, None),
    ],
)
async def test_permanent_and_other_client_errors_are_not_retried(
    graph, client, sleeps, status, code
):
    graph.program(meta_error(status, code))
    with pytest.raises(GraphError) as raised:
        await client.send_message(PHONE_NUMBER_ID, TOKEN, BODY)
    assert (raised.value.http_status, raised.value.code) == (status, code)
    assert raised.value.retryable is False
    assert len(graph.received) == 1
    assert sleeps.delays == []


async def test_exhausted_retries_raise_the_last_retryable_error(graph, client, sleeps):
    graph.program(meta_error(503, 2), meta_error(429, 130429), meta_error(400, 131056, "pair"))
    with pytest.raises(GraphError) as raised:
        await client.send_message(PHONE_NUMBER_ID, TOKEN, BODY)
    error = raised.value
    assert (error.http_status, error.code, error.title, error.retryable) == (
        400,
        131056,
        "pair",
        True,
    )
    assert len(graph.received) == 3
    assert len(sleeps.delays) == 2


@pytest.fixture
def seeded_random():
    state = random.getstate()
    random.seed(20240501)
    yield random.Random(20240501)
    random.setstate(state)


async def test_backoff_is_full_jitter_under_an_exponentially_growing_capped_ceiling(
    graph, sleeps, seeded_random
):
    client = GraphClient(
        graph.url, VERSION, max_attempts=7, backoff_base=0.5, backoff_cap=3.0, sleep=sleeps
    )
    graph.program(*[meta_error(429, 130429)] * 7)
    with pytest.raises(GraphError):
        await client.send_message(PHONE_NUMBER_ID, TOKEN, BODY)
    await client.close()
    ceilings = [0.5, 1.0, 2.0, 3.0, 3.0, 3.0]
    assert len(sleeps.delays) == len(ceilings)
    assert all(
        0 <= delay <= ceiling for delay, ceiling in zip(sleeps.delays, ceilings, strict=True)
    )
    # The same random stream drawn under the same ceilings gives exactly the recorded delays.
    assert sleeps.delays == [seeded_random.uniform(0, ceiling) for ceiling in ceilings]


async def test_a_server_slower_than_the_timeout_is_retried_then_fails_retryable(graph, sleeps):
    client = GraphClient(graph.url, VERSION, timeout=0.2, max_attempts=2, sleep=sleeps)
    graph.program(graph.hang, graph.hang)
    with pytest.raises(GraphError) as raised:
        await client.send_message(PHONE_NUMBER_ID, TOKEN, BODY)
    await client.close()
    assert (raised.value.http_status, raised.value.code, raised.value.retryable) == (0, None, True)
    assert len(graph.received) == 2
    assert len(sleeps.delays) == 1


async def test_a_refused_connection_is_retried_then_fails_retryable(sleeps):
    client = GraphClient(f"http://127.0.0.1:{free_port()}", VERSION, max_attempts=3, sleep=sleeps)
    with pytest.raises(GraphError) as raised:
        await client.send_message(PHONE_NUMBER_ID, TOKEN, BODY)
    await client.close()
    assert (raised.value.http_status, raised.value.retryable) == (0, True)
    assert len(sleeps.delays) == 2


async def test_a_success_that_is_not_json_is_not_retried(graph, client, sleeps):
    graph.program(raw(200, b"<html>login</html>"))
    with pytest.raises(GraphError) as raised:
        await client.send_message(PHONE_NUMBER_ID, TOKEN, BODY)
    assert (raised.value.http_status, raised.value.retryable) == (200, False)
    assert sleeps.delays == []


# Media


def only(*fakes: FakeGraph) -> MediaHosts:
    """Media hosts that allow exactly these servers' origins."""
    return MediaHosts.of((), [fake.url for fake in fakes])


RECEIPT = b"%PDF-1.4 transfer receipt " + bytes(range(256)) * 40


async def test_media_info_then_download_round_trip(graph, client):
    media_url = (
        f"{graph.url}/whatsapp_business/attachments/"
        "?mid=1479537139650973&ext=1732550300&hash=ATu%2Fx-_9"
    )
    info = {
        "messaging_product": "whatsapp",
        "url": media_url,
        "mime_type": "application/pdf",
        "sha256": hashlib.sha256(RECEIPT).hexdigest(),
        "file_size": len(RECEIPT),
        "id": "1479537139650973",
    }
    graph.program(answer(200, info), raw(200, RECEIPT, "application/pdf"))

    assert await client.media_info("1479537139650973", TOKEN) == info
    data = await client.download(info["url"], TOKEN, max_bytes=len(RECEIPT), hosts=only(graph))

    assert data == RECEIPT
    assert hashlib.sha256(data).hexdigest() == info["sha256"]
    lookup, fetch = graph.received
    assert (lookup.method, lookup.raw_path) == ("GET", f"/{VERSION}/1479537139650973")
    # The signed url goes out exactly as Meta wrote it.
    assert f"{graph.url}{fetch.raw_path}" == media_url
    assert lookup.headers["Authorization"] == fetch.headers["Authorization"] == f"Bearer {TOKEN}"


async def test_a_media_id_stays_one_path_segment(graph, client):
    graph.program(answer(200, {"id": "x"}))
    await client.media_info("../me/accounts", TOKEN)
    assert graph.received[0].raw_path == f"/{VERSION}/..%2Fme%2Faccounts"


async def test_download_with_an_empty_token_sends_no_authorization(graph, client):
    graph.program(raw(200, b"jpeg bytes", "image/jpeg"))
    photo = f"{graph.url}/cdn/photo.jpg"
    assert await client.download(photo, "", max_bytes=100, hosts=only(graph)) == b"jpeg bytes"
    assert "Authorization" not in graph.received[0].headers


async def test_download_beyond_max_bytes_is_refused_from_the_content_length(graph, client, sleeps):
    async def announce_ten_megabytes_then_stall(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "image/jpeg"})
        response.content_length = 10 * 1024 * 1024
        await response.prepare(request)
        await response.write(b"\xff\xd8" * 512)
        await graph.release.wait()
        return response

    graph.program(announce_ten_megabytes_then_stall)
    with pytest.raises(GraphError) as raised:
        await client.download(
            f"{graph.url}/media/big", TOKEN, max_bytes=1024 * 1024, hosts=only(graph)
        )
    assert (raised.value.title, raised.value.retryable) == ("too large", False)
    assert len(graph.received) == 1
    assert sleeps.delays == []


async def test_download_beyond_max_bytes_is_refused_while_streaming(graph, client, sleeps):
    max_bytes = 100_000

    async def stream_past_the_limit_then_stall(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "image/jpeg"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        for _ in range(max_bytes // 10_000 + 1):
            await response.write(b"x" * 10_000)
        await graph.release.wait()
        return response

    graph.program(stream_past_the_limit_then_stall)
    with pytest.raises(GraphError) as raised:
        await client.download(
            f"{graph.url}/media/endless", TOKEN, max_bytes=max_bytes, hosts=only(graph)
        )
    assert (raised.value.title, raised.value.retryable) == ("too large", False)
    assert sleeps.delays == []


async def test_download_of_exactly_max_bytes_succeeds(graph, client):
    graph.program(raw(200, RECEIPT, "application/pdf"))
    data = await client.download(
        f"{graph.url}/media/r", TOKEN, max_bytes=len(RECEIPT), hosts=only(graph)
    )
    assert data == RECEIPT


async def test_an_expired_media_url_is_a_permanent_error(graph, client, sleeps):
    graph.program(meta_error(404, None, "URL expired"))
    with pytest.raises(GraphError) as raised:
        await client.download(f"{graph.url}/media/old", TOKEN, max_bytes=1000, hosts=only(graph))
    assert (raised.value.http_status, raised.value.retryable) == (404, False)
    assert sleeps.delays == []


@pytest.fixture
async def elsewhere() -> AsyncIterator[FakeGraph]:
    """Another server on loopback: another origin, allowed or not as the test says."""
    async with running_fake_graph() as fake:
        yield fake


async def test_a_media_url_off_the_allowed_hosts_is_never_asked(graph, elsewhere, client, sleeps):
    with pytest.raises(MediaUrlRefused) as raised:
        await client.download(f"{elsewhere.url}/x.jpg", TOKEN, max_bytes=100, hosts=only(graph))
    assert (raised.value.host, raised.value.retryable) == ("127.0.0.1", False)
    assert elsewhere.received == [] and sleeps.delays == []


@pytest.mark.parametrize(
    "url",
    ["", "not a url", "receipt.jpg", "/relative/x.jpg", "http:media", "http://[::1/x", "\ufffd"],
)
async def test_a_media_url_that_is_no_url_is_refused(graph, client, sleeps, url: str):
    """An Instagram attachment's url comes from the webhook: whatever it holds, the receipt is
    unreadable, never an exception the channel does not expect."""
    with pytest.raises(MediaUrlRefused) as raised:
        await client.download(url, TOKEN, max_bytes=100, hosts=only(graph))
    assert (raised.value.http_status, raised.value.retryable) == (0, False)
    assert graph.received == [] and sleeps.delays == []


async def test_a_redirect_on_the_same_origin_is_followed_with_the_token(graph, client):
    graph.program(redirect("/media/final?sig=1"), raw(200, RECEIPT, "application/pdf"))

    data = await client.download(
        f"{graph.url}/media/r", TOKEN, max_bytes=len(RECEIPT), hosts=only(graph)
    )

    assert data == RECEIPT
    first, second = graph.received
    assert second.raw_path == "/media/final?sig=1"
    assert first.headers["Authorization"] == second.headers["Authorization"] == f"Bearer {TOKEN}"


async def test_a_redirect_to_another_allowed_origin_gets_no_token(graph, elsewhere, client):
    graph.program(redirect(f"{elsewhere.url}/cdn/r.pdf", status=307))
    elsewhere.program(raw(200, RECEIPT, "application/pdf"))

    data = await client.download(
        f"{graph.url}/media/r", TOKEN, max_bytes=len(RECEIPT), hosts=only(graph, elsewhere)
    )

    assert data == RECEIPT
    assert graph.received[0].headers["Authorization"] == f"Bearer {TOKEN}"
    assert "Authorization" not in elsewhere.received[0].headers


async def test_a_redirect_off_the_allowed_hosts_is_never_followed(graph, elsewhere, client, sleeps):
    graph.program(redirect(f"{elsewhere.url}/internal/secrets"))

    with pytest.raises(MediaUrlRefused):
        await client.download(f"{graph.url}/media/r", TOKEN, max_bytes=100, hosts=only(graph))

    assert len(graph.received) == 1
    assert elsewhere.received == [] and sleeps.delays == []


async def test_a_redirect_to_another_scheme_is_refused(graph, client):
    graph.program(redirect("file:///etc/passwd"))
    with pytest.raises(MediaUrlRefused):
        await client.download(f"{graph.url}/media/r", TOKEN, max_bytes=100, hosts=only(graph))


async def test_more_than_three_redirects_are_refused(graph, client, sleeps):
    graph.program(*(redirect(f"/media/hop{n}") for n in range(4)))
    with pytest.raises(GraphError) as raised:
        await client.download(f"{graph.url}/media/r", TOKEN, max_bytes=100, hosts=only(graph))
    assert (raised.value.title, raised.value.retryable) == ("too many redirects", False)
    assert len(graph.received) == 4 and sleeps.delays == []


async def test_api_calls_never_follow_a_redirect(graph, elsewhere, client):
    graph.program(redirect(f"{elsewhere.url}/{VERSION}/1479537139650973"))
    with pytest.raises(GraphError):
        await client.media_info("1479537139650973", TOKEN)
    assert elsewhere.received == []


# Event loops


def test_the_client_follows_the_running_event_loop():
    """Each asyncio.run has its own loop; a session from an earlier loop must not be reused."""
    port = free_port()
    client = GraphClient(f"http://127.0.0.1:{port}", VERSION)

    async def send_once() -> str:
        async with running_fake_graph(port) as fake:
            fake.program(answer(200, SENT))
            return await client.send_message(PHONE_NUMBER_ID, TOKEN, BODY)

    async def send_once_then_close() -> str:
        try:
            return await send_once()
        finally:
            await client.close()

    assert asyncio.run(send_once()) == "wamid.HBgNMjM0"
    assert asyncio.run(send_once_then_close()) == "wamid.HBgNMjM0"


# Meta's errors, in the Graph API's shape and in Instagram Login's


@pytest.mark.parametrize(
    "answer, title",
    [
        ({"error_type": "OAuthException", "code": 400, "error_message": "Bad code"}, "Bad code"),
        ({"error": {"message": "Invalid token", "code": 190}}, "Invalid token"),
        (None, "HTTP 502"),
    ],
)
def test_both_shapes_of_instagram_errors_are_read(answer: Any, title: str) -> None:
    error = error_from(502 if answer is None else 400, answer)
    assert isinstance(error, GraphError) and error.title == title


@pytest.mark.parametrize(
    "status, code, retryable",
    [(400, 190, False), (400, 4, True), (500, 2, True), (400, 100, False)],
)
def test_instagram_rate_limits_and_outages_are_worth_trying_again(
    status: int, code: int, retryable: bool
) -> None:
    """A refresh refused for a rate limit is tried by the next run, not sent to reconnect."""
    error = error_from(status, {"error": {"message": "x", "code": code}})
    assert (error.code, error.retryable) == (code, retryable)
