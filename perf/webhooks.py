"""Webhooks: ingest with an insight.created endpoint (batches) on a verifying receiver in a
process of its own, the webhooks sent by `runwebhooks`; and how long until every event was
verified."""

import asyncio
import base64
import os
import subprocess
import sys
import time

import httpx

from perf.runner import MANAGE, START_SECONDS, Unmeasured, bench_stream, free_port

KEYS = (
    "ingest_webhook_per_s",
    "webhook_drain_s",
    "webhook_delivered",
    "webhook_ingest_cores",
    "webhook_sender_cores",
    "webhook_receiver_cores",
)
WEBHOOK_BENCH_BATCH = 100  # events per POST to the webhooks section's receiver


async def measure(sim_url: str, events: int) -> dict:
    """Ingest as `ingest`, with one endpoint for insight.created (batches of
    WEBHOOK_BENCH_BATCH events) on a receiver in a process of its own that verifies every
    signature and answers at once, and the webhooks sent by `manage.py runwebhooks` (as the
    scaled deployment runs them): insights/s stored, and the seconds until the receiver has
    verified every event (the delivery backlog drained)."""
    from channels.db import database_sync_to_async
    from django.conf import settings

    from streams.models import StreamStatus, WebhookEndpoint
    from streams.worker.process import StreamWorkerProcess

    secret = "whsec_" + base64.b64encode(os.urandom(24)).decode()
    port = free_port()
    receiver = await asyncio.to_thread(
        subprocess.Popen,
        [sys.executable, "-m", "perf.receiver", "--port", str(port), "--secret", secret],
        cwd=MANAGE.parent,
    )
    count_url = f"http://127.0.0.1:{port}/count"

    def endpoint():
        hook = WebhookEndpoint(
            name="bench",
            url=f"http://127.0.0.1:{port}/hook",
            events=["insight.created"],
            batch_size=WEBHOOK_BENCH_BATCH,
        )
        hook.set_secret(secret)
        hook.save()

    await database_sync_to_async(endpoint)()
    stream = await database_sync_to_async(bench_stream)(sim_url)
    stored = database_sync_to_async(
        lambda: StreamStatus.objects.values_list("insights_stored", flat=True).get(pk=stream.pk)
    )
    settings.WEBHOOKS_IN_STREAM_WORKER = False
    sender = await asyncio.to_thread(
        subprocess.Popen,
        [sys.executable, str(MANAGE), "runwebhooks", "--worker-id", "bench-webhooks"],
        env={**os.environ, "WEBHOOK_POLL_SECONDS": "0.1"},
    )
    counts = {"received": 0, "refused": 0}
    try:
        async with httpx.AsyncClient() as http:
            await _wait_until_answers(http, count_url, receiver)
            worker = StreamWorkerProcess(worker_id="bench", reconcile_seconds=60, lease_seconds=600)
            processes = {"ingest": os.getpid(), "sender": sender.pid, "receiver": receiver.pid}
            before = {name: _cpu_seconds(pid) for name, pid in processes.items()}
            started = time.perf_counter()
            task = asyncio.create_task(worker.run())
            ingested = None
            try:
                while counts["received"] < events:
                    if task.done():
                        task.result()
                        raise RuntimeError("the stream worker stopped")
                    if ingested is None and await stored() >= events:
                        ingested = time.perf_counter() - started
                    counts = (await http.get(count_url)).json()
                    await asyncio.sleep(0.05)
                drained = time.perf_counter() - started
                used = {name: _cpu_seconds(pid) for name, pid in processes.items()}
            finally:
                worker.stop()
                await asyncio.wait_for(task, 60)
    finally:
        for process in (sender, receiver):
            process.terminate()
            await asyncio.to_thread(process.wait, 30)
    if counts["refused"]:
        raise Unmeasured(f"the receiver refused {counts['refused']} requests: a bad signature")
    # What each process took of the host (cores: CPU seconds over the drain's seconds),
    # so that the ratio says what the sender and the receiver took from ingest's share.
    cores = {name: round((used[name] - before[name]) / drained, 3) for name in used}
    return {
        "ingest_webhook_per_s": round(events / (ingested or drained), 1),
        "webhook_drain_s": round(drained, 2),
        "webhook_delivered": counts["received"],
        **{f"webhook_{name}_cores": value for name, value in cores.items()},
    }


def _cpu_seconds(pid: int) -> float:
    import psutil

    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


async def _wait_until_answers(http, url: str, process) -> None:
    deadline = time.monotonic() + START_SECONDS
    while True:
        if process.poll() is not None:
            raise Unmeasured(f"the webhook receiver exited with code {process.returncode}")
        try:
            await http.get(url)
            return
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                raise Unmeasured(
                    f"the webhook receiver did not answer within {START_SECONDS:.0f} s"
                ) from None
            await asyncio.sleep(0.1)
