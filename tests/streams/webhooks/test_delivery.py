"""Outbound webhooks: outbox, signatures, retries, 410, redelivery, and a receiver that was down."""

import asyncio
import json
from datetime import timedelta

import httpx
import pytest
from aiohttp import web
from channels.db import database_sync_to_async
from django.urls import reverse
from django.utils import timezone
from standardwebhooks import Webhook

from audit.review.services import item_approve
from audit.trail.models import AuditEntry
from streams.genesys.frames import Frame
from streams.ingest.records import process_frame, read_seed_event
from streams.ingest.store import store_batch
from streams.models import WebhookDelivery, WebhookEndpoint
from streams.webhooks.delivery import (
    Outcome,
    attempt_record,
    attempts_record,
    claim_due,
    next_wait,
    send,
)
from streams.webhooks.models import OutboxBatch
from streams.webhooks.outbox import enqueue, expand_batches
from streams.worker.process import StreamWorkerProcess
from tests.factories import make_connection, make_matrix, make_stream
from tests.simulator import eventually, start_simulator, stopped, subscribed
from tests.test_processes import free_port

SECRET = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def endpoint(
    name="trainer", url="https://trainer.test/hook", events=("insight.created",), **fields
):
    created = WebhookEndpoint(name=name, url=url, events=list(events), **fields)
    created.set_secret(SECRET)
    created.full_clean()
    created.save()
    return created


@pytest.mark.django_db
def test_enqueue_writes_one_delivery_per_interested_enabled_endpoint():
    wanted = endpoint()
    endpoint(name="decisions-only", events=["insight.approved"])
    endpoint(name="switched-off", enabled=False)
    assert enqueue("insight.created", [{"id": 1}, {"id": 2}]) == 2
    delivery = WebhookDelivery.objects.first()
    assert delivery.endpoint == wanted
    assert delivery.id.startswith("msg_")
    assert delivery.payload["type"] == "insight.created"
    assert delivery.payload["timestamp"].endswith("Z")


@pytest.mark.django_db
def test_ingestion_builds_no_payload_for_events_no_endpoint_wants(monkeypatch):
    endpoint(events=["knowledge.validated"])
    monkeypatch.setattr(
        "streams.webhooks.outbox.row_data",
        lambda *args: pytest.fail("built a payload nobody receives"),
    )
    stream = make_stream()
    frame = {
        "type": "agentassist.insight",
        "id": "evt-1",
        "interaction_id": "i-1",
        "insight_type": "sentiment_alert",
        "confidence": 0.7,
    }
    matrix = make_matrix().to_matrix()
    store_batch(
        stream.pk,
        [
            process_frame(
                Frame(json.dumps(frame), 0.0),
                read=read_seed_event,
                matrix=matrix,
                max_frame_bytes=9999,
            )
        ],
    )
    assert stream.insights.count() == 1
    assert not WebhookDelivery.objects.exists()


@pytest.mark.django_db
def test_stored_insights_and_decisions_reach_the_outbox_with_them(officer):
    endpoint(events=["insight.created", "insight.approved"])
    stream = make_stream()
    frame = {
        "type": "agentassist.insight",
        "id": "evt-1",
        "interaction_id": "i-1",
        "insight_type": "sentiment_alert",
        "confidence": 0.7,
        "content": {"text": "rising frustration"},
    }
    store_batch(
        stream.pk,
        [
            process_frame(
                Frame(json.dumps(frame), 0.0),
                read=read_seed_event,
                matrix=make_matrix().to_matrix(),
                max_frame_bytes=9999,
            )
        ],
    )
    # Ingestion leaves one outbox row per batch; the dispatcher expands it off its path.
    assert not WebhookDelivery.objects.exists()
    [batch] = OutboxBatch.objects.all()
    assert batch.event_type == "insight.created" and len(batch.items) == 1
    assert expand_batches() == 1 and not OutboxBatch.objects.exists()
    created = WebhookDelivery.objects.get(event_type="insight.created")
    assert created.payload["data"]["snippet"] == "rising frustration"
    assert created.payload["data"]["stream"] == stream.name
    item_approve(item=stream.insights.get(), by=officer)
    approved = WebhookDelivery.objects.get(event_type="insight.approved")
    assert approved.payload["data"]["reviewed_by"] == "olivia"


