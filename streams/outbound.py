"""What may leave the process: the hosts connections and webhook endpoints may reach, and the
environment variables a connection may read its client secret from (the deployment's
settings, checked when an admin saves and again when a connection is opened)."""

import fnmatch

import httpx
from django.conf import settings

from streams.genesys import regions
from streams.genesys.hosts import GuardedTransport, HostPolicy


def genesys_hosts() -> HostPolicy:
    """Genesys Cloud's region hosts, and the custom hosts the operator allows."""
    return HostPolicy.of(
        "a Genesys connection",
        "CONNECTION_ALLOWED_HOSTS",
        settings.CONNECTION_ALLOWED_HOSTS,
        public_suffixes=regions.REGION_DOMAINS,
    )


def webhook_hosts() -> HostPolicy:
    """Any public host, and the private ones the operator allows."""
    return HostPolicy.of(
        "a webhook endpoint", "WEBHOOK_ALLOWED_HOSTS", settings.WEBHOOK_ALLOWED_HOSTS
    )


def http_client(policy: HostPolicy, **options) -> httpx.AsyncClient:
    """An httpx client whose every request is checked against `policy` first."""
    return httpx.AsyncClient(transport=GuardedTransport(policy), **options)


def secret_env_problem(name: str) -> str:
    """Why a connection may not read its client secret from variable `name`, or ""."""
    if name in settings.PRODUCT_ENV_NAMES:
        return (
            f"{name} is one of assistgov's own settings, which a connection may never read: "
            "put the client secret in a variable of its own (GENESYS_..., say)."
        )
    patterns = settings.CONNECTION_SECRET_ENV_ALLOWED
    if not any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns):
        return (
            f"{name} does not match {', '.join(patterns) or 'any pattern'} "
            "(CONNECTION_SECRET_ENV_ALLOWED): use a variable whose name matches, or ask the "
            "operator to allow it."
        )
    return ""
