"""What may leave the process: connection secrets only from allowed variables, and URLs only
to allowed hosts, checked when saved and again (after DNS) when a connection is opened."""

import asyncio
import json

import httpx
import pytest
from aiohttp import web
from asgiref.sync import sync_to_async
from django.core.exceptions import ValidationError
from django.urls import reverse

from streams import outbound
from streams.config.documents import ConfigImportError, config_import
from streams.genesys import hosts
from streams.genesys.errors import HostNotAllowed
from streams.models import GenesysConnection, StreamStatus, WebhookEndpoint
from streams.worker.process import StreamWorkerProcess
from streams.worker.specs import stream_spec
from tests.factories import make_connection, make_matrix, make_stream
from tests.simulator import eventually

PRODUCTION = {"CONNECTION_ALLOWED_HOSTS": [], "WEBHOOK_ALLOWED_HOSTS": []}


def connection_form(**fields):
    return {
        "name": "exfiltrate",
        "flavour": "seed",
        "region": "",
        "api_base_url": "https://api.mypurecloud.com",
        "login_base_url": "https://login.mypurecloud.com",
        "client_id": "id",
        "new_client_secret": "",
        "client_secret_env": "GENESYS_CLIENT_SECRET",
        **fields,
    }


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["SECRET_KEY", "FIELD_ENCRYPTION_KEY", "DATABASE_URL"])
def test_the_admin_refuses_the_products_own_settings_as_a_secret(client, gov_admin, name):
    client.force_login(gov_admin)
    response = client.post(
        reverse("admin:streams_genesysconnection_add"), connection_form(client_secret_env=name)
    )
    assert response.status_code == 200  # the form again, with the error
    assert f"{name} is one of assistgov&#x27;s own settings" in response.content.decode()
    assert not GenesysConnection.objects.exists()


@pytest.mark.django_db
def test_the_admin_refuses_a_variable_outside_the_allowed_patterns(client, gov_admin, settings):
    client.force_login(gov_admin)
    response = client.post(
        reverse("admin:streams_genesysconnection_add"), connection_form(client_secret_env="HOME")
    )
    assert "HOME does not match GENESYS_*" in response.content.decode()
    settings.CONNECTION_SECRET_ENV_ALLOWED = ["GENESYS_*", "HOME"]
    response = client.post(
        reverse("admin:streams_genesysconnection_add"), connection_form(client_secret_env="HOME")
    )
    assert response.status_code == 302
    assert GenesysConnection.objects.get().client_secret_env == "HOME"


@pytest.mark.django_db
def test_config_import_refuses_the_products_own_settings_as_a_secret():
    document = {
        "connections": [
            {
                "name": "c",
                "region": "mypurecloud.com",
                "client_id": "id",
                "client_secret_env": "SECRET_KEY",
            }
        ]
    }
    with pytest.raises(ConfigImportError, match="SECRET_KEY is one of assistgov's own settings"):
        config_import(document, source="test")
    assert not GenesysConnection.objects.exists()


@pytest.mark.django_db
def test_a_connection_saved_before_the_rule_cannot_read_a_product_setting_at_run_time():
    connection = make_connection(secret="s")
    GenesysConnection.objects.filter(pk=connection.pk).update(
        client_secret_env="SECRET_KEY", client_secret_encrypted=""
    )
    stream = make_stream(connection=GenesysConnection.objects.get(pk=connection.pk))
    spec = stream_spec(stream)
    assert spec.connection.client_secret == ""
    assert "SECRET_KEY is one of assistgov's own settings" in spec.problem


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("https://attacker.example", "attacker.example"),
        ("http://127.0.0.1:8001", "127.0.0.1"),
        ("https://api.mypurecloud.com.attacker.example", "api.mypurecloud.com.attacker.example"),
    ],
)
def test_custom_base_urls_must_be_region_hosts_or_allowed(settings, url, host):
    settings.CONNECTION_ALLOWED_HOSTS = []
    connection = GenesysConnection(
        name="c", api_base_url=url, login_base_url=url, client_id="i", client_secret_env="GENESYS_S"
    )
    with pytest.raises(ValidationError, match="is not a Genesys Cloud region host"):
        connection.full_clean()
    settings.CONNECTION_ALLOWED_HOSTS = [host]
    connection.full_clean()