def test_the_schedule_waits_longer_each_time_and_honours_retry_after():
    schedule = [5, 30, 120]
    assert next_wait(1, Outcome(None, "refused", 1), schedule) == 5
    assert next_wait(2, Outcome(503, "HTTP 503", 1, retry_after=600), schedule) == 600
    assert next_wait(2, Outcome(429, "HTTP 429", 1, retry_after=10), schedule) == 30
    assert next_wait(2, Outcome(400, "HTTP 400", 1, retry_after=600), schedule) == 30
    assert next_wait(4, Outcome(500, "HTTP 500", 1), schedule) is None


@pytest.mark.django_db
def test_an_attempt_is_recorded_and_retried_later(settings):
    settings.WEBHOOK_RETRY_SCHEDULE = [60]
    endpoint()
    enqueue("insight.created", [{"id": 1}])
    (claimed,) = claim_due("w", 10, 30)
    attempt_record(claimed.id, Outcome(503, "HTTP 503", 12.5), "w")
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("pending", 1, 503)
    assert delivery.next_attempt_at > timezone.now() + timedelta(seconds=50)
    assert delivery.attempts_made.get().duration_ms == 12.5
    assert claim_due("w", 10, 30) == [], "not due yet"
    WebhookDelivery.objects.update(next_attempt_at=timezone.now())
    (again,) = claim_due("w", 10, 30)
    attempt_record(again.id, Outcome(None, "ConnectError", 3), "w")
    assert WebhookDelivery.objects.get().status == "failed", "the schedule is used up"


@pytest.mark.django_db
def test_a_410_disables_the_endpoint_and_says_why():
    receiver = endpoint()
    enqueue("insight.created", [{"id": 1}])
    (claimed,) = claim_due("w", 10, 30)
    attempt_record(claimed.id, Outcome(410, "HTTP 410", 5), "w")
    receiver.refresh_from_db()
    assert not receiver.enabled
    assert receiver.disabled_reason.startswith("the receiver answered 410 Gone")
    assert WebhookDelivery.objects.get().status == "pending", "kept for when it is re-enabled"
    assert claim_due("w", 10, 30) == []
    entry = AuditEntry.objects.get(action="webhook_endpoint.disable")
    assert entry.actor_label == "webhook dispatcher"


@pytest.mark.django_db
def test_two_workers_never_claim_the_same_delivery():
    endpoint()
    enqueue("insight.created", [{"id": n} for n in range(6)])
    first = {c.id for c in claim_due("a", 4, 30)}
    second = {c.id for c in claim_due("b", 4, 30)}
    assert len(first) == 4 and len(second) == 2
    assert not first & second


@pytest.mark.django_db
def test_an_admin_redelivers_and_it_is_audited(client, gov_admin):
    endpoint()
    enqueue("insight.created", [{"id": 1}])
    WebhookDelivery.objects.update(status="failed", attempts=8)
    client.force_login(gov_admin)
    delivery = WebhookDelivery.objects.get()
    client.post(
        reverse("admin:streams_webhookdelivery_changelist"),
        {"action": "redeliver", "_selected_action": [delivery.pk]},
    )
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("pending", 8)
    assert AuditEntry.objects.get(action="webhook_delivery.redeliver").actor == gov_admin


@pytest.mark.django_db
def test_a_new_endpoints_secret_is_generated_shown_once_and_stored_encrypted(client, gov_admin):
    client.force_login(gov_admin)
    response = client.post(
        reverse("admin:streams_webhookendpoint_add"),
        {
            "name": "trainer",
            "url": "https://trainer.test/hook",
            "events": ["insight.created"],
            "enabled": "on",
        },
    )
    # Shown in the page itself, once: not in a message, whose cookie would carry it.
    secret = response.context["value"]
    assert secret in response.content.decode()
    assert "no-store" in response["Cache-Control"]
    assert all(secret not in morsel.value for morsel in response.cookies.values())
    created = WebhookEndpoint.objects.get()
    assert created.secret() == secret
    assert secret not in created.secret_encrypted
    page = client.get(
        reverse("admin:streams_webhookendpoint_change", args=[created.pk])
    ).content.decode()
    assert secret not in page
    assert secret not in str(AuditEntry.objects.get(action="webhook_endpoint.create").after)


async def start_receiver(port, received):
    async def hook(request):
        received.append((dict(request.headers), await request.text()))
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner


