import os
import shutil
import socket

import pytest
from django.contrib.auth.models import Group

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def need(condition: bool, reason: str):
    """Skip with a reason on a developer's machine; in CI a missing prerequisite fails."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"CI must run this test: {reason}")
    pytest.skip(reason)


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def port_open(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def _user(django_user_model, username, group=None):
    user = django_user_model.objects.create_user(username=username, password="pw", is_staff=True)
    if group:
        user.groups.add(Group.objects.get(name=group))
    return user


@pytest.fixture
def officer(django_user_model):
    return _user(django_user_model, "olivia", "Compliance officers")


@pytest.fixture
def gov_admin(django_user_model):
    return _user(django_user_model, "adam", "Governance admins")


@pytest.fixture
def admin2(django_user_model):
    """A second governance admin: the one who accepts another admin's change requests."""
    return _user(django_user_model, "ada", "Governance admins")


@pytest.fixture
def four_eyes(settings):
    settings.FOUR_EYES = True


@pytest.fixture
def auditor(django_user_model):
    return _user(django_user_model, "audrey", "Auditors")


@pytest.fixture
def dpo(django_user_model):
    return _user(django_user_model, "dora", "Data protection officers")


@pytest.fixture
def outsider(django_user_model):
    """Staff, but in no role: may log in to the admin, may see nothing."""
    return _user(django_user_model, "oscar")


@pytest.fixture(autouse=True)
def fresh_channel_layers():
    """Each test gets its own channel layer: a layer binds locks and connections to the event
    loop that first used it, and pytest-asyncio gives every test a new loop."""
    from channels.layers import channel_layers

    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


@pytest.fixture
async def knowledge_sim():
    """The simulator in the test's loop, an empty cache, and no knowledge client left over:
    knowledge clients live on the process's knowledge loop, beyond any one test."""
    from django.core.cache import cache

    from streams.knowledge.hub import KnowledgeHub
    from tests.simulator import start_simulator

    cache.clear()
    simulator, url = await start_simulator()
    yield simulator, url
    await KnowledgeHub.current().close()
    await simulator.stop()
    cache.clear()
