"""The chain checked on a schedule and on demand: each check an entry, its result on
/metrics, and a broken chain logged and sent to the webhooks that want it."""

import asyncio
import threading
import time

import pytest
from asgiref.sync import sync_to_async
from django.core.cache import cache
from django.core.management import call_command

from audit.trail.models import AuditEntry
from audit.trail.periodic import Stopped, every_period
from audit.trail.verification import chain_verifier, verify_and_record
from streams.models import WebhookDelivery, WebhookEndpoint
from streams.webhooks import outbox
from tests.audit.trail.test_chain import entries, raw_update
from tests.simulator import eventually


def siem():
    endpoint = WebhookEndpoint(
        name="siem", url="https://siem.test/h", events=["audit.chain_broken"]
    )
    endpoint.set_secret(outbox.new_secret())
    endpoint.save()
    return endpoint


@pytest.mark.django_db
def test_an_intact_chain_is_recorded_and_nothing_is_sent(settings, client):
    siem()
    entries(3)
    result = verify_and_record(trigger="scheduled")
    assert result.intact and result.checked == 3
    check = AuditEntry.objects.order_by("-id").first()
    assert check.action == "audit.verify"
    assert check.actor_label == "Scheduled chain check"
    assert check.after["entries_checked"] == 3 and check.after["problem"] is None
    assert not WebhookDelivery.objects.exists()
    settings.METRICS_PUBLIC = True
    text = client.get("/metrics").content.decode()
    assert "assistgov_audit_chain_ok 1.0" in text
    assert (
        f"assistgov_audit_chain_verified_timestamp_seconds {check.created_at.timestamp()!r}"
        in (text.replace("e+09", "e+09"))
        or "assistgov_audit_chain_verified_timestamp_seconds 1." in text
    )


@pytest.mark.django_db
def test_a_broken_chain_is_logged_sent_and_shown_on_metrics(caplog, settings, client):
    endpoint = siem()
    _, middle, _ = entries(3)
    raw_update("UPDATE audit_auditentry SET object_repr = 'edited' WHERE id = %s", [middle.pk])
    with caplog.at_level("ERROR", logger="audit.trail.verification"):
        result = verify_and_record(trigger="scheduled")
    assert not result.intact and result.broken_at == middle.pk
    assert f"audit chain broken at entry {middle.pk}" in caplog.text
    check = AuditEntry.objects.order_by("-id").first()
    assert check.action == "audit.chain_broken"
    assert check.after["broken_at_entry"] == middle.pk
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert delivery.event_type == "audit.chain_broken"
    assert delivery.payload["data"]["broken_at_entry"] == middle.pk
    assert delivery.payload["data"]["entry_id"] == check.pk
    settings.METRICS_PUBLIC = True
    assert "assistgov_audit_chain_ok 0.0" in client.get("/metrics").content.decode()


@pytest.mark.django_db
def test_verify_audit_records_its_check(capsys):
    entries(2)
    call_command("verify_audit")
    assert "audit chain intact: 2 entries verified" in capsys.readouterr().out
    check = AuditEntry.objects.order_by("-id").first()
    assert (check.action, check.after["trigger"]) == ("audit.verify", "verify_audit command")


@pytest.mark.django_db(transaction=True)
async def test_the_worker_checks_the_chain_each_period(settings):
    settings.AUDIT_VERIFY_SECONDS = 1.0
    await cache.aclear()
    await sync_to_async(entries)(2)
    checks = AuditEntry.objects.filter(action="audit.verify")
    task = asyncio.create_task(chain_verifier("worker-a"))
    try:
        await eventually(checks.aexists, within=120, what="a scheduled check")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    check = await checks.afirst()
    assert check.after["trigger"] == "scheduled" and check.after["intact"]


@pytest.mark.django_db(transaction=True)  # the job's thread opens a connection
async def test_a_stopping_worker_stops_its_periodic_job_at_the_next_safe_point():
    """A job that would run forever ends when its task is cancelled: the worker's stop
    waits for the next Stop.check, not for the job to finish."""
    started, finished = threading.Event(), []

    def job(stop):
        started.set()
        try:
            while True:
                stop.check()
                time.sleep(0.01)
        except Stopped:
            finished.append("stopped")
            raise

    await cache.aclear()
    task = asyncio.create_task(every_period("test-job", 0.01, "worker-a", job))
    await eventually(started.is_set, within=120, what="the job to start")
    task.cancel()
    results = await asyncio.gather(task, return_exceptions=True)
    assert isinstance(results[0], asyncio.CancelledError)
    assert finished == ["stopped"]
