"""Errors raised by the protocol code. Their messages are meant for an operator."""


class GenesysError(Exception):
    """Base class: anything that went wrong talking to Genesys."""


class AuthenticationError(GenesysError):
    """The OAuth server refused the client credentials (HTTP 401 / 400)."""


class PermissionDenied(GenesysError):
    """The token is valid but lacks a permission (HTTP 403)."""


class RateLimited(GenesysError):
    """HTTP 429 that outlasted our retries; retry_after says how long to wait."""

    def __init__(self, message: str, retry_after: float):
        super().__init__(message)
        self.retry_after = retry_after


class UnexpectedResponse(GenesysError):
    """A status or body that the protocol does not allow."""


class HostNotAllowed(GenesysError):
    """A URL points at a host the deployment does not allow (see streams.genesys.hosts)."""
