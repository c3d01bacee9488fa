"""Genesys Cloud regions: each is a domain with an API host and a login host."""

from urllib.parse import urlsplit, urlunsplit

REGION_DOMAINS = (
    "mypurecloud.com",
    "use2.us-gov-pure.cloud",
    "usw2.pure.cloud",
    "cac1.pure.cloud",
    "sae1.pure.cloud",
    "mxc1.pure.cloud",
    "mypurecloud.ie",
    "euw2.pure.cloud",
    "mypurecloud.de",
    "euc2.pure.cloud",
    "mec1.pure.cloud",
    "aps1.pure.cloud",
    "apse1.pure.cloud",
    "mypurecloud.com.au",
    "mypurecloud.jp",
    "apne2.pure.cloud",
    "apne3.pure.cloud",
)


def api_base_url(domain: str) -> str:
    return f"https://api.{domain}"


def login_base_url(domain: str) -> str:
    return f"https://login.{domain}"


def websocket_url(api_base: str, path: str) -> str:
    """The WebSocket URL for a path on an API base URL (http -> ws, https -> wss)."""
    parts = urlsplit(api_base)
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    return urlunsplit((scheme, parts.netloc, parts.path.rstrip("/") + path, "", ""))
