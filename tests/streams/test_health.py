import pytest

pytestmark = pytest.mark.django_db


def test_healthz_answers_without_login(client):
    response = client.get("/healthz")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


async def test_readyz_checks_the_database_and_the_channel_layer(async_client):
    response = await async_client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"] == {"database": "ok", "channel_layer": "ok"}


async def test_readyz_is_unavailable_when_the_channel_layer_fails(async_client, monkeypatch):
    class BrokenLayer:
        async def new_channel(self, prefix=""):
            raise ConnectionError("redis is down")

    monkeypatch.setattr("streams.views.get_channel_layer", lambda: BrokenLayer())
    response = await async_client.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {
        "status": "unavailable",
        "checks": {"database": "ok", "channel_layer": "failed: ConnectionError"},
    }
