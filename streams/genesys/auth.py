"""OAuth client-credentials tokens for Genesys Cloud, refreshed before they expire."""

import asyncio
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import httpx
from pydantic import BaseModel, Field, ValidationError

from streams.genesys import rest
from streams.genesys.errors import AuthenticationError, UnexpectedResponse

logger = logging.getLogger(__name__)

REFRESH_RATIO = 0.85


@dataclass(frozen=True)
class Credentials:
    client_id: str
    client_secret: str = field(repr=False)


class TokenResponse(BaseModel):
    access_token: str = Field(min_length=1)
    token_type: str = "bearer"  # noqa: S105  (a token type, not a secret)
    expires_in: int = Field(gt=0)


class TokenManager:
    """Hands out a bearer token, refreshing it at about 85% of its lifetime.

    One refresh runs at a time: callers that arrive during a refresh wait for it and
    share its result. The secret and the tokens never reach a log line or a repr.
    """

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        token_url: str,
        credentials: Credentials,
        refresh_ratio: float = REFRESH_RATIO,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ):
        self.http = http
        self.token_url = token_url
        self.credentials = credentials
        self.refresh_ratio = refresh_ratio
        self.clock = clock
        self.sleep = sleep
        self._token: str | None = None
        self._refresh_at = 0.0
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"<TokenManager {self.token_url} client_id={self.credentials.client_id!r}>"

    async def token(self) -> str:
        if self._fresh():
            return self._token
        async with self._lock:
            if not self._fresh():
                await self._refresh()
            return self._token

    def invalidate(self, token: str) -> None:
        """Forget `token` (the server refused it); the next call fetches a new one."""
        if token == self._token:
            self._token = None

    def _fresh(self) -> bool:
        return self._token is not None and self.clock() < self._refresh_at

    async def _refresh(self) -> None:
        started = self.clock()
        response = await rest.send(self._post, what="OAuth token", sleep=self.sleep)
        if response.status_code in (400, 401):
            raise AuthenticationError(
                f"Genesys refused the client credentials of client id "
                f"{self.credentials.client_id!r} (HTTP {response.status_code} "
                f"{_error_code(response)}): check the connection's client id and secret."
            )
        if response.status_code != 200:
            raise UnexpectedResponse(f"OAuth token: unexpected HTTP {response.status_code}")
        try:
            body = TokenResponse.model_validate_json(response.content)
        except ValidationError as exc:
            raise UnexpectedResponse(
                f"OAuth token: malformed answer ({exc.error_count()} errors)"
            ) from None
        self._token = body.access_token
        self._refresh_at = started + body.expires_in * self.refresh_ratio
        logger.info(
            "OAuth token obtained for client id %r, valid %d s",
            self.credentials.client_id,
            body.expires_in,
        )

    async def _post(self) -> httpx.Response:
        return await self.http.post(
            self.token_url,
            data={"grant_type": "client_credentials"},
            auth=httpx.BasicAuth(self.credentials.client_id, self.credentials.client_secret),
        )


class TokenPool:
    """One token manager per OAuth client (token URL, client id, secret), shared by every
    stream that uses it, so they share one token and one refresh."""

    def __init__(self):
        self._managers: dict[tuple[str, str, str], TokenManager] = {}

    def manager(
        self, http: httpx.AsyncClient, *, token_url: str, client_id: str, client_secret: str
    ) -> TokenManager:
        key = (token_url, client_id, hashlib.sha256(client_secret.encode()).hexdigest())
        if key not in self._managers:
            self._managers[key] = TokenManager(
                http, token_url=token_url, credentials=Credentials(client_id, client_secret)
            )
        return self._managers[key]


def _error_code(response: httpx.Response) -> str:
    try:
        return str(response.json().get("error", "")) or "no error code"
    except (ValueError, AttributeError):
        return "no error code"