@pytest.mark.django_db
def test_region_hosts_are_allowed_without_a_setting(settings):
    settings.CONNECTION_ALLOWED_HOSTS = []
    GenesysConnection(
        name="c",
        api_base_url="https://api.mypurecloud.de",
        login_base_url="https://login.mypurecloud.de",
        client_id="i",
        client_secret_env="GENESYS_S",
    ).full_clean()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9000/hook",
        "http://localhost/hook",
        "http://10.1.2.3/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hook",
        "http://[::ffff:192.168.0.1]/hook",
        "http://[64:ff9b::7f00:1]/hook",  # NAT64 of 127.0.0.1
        "http://[64:ff9b:1::a00:1]/hook",  # NAT64, local use
        "http://[2002:7f00:1::]/hook",  # 6to4 of 127.0.0.1
        "http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/hook",  # Teredo
        "http://[::7f00:1]/hook",  # IPv4-compatible
    ],
)
def test_webhook_endpoints_may_not_point_inside_unless_allowed(settings, url):
    settings.WEBHOOK_ALLOWED_HOSTS = []
    endpoint = WebhookEndpoint(name="w", url=url, events=["insight.created"])
    endpoint.set_secret("whsec_x")
    with pytest.raises(ValidationError, match=r"loopback|not a public address"):
        endpoint.full_clean()


async def test_a_name_that_resolves_inside_is_refused_when_connecting(monkeypatch):
    async def rebinding(host, port):
        return ["93.184.215.14", "10.0.0.7"]

    monkeypatch.setattr(hosts, "resolve", rebinding)
    policy = hosts.HostPolicy.of("a webhook endpoint", "WEBHOOK_ALLOWED_HOSTS", [])
    assert policy.problem("https://receiver.example/hook") == ""  # saved: it looked public
    with pytest.raises(HostNotAllowed, match=r"resolves to 10\.0\.0\.7"):
        await policy.check("https://receiver.example/hook")
    allowed = hosts.HostPolicy.of("a webhook endpoint", "X", ["receiver.example"])
    await allowed.check("https://receiver.example/hook")  # named in the setting: any address


async def test_the_connection_goes_to_the_address_that_was_checked(monkeypatch):
    """A second look-up at connect time could answer a private address (DNS rebinding):
    the request is sent to the address checked, still naming its host (Host, SNI, the
    certificate's name)."""
    lookups = []

    async def resolve(host, port):
        lookups.append(host)
        return ["93.184.215.14"]

    sent = []

    async def capture(self, request):
        sent.append(request)
        return httpx.Response(204)

    monkeypatch.setattr(hosts, "resolve", resolve)
    monkeypatch.setattr(httpx.AsyncHTTPTransport, "handle_async_request", capture)
    policy = hosts.HostPolicy.of("a webhook endpoint", "WEBHOOK_ALLOWED_HOSTS", [])
    async with outbound.http_client(policy) as http:
        await http.post("https://receiver.example:8443/hook", content=b"{}")
    (request,) = sent
    assert str(request.url) == "https://93.184.215.14:8443/hook"
    assert request.headers["Host"] == "receiver.example:8443"
    assert request.extensions["sni_hostname"] == "receiver.example"
    assert lookups == ["receiver.example"]


async def test_the_guarded_http_client_refuses_before_connecting(settings):
    settings.WEBHOOK_ALLOWED_HOSTS = []
    received = []
    port, runner = await receiver(received)
    try:
        async with outbound.http_client(outbound.webhook_hosts()) as http:
            with pytest.raises(HostNotAllowed, match=r"127\.0\.0\.1"):
                await http.post(f"http://127.0.0.1:{port}/hook", content=b"{}")
        settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
        async with outbound.http_client(outbound.webhook_hosts()) as http:
            assert (await http.post(f"http://127.0.0.1:{port}/hook", content=b"{}")).is_success
    finally:
        await runner.cleanup()
    assert len(received) == 1


