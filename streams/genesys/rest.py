"""REST calls to Genesys that honour Retry-After on 429 (and on 503 when it is sent)."""

import asyncio
import email.utils
import logging
import time
from collections.abc import Awaitable, Callable

import httpx

from streams.genesys.errors import RateLimited

logger = logging.getLogger(__name__)

DEFAULT_RETRY_AFTER = 1.0
MAX_RETRY_AFTER = 300.0


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            parsed = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = parsed.timestamp() - (time.time() if now is None else now)
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


async def send(
    request: Callable[[], Awaitable[httpx.Response]],
    *,
    what: str,
    max_retries: int = 3,
    max_wait: float = 60.0,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> httpx.Response:
    """Run `request`, waiting out 429/503 answers as the server asks, a bounded number of times.

    Raises RateLimited when the server still refuses after `max_retries`, or asks for a wait
    longer than `max_wait`, so the caller can schedule a later attempt instead of blocking.
    """
    for attempt in range(max_retries + 1):
        response = await request()
        if response.status_code not in (429, 503):
            return response
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        if response.status_code == 503 and retry_after is None:
            return response
        wait = DEFAULT_RETRY_AFTER if retry_after is None else retry_after
        if attempt == max_retries or wait > max_wait:
            raise RateLimited(
                f"{what}: Genesys answered {response.status_code}, retry after {wait:.0f} s",
                retry_after=wait,
            )
        logger.info("%s: HTTP %s, retrying in %.1f s", what, response.status_code, wait)
        await sleep(wait)
    raise AssertionError("unreachable")


def error_message(response: httpx.Response) -> str:
    """The `message` Genesys puts in an error answer, cut short, or "no message"."""
    try:
        body = response.json()
    except ValueError:
        return "no message"
    message = body.get("message") if isinstance(body, dict) else None
    return str(message)[:300] if message else "no message"
