"""Where outbound connections may go: hosts named in a setting, or public addresses only.

An admin types the URLs of connections and webhook endpoints; a server reachable only from
inside (the loopback, a private range, a cloud's metadata address, an IPv6 form with such an
IPv4 address inside) must not become one of them unless the deployment says so. A URL is
checked when it is saved (`problem`, without DNS) and again each time a connection is opened
(`check`, after DNS resolution), so a name that later resolves to a private address is
refused too; the connection then goes to the address that was checked (`pin`).
"""

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from streams.genesys.errors import HostNotAllowed

SCHEMES = ("http", "https", "ws", "wss")


async def resolve(host: str, port: int) -> list[str]:
    """The addresses `host` resolves to now (the system's resolver)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [info[4][0] for info in infos]


def _address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


# IPv6 forms that carry an IPv4 address inside, through which a private IPv4 address can
# be reached (NAT64 64:ff9b::7f00:1 is 127.0.0.1 behind a translator): never "public".
EMBEDDING_IPV4 = tuple(
    ipaddress.ip_network(net)
    for net in (
        "64:ff9b::/96",  # NAT64, well-known prefix
        "64:ff9b:1::/48",  # NAT64, local use
        "2002::/16",  # 6to4
        "2001::/32",  # Teredo
        "::/96",  # IPv4-compatible (deprecated)
    )
)


def embeds_ipv4(address) -> bool:
    return isinstance(address, ipaddress.IPv6Address) and any(
        address in network for network in EMBEDDING_IPV4
    )


def is_public(host: str) -> bool:
    """True for an IP address that is globally reachable (not loopback, private, link-local,
    shared, reserved or multicast) and not an IPv6 form with an IPv4 address inside."""
    address = _address(host)
    return (
        address is not None
        and address.is_global
        and not address.is_multicast
        and not embeds_ipv4(address)
    )


@dataclass(frozen=True)
class HostPolicy:
    """`allowed` hosts may be reached at any address. Others must resolve to public addresses
    only, and, with `public_suffixes` given, be one of those domains or under them."""

    what: str  # what the URL is for, in messages: "a connection", "a webhook endpoint"
    setting: str  # the setting that lists allowed hosts, named in messages
    allowed: frozenset[str] = frozenset()
    public_suffixes: tuple[str, ...] = ()

    @classmethod
    def of(cls, what: str, setting: str, hosts, public_suffixes=()) -> "HostPolicy":
        return cls(
            what=what,
            setting=setting,
            allowed=frozenset(host.strip().strip("[]").lower() for host in hosts if host.strip()),
            public_suffixes=tuple(suffix.lower() for suffix in public_suffixes),
        )

    def problem(self, url: str) -> str:
        """Why `url` may not be used (checked without DNS), or ""."""
        parts = urlsplit(url)
        if parts.scheme not in SCHEMES:
            return f"{url!r} is not an http or https URL"
        host = (parts.hostname or "").lower()
        if not host:
            return f"{url!r} names no host"
        if host in self.allowed:
            return ""
        hint = f"ask the operator to add {host} to {self.setting} to allow it"
        if self.public_suffixes and not self._under_suffix(host):
            return f"{host} is not a Genesys Cloud region host: choose a region, or {hint}"
        if host == "localhost" or host.endswith(".localhost"):
            return f"{host} is the loopback, which {self.what} may not use: {hint}"
        if _address(host) is not None and not is_public(host):
            return f"{host} is not a public address, which {self.what} needs: {hint}"
        return ""

    def _under_suffix(self, host: str) -> bool:
        return any(host == s or host.endswith("." + s) for s in self.public_suffixes)

    async def check(self, url: str) -> list[str]:
        """Raise HostNotAllowed unless `url` may be used now: named in the setting, or
        resolving to public addresses only. Returns the addresses checked (none for a host
        named in the setting), so that the connection goes to one of them and not to what
        a second look-up might answer (DNS rebinding)."""
        problem = self.problem(url)
        if problem:
            raise HostNotAllowed(problem)
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        if host in self.allowed:
            return []
        port = parts.port or (443 if parts.scheme in ("https", "wss") else 80)
        addresses = await resolve(host, port)  # OSError when it cannot be resolved
        private = sorted({address for address in addresses if not is_public(address)})
        if private:
            raise HostNotAllowed(
                f"{host} resolves to {', '.join(private)}, which {self.what} may not use: "
                f"ask the operator to add {host} to {self.setting} to allow it"
            )
        return addresses


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport, checking every request's host against a policy first (each
    redirect is a request of its own, so it is checked too)."""

    def __init__(self, policy: HostPolicy, **kwargs):
        super().__init__(**kwargs)
        self.policy = policy

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            addresses = await self.policy.check(str(request.url))
        except OSError as exc:  # as httpx reports a name that does not resolve
            raise httpx.ConnectError(f"cannot resolve {request.url.host}: {exc}") from exc
        if addresses:
            pin(request, addresses[0])
        return await super().handle_async_request(request)


def pin(request: httpx.Request, address: str) -> None:
    """Send `request` to `address`, the one checked, keeping its host for the Host header
    and, over TLS, for SNI and the certificate's name."""
    host = request.url.host
    if _address(host) is not None:
        return  # an address already: nothing to look up again
    request.extensions = {**request.extensions, "sni_hostname": host}
    request.url = request.url.copy_with(host=address)
