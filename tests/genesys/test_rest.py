import email.utils

import httpx
import pytest

from streams.genesys import rest
from streams.genesys.errors import RateLimited


def test_retry_after_accepts_seconds_and_http_dates():
    assert rest.parse_retry_after("12") == 12.0
    assert rest.parse_retry_after(" 1.5 ") == 1.5
    date = email.utils.formatdate(1_000_030, usegmt=True)
    assert rest.parse_retry_after(date, now=1_000_000) == 30.0


def test_retry_after_ignores_nonsense_and_caps_absurd_waits():
    assert rest.parse_retry_after(None) is None
    assert rest.parse_retry_after("soon") is None
    assert rest.parse_retry_after("-5") == 0.0
    assert rest.parse_retry_after("999999") == rest.MAX_RETRY_AFTER


def scripted(*responses):
    answers = list(responses)

    async def request():
        return answers.pop(0)

    return request


async def test_send_retries_a_503_only_when_told_when():
    slept = []

    async def sleep(seconds):
        slept.append(seconds)

    plain_503 = await rest.send(scripted(httpx.Response(503)), what="x", sleep=sleep)
    assert plain_503.status_code == 503
    assert slept == []
    answered = await rest.send(
        scripted(httpx.Response(503, headers={"Retry-After": "3"}), httpx.Response(200)),
        what="x",
        sleep=sleep,
    )
    assert answered.status_code == 200
    assert slept == [3.0]


async def test_send_does_not_block_for_longer_than_max_wait():
    async def sleep(seconds):
        raise AssertionError("must not sleep")

    with pytest.raises(RateLimited, match="retry after 120 s") as caught:
        await rest.send(
            scripted(httpx.Response(429, headers={"Retry-After": "120"})),
            what="x",
            sleep=sleep,
            max_wait=60,
        )
    assert caught.value.retry_after == 120.0