async def receiver(received: list):
    """An HTTP server on the loopback that records every request (an attacker's, say)."""

    async def record(request):
        received.append((request.path, dict(request.headers), await request.text()))
        return web.json_response({"access_token": "t", "expires_in": 3600})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", record)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return site._server.sockets[0].getsockname()[1], runner


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("hole", ["secret from SECRET_KEY", "host not allowed"])
async def test_the_worker_sends_no_secret_to_a_host_it_may_not_reach(settings, monkeypatch, hole):
    """The probe's finding: an admin's connection to their own host, with the server's
    SECRET_KEY as its secret, got `POST /oauth/token` with the key. Either rule stops it."""
    received = []
    port, runner = await receiver(received)
    url = f"http://127.0.0.1:{port}"
    monkeypatch.setenv("GENESYS_ATTACK_SECRET", "not-a-product-secret")
    env = "SECRET_KEY" if hole == "secret from SECRET_KEY" else "GENESYS_ATTACK_SECRET"

    @sync_to_async
    def planted_stream():
        # Saved as it could have been before these rules (no validation on this path).
        connection = make_connection(url=url, secret="s")
        GenesysConnection.objects.filter(pk=connection.pk).update(
            client_secret_env=env, client_secret_encrypted=""
        )
        return make_stream(connection=connection, matrix=make_matrix(), enabled=True)

    stream = await planted_stream()
    if hole == "host not allowed":
        settings.CONNECTION_ALLOWED_HOSTS = []
    worker = StreamWorkerProcess(worker_id="w", reconcile_seconds=60, lease_seconds=600)
    task = asyncio.create_task(worker.run())
    try:
        status = await until_error(stream.pk)
    finally:
        worker.stop()
        await asyncio.wait_for(task, 30)
        await runner.cleanup()
    assert received == []
    expected = (
        "SECRET_KEY is one of assistgov's own settings" if env == "SECRET_KEY" else "127.0.0.1"
    )
    assert expected in status.detail


async def until_error(stream_id: int) -> StreamStatus:
    """The stream's status once the worker reports an error."""
    read = sync_to_async(lambda: StreamStatus.objects.get(pk=stream_id))

    async def in_error():
        status = await read()
        return status if status.state == "error" else None

    return await eventually(in_error, what="the stream in error")


@pytest.mark.django_db
def test_a_webhook_to_a_host_resolving_inside_is_not_sent(settings, monkeypatch):
    from streams.webhooks import delivery

    async def private(host, port):
        return ["192.168.1.20"]

    monkeypatch.setattr(hosts, "resolve", private)
    settings.WEBHOOK_ALLOWED_HOSTS = []
    claimed = delivery.Claimed(
        id="msg_1",
        endpoint_id=1,
        url="https://trainer.example/h",
        secret="whsec_" + "A" * 44,
        body=json.dumps({}),
        attempts=0,
    )

    async def attempt():
        async with outbound.http_client(outbound.webhook_hosts()) as http:
            return await delivery.send(http, claimed)

    outcome = asyncio.run(attempt())
    assert outcome.status_code is None
    assert "not sent" in outcome.error and "192.168.1.20" in outcome.error


def test_an_unresolvable_name_is_a_connect_error_not_a_crash(monkeypatch):
    async def nowhere(host, port):
        raise OSError("Name or service not known")

    monkeypatch.setattr(hosts, "resolve", nowhere)
    policy = hosts.HostPolicy.of("a webhook endpoint", "WEBHOOK_ALLOWED_HOSTS", [])

    async def attempt():
        async with httpx.AsyncClient(transport=hosts.GuardedTransport(policy)) as http:
            await http.get("https://nowhere.example/")

    with pytest.raises(httpx.ConnectError, match=r"cannot resolve nowhere\.example"):
        asyncio.run(attempt())
