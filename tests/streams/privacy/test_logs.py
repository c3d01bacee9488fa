"""A full run in which every text a customer's conversation sends carries a card number,
an e-mail address, an IBAN or a phone number: the stream worker ingests it (frames that
cannot be read included), knowledge answers are searched automatically, webhooks fail and
retry, an officer decides with a note that quotes the customer. Every line logged, at every
level, by every logger, is read: none holds any of it."""

import asyncio
import logging
import re

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer

from audit.review.services import item_approve
from streams.models import (
    Insight,
    KnowledgeQuery,
    QuarantinedFrame,
    WebhookAttempt,
    WebhookEndpoint,
)
from streams.simulator import texts
from streams.webhooks import outbox
from streams.worker.process import StreamWorkerProcess
from tests.factories import make_connection, make_knowledge_stream, make_matrix, make_stream
from tests.simulator import eventually, start_simulator, stopped, subscribed

pytestmark = pytest.mark.django_db(transaction=True)

VALUES = [value for values in texts.PERSONAL_VALUES.values() for value in values]


def in_clear(text: str) -> list[str]:
    compact = re.sub(r"[\s-]", "", text)
    return [
        value
        for value in VALUES
        if value in text
        or (len(re.sub(r"[\s-]", "", value)) > 8 and re.sub(r"[\s-]", "", value) in compact)
    ]


@database_sync_to_async
def configure(url):
    connection = make_connection(url=url)
    endpoint = WebhookEndpoint(
        name="lms", url="http://127.0.0.1:9/hook", events=["insight.created", "insight.approved"]
    )
    endpoint.set_secret(outbox.new_secret())
    endpoint.save()
    make_knowledge_stream(
        connection=connection,
        auto_query_types=["compliance_flag", "knowledge_recommendation", "sentiment_alert"],
        confidence_threshold=0.0,
    )
    return make_stream(connection=connection, matrix=make_matrix(), enabled=True)


@database_sync_to_async
def counts(stream):
    return (
        Insight.objects.filter(stream=stream).count(),
        QuarantinedFrame.objects.count(),
        KnowledgeQuery.objects.count(),
    )


@database_sync_to_async
def decide_with_a_quoting_note(officer):
    insight = Insight.objects.filter(review_status="pending").first()
    item_approve(item=insight, by=officer, note=f"customer said {VALUES[0]} and {VALUES[4]}")


async def test_no_log_line_of_a_full_run_holds_customer_data(caplog, officer, settings):
    caplog.set_level(logging.DEBUG)
    settings.STREAMS_HEARTBEAT_TIMEOUT_SECONDS = 5.0
    await get_channel_layer().flush()
    simulator, url = await start_simulator(interactions=4, personal_ratio=1.0)
    stream = await configure(url)
    worker = StreamWorkerProcess(worker_id="logs", reconcile_seconds=0.5, lease_seconds=60)
    task = asyncio.create_task(worker.run())
    try:
        await subscribed(simulator)
        simulator.emit(40)
        simulator.emit(3, {"timestamp": "yesterday"})  # unreadable: quarantined
        await eventually(
            lambda: _at_least(stream, 40, 3, 1), what="insights, frames and queries stored"
        )
        await decide_with_a_quoting_note(officer)
        await eventually(_delivery_failed, what="a webhook attempt failing")
    finally:
        worker.stop()
        await stopped(task)
        await simulator.stop()
    lines = [
        " ".join(filter(None, (record.getMessage(), record.exc_text or "")))
        for record in caplog.records
    ]
    assert any("stream worker logs started" in line for line in lines)  # the run was heard
    leaked = [(line, in_clear(line)) for line in lines if in_clear(line)]
    assert leaked == []


async def _at_least(stream, insights, frames, queries) -> bool:
    stored = await counts(stream)
    return stored[0] >= insights and stored[1] >= frames and stored[2] >= queries


@database_sync_to_async
def _delivery_failed() -> bool:
    return WebhookAttempt.objects.exclude(error="").exists()
