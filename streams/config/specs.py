"""A connection as the running parts need it: read from the database at once, compared as a
whole (equal specs need no restart)."""

from dataclasses import dataclass, field

import httpx

from streams.config.models import GenesysConnection
from streams.genesys.auth import TokenManager, TokenPool


@dataclass(frozen=True)
class ConnectionSpec:
    """How to reach one Genesys org: what insight streams and knowledge streams share."""

    flavour: str
    api_url: str
    token_url: str
    client_id: str
    client_secret: str = field(repr=False)

    @property
    def notifications(self) -> bool:
        return self.flavour == GenesysConnection.Flavour.NOTIFICATIONS

    def tokens(self, pool: TokenPool, http: httpx.AsyncClient) -> TokenManager:
        """The token manager of this OAuth client, shared through `pool`."""
        return pool.manager(
            http,
            token_url=self.token_url,
            client_id=self.client_id,
            client_secret=self.client_secret,
        )


def connection_spec(connection: GenesysConnection) -> tuple[ConnectionSpec, str]:
    """The spec, and why a stream on it cannot start ("" when it can): a missing secret."""
    secret, problem = connection.secret_or_problem()
    spec = ConnectionSpec(
        flavour=connection.flavour,
        api_url=connection.api_url,
        token_url=connection.token_url,
        client_id=connection.client_id,
        client_secret=secret,
    )
    return spec, problem
