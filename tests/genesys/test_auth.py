import asyncio
import base64

import httpx
import pytest

from streams.genesys.auth import Credentials, TokenManager
from streams.genesys.errors import AuthenticationError, RateLimited, UnexpectedResponse

TOKEN_URL = "https://login.example.test/oauth/token"


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


class TokenServer:
    """An OAuth endpoint for httpx.MockTransport that scripts its answers."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []
        self.issued = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.answers:
            return self.answers.pop(0)
        self.issued += 1
        return httpx.Response(
            200,
            json={
                "access_token": f"token-{self.issued}",
                "token_type": "bearer",
                "expires_in": 100,
            },
        )


def manager(server, clock=None, sleep=None):
    http = httpx.AsyncClient(transport=httpx.MockTransport(server))
    return TokenManager(
        http,
        token_url=TOKEN_URL,
        credentials=Credentials("my-client", "s3cret-value"),
        clock=clock or FakeClock(),
        sleep=sleep or no_sleep,
    )


async def no_sleep(seconds):
    pass


async def test_it_sends_client_credentials_as_http_basic():
    server = TokenServer()
    assert await manager(server).token() == "token-1"
    request = server.requests[0]
    assert (
        request.headers["Authorization"]
        == "Basic " + base64.b64encode(b"my-client:s3cret-value").decode()
    )
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert request.content == b"grant_type=client_credentials"


async def test_it_reuses_the_token_until_85_percent_of_its_life():
    clock = FakeClock()
    server = TokenServer()
    tokens = manager(server, clock)
    assert await tokens.token() == "token-1"
    clock.now += 84
    assert await tokens.token() == "token-1"
    clock.now += 1.5
    assert await tokens.token() == "token-2"
    assert len(server.requests) == 2


async def test_it_refreshes_once_for_many_concurrent_callers():
    calls = 0

    async def slow(request):
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.05)
        return httpx.Response(200, json={"access_token": "shared", "expires_in": 100})

    http = httpx.AsyncClient(transport=httpx.MockTransport(slow))
    tokens = TokenManager(http, token_url=TOKEN_URL, credentials=Credentials("c", "s"))
    results = await asyncio.gather(*(tokens.token() for _ in range(20)))
    assert set(results) == {"shared"}
    assert calls == 1


async def test_it_fetches_a_new_token_after_invalidation():
    server = TokenServer()
    tokens = manager(server)
    first = await tokens.token()
    tokens.invalidate("some-other-token")
    assert await tokens.token() == first
    tokens.invalidate(first)
    assert await tokens.token() == "token-2"


async def test_it_waits_out_a_429_as_retry_after_says():
    slept = []

    async def fake_sleep(seconds):
        slept.append(seconds)

    server = TokenServer(
        httpx.Response(
            429, headers={"Retry-After": "7"}, json={"code": "too.many.requests.retry.after"}
        ),
    )
    assert await manager(server, sleep=fake_sleep).token() == "token-1"
    assert slept == [7.0]


async def test_it_gives_up_with_rate_limited_when_429_persists():
    server = TokenServer(*[httpx.Response(429, headers={"Retry-After": "2"}) for _ in range(10)])
    with pytest.raises(RateLimited) as caught:
        await manager(server).token()
    assert caught.value.retry_after == 2.0
    assert len(server.requests) == 4


async def test_it_explains_refused_credentials_without_the_secret(caplog):
    server = TokenServer(httpx.Response(401, json={"error": "invalid_client"}))
    with pytest.raises(AuthenticationError) as caught:
        await manager(server).token()
    message = str(caught.value)
    assert "invalid_client" in message
    assert "my-client" in message
    assert "s3cret-value" not in message
    assert "s3cret-value" not in caplog.text


async def test_it_never_logs_the_token_or_the_secret(caplog):
    caplog.set_level("DEBUG")
    tokens = manager(TokenServer())
    token = await tokens.token()
    assert token not in caplog.text
    assert "s3cret-value" not in caplog.text
    assert "s3cret-value" not in repr(tokens)
    assert "s3cret-value" not in repr(tokens.credentials)


async def test_it_refuses_a_malformed_answer():
    server = TokenServer(httpx.Response(200, json={"token_type": "bearer"}))
    with pytest.raises(UnexpectedResponse, match="malformed"):
        await manager(server).token()
