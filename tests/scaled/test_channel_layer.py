"""The Redis channel layer as configured: an idle receive waits, it does not fail."""

import asyncio

import pytest
from channels.layers import get_channel_layer
from django.conf import settings

from tests.conftest import need

pytestmark = pytest.mark.scaled


async def test_an_idle_receive_outlasts_the_layers_own_blocking_wait():
    need(bool(settings.REDIS_URL), "needs Redis: run `python -m tests.run_scaled`")
    layer = get_channel_layer()
    channel = await layer.new_channel("idle-")
    # channels_redis blocks 5 s per BZPOPMIN; a socket timeout at or under that raised
    # "Timeout reading from ..." here, killing the worker's nudge listener every 5 s.
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(layer.receive(channel), timeout=7)
    await layer.send(channel, {"type": "nudge"})
    assert await asyncio.wait_for(layer.receive(channel), timeout=5) == {"type": "nudge"}