@pytest.mark.django_db(transaction=True)
async def test_a_receiver_that_was_down_gets_every_event_signed(settings):
    settings.WEBHOOK_RETRY_SCHEDULE = [0.2] * 50
    settings.WEBHOOK_POLL_SECONDS = 0.05
    port = free_port()
    simulator, url = await start_simulator()

    @database_sync_to_async
    def setup():
        endpoint(url=f"http://127.0.0.1:{port}/hook")
        return make_stream(connection=make_connection(url=url), matrix=make_matrix(), enabled=True)

    await setup()
    worker = StreamWorkerProcess(worker_id="hooks", reconcile_seconds=0.5, lease_seconds=30)
    task = asyncio.create_task(worker.run())
    await subscribed(simulator)
    simulator.emit(40)

    @database_sync_to_async
    def failed_attempts():
        return WebhookDelivery.objects.filter(attempts__gte=2).count()

    await eventually(lambda: _at_least(failed_attempts, 40), within=20, what="attempts while down")
    received = []
    receiver = await start_receiver(port, received)
    await eventually(
        lambda: len({h["webhook-id"] for h, _ in received}) == 40, within=20, what="every event"
    )

    verifier = Webhook(SECRET)
    external_ids = set()
    for headers, body in received:
        verified = verifier.verify(body, headers)  # raises if the signature is wrong
        external_ids.add(verified["data"]["external_id"])
    assert external_ids == {event["id"] for event in simulator.events}

    @database_sync_to_async
    def statuses():
        return set(
            WebhookDelivery.objects.filter(endpoint__name="trainer").values_list(
                "status", flat=True
            )
        )

    await eventually(lambda: _equals(statuses, {"delivered"}), what="all marked delivered")
    worker.stop()
    await stopped(task)
    await receiver.cleanup()
    await simulator.stop()


async def _at_least(query, count):
    return await query() >= count


async def _equals(query, value):
    return await query() == value


@pytest.mark.django_db
def test_an_endpoint_that_takes_batches_gets_its_events_together():
    endpoint(name="batches", batch_size=3)
    endpoint(name="singles")
    OutboxBatch.objects.create(
        event_type="insight.created",
        items=[{"external_id": f"e-{n}"} for n in range(7)],
        created_at=timezone.now(),
    )
    assert expand_batches() == 3 + 7  # three batches (3, 3, 1) and seven single events
    batches = sorted(
        WebhookDelivery.objects.filter(endpoint__name="batches"),
        key=lambda d: d.payload["data"][0]["data"]["external_id"],
    )
    shapes = [d.payload["type"] for d in batches]
    assert shapes == ["batch"] * 3
    events = [event for d in batches for event in d.payload["data"]]
    assert [e["data"]["external_id"] for e in events] == [f"e-{n}" for n in range(7)]
    assert all(e["type"] == "insight.created" for e in events)
    first = batches[0]
    assert [e["id"] for e in first.payload["data"]] == [f"{first.pk}.{n}" for n in range(3)]
    # A decision's single event goes to the batch endpoint as a batch of one.
    enqueue("insight.created", [{"external_id": "e-7"}])
    newest = WebhookDelivery.objects.filter(endpoint__name="batches").order_by("-created_at")
    assert [e["data"]["external_id"] for e in newest.first().payload["data"]] == ["e-7"]


@pytest.mark.django_db(transaction=True)
async def test_a_batch_is_one_signed_request_the_receiver_verifies():
    received = []

    async def hook(request):
        body = await request.read()
        received.append(Webhook(SECRET).verify(body, dict(request.headers)))
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()

    @database_sync_to_async
    def prepared():
        endpoint(url=f"http://127.0.0.1:{port}/hook", batch_size=100)
        OutboxBatch.objects.create(
            event_type="insight.created",
            items=[{"external_id": f"e-{n}"} for n in range(250)],
            created_at=timezone.now(),
        )
        return claim_due("w", 200, 30.0)

    try:
        claimed = await prepared()
        assert len(claimed) == 3
        async with httpx.AsyncClient() as http:
            outcomes = [(c.id, await send(http, c)) for c in claimed]
        await database_sync_to_async(attempts_record)(outcomes, "w")
    finally:
        await runner.cleanup()
    assert sorted(len(r["data"]) for r in received) == [50, 100, 100]
    assert {e["data"]["external_id"] for r in received for e in r["data"]} == {
        f"e-{n}" for n in range(250)
    }
    delivered = await database_sync_to_async(
        lambda: WebhookDelivery.objects.filter(status="delivered").count()
    )()
    assert delivered == 3
