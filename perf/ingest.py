"""Ingest: insights/s from the simulator through one stream worker to committed rows, against
a bare websockets client receiving and JSON-decoding the same events (the ceiling)."""

import asyncio
import base64
import json
import time

import httpx

from perf.runner import SIM_CLIENT, Plan, bench_stream, merged, resume_point

KEYS = ("ingest_per_s",)
# The same, with personal data detection taken out of the worker: what detection costs.
UNDETECTED_KEYS = ("ingest_undetected_per_s",)


def ceiling(sim_url: str, plan: Plan, *, log) -> dict:
    log("ceiling: a bare websockets client receiving them")
    runs = [
        {"ceiling_receive_per_s": asyncio.run(receive_ceiling(sim_url, plan.events))}
        for _ in range(plan.runs)
    ]
    return merged(runs, ("ceiling_receive_per_s",))


async def receive_ceiling(sim_url: str, events: int) -> float:
    """Insights/s a bare client receives and JSON-decodes from the same stream."""
    from websockets.asyncio.client import connect

    from streams.genesys.payloads import build_subscription
    from streams.genesys.regions import websocket_url

    basic = base64.b64encode(":".join(SIM_CLIENT).encode()).decode()
    async with httpx.AsyncClient() as http:
        reply = await http.post(
            sim_url + "/oauth/token",
            data={"grant_type": "client_credentials"},
            headers={"Authorization": f"Basic {basic}"},
        )
        token = reply.raise_for_status().json()["access_token"]
    subscription = build_subscription(
        subscription_id="bench-ceiling",
        interaction_ids=[],
        insight_types=[],
        min_confidence=0.0,
        max_confidence=1.0,
        extra_filters=[],
        resume_after=resume_point(),
    )
    url = websocket_url(sim_url, "/api/v2/analytics/events")
    started = time.perf_counter()
    async with connect(
        url, additional_headers={"Authorization": f"Bearer {token}"}, max_size=None
    ) as ws:
        await ws.send(subscription.model_dump_json(by_alias=True, exclude_none=True))
        received = 0
        while received < events:
            if json.loads(await ws.recv()).get("type") == "agentassist.insight":
                received += 1
    return round(events / (time.perf_counter() - started), 1)


async def measure(sim_url: str, events: int, *, detection: bool = True) -> dict:
    from channels.db import database_sync_to_async

    from streams.models import StreamStatus
    from streams.worker.process import StreamWorkerProcess
    from streams.worker.runner import StreamRunner

    if not detection:  # this bench child only: no product setting turns detection off
        StreamRunner._protector = lambda runner: None

    stream = await database_sync_to_async(bench_stream)(sim_url)
    stored = database_sync_to_async(
        lambda: StreamStatus.objects.values_list("insights_stored", flat=True).get(pk=stream.pk)
    )
    worker = StreamWorkerProcess(worker_id="bench", reconcile_seconds=60, lease_seconds=600)
    started = time.perf_counter()
    task = asyncio.create_task(worker.run())
    try:
        while await stored() < events:
            if task.done():
                task.result()
                raise RuntimeError("the stream worker stopped")
            await asyncio.sleep(0.05)
        elapsed = time.perf_counter() - started
    finally:
        worker.stop()
        await asyncio.wait_for(task, 30)
    key = "ingest_per_s" if detection else "ingest_undetected_per_s"
    return {key: round(events / elapsed, 1)}
