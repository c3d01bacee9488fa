"""A rejected knowledge answer back to Genesys as knowledge document feedback (opt-in per
knowledge stream): queued with the decision, Negative on the answer's first document with the
officer's note as the comment, sent by the stream worker, retried, audited."""

import pytest
from channels.db import database_sync_to_async
from django.core.exceptions import ValidationError
from django.utils import timezone

from audit.review.services import item_approve, item_reject
from audit.trail.models import AuditEntry
from streams.models import GenesysConnection, GenesysFeedback
from tests.factories import make_connection, make_knowledge_query, make_knowledge_stream
from tests.simulator import start_simulator
from tests.streams.webhooks.test_genesys_feedback import send_due

pytestmark = pytest.mark.django_db(transaction=True)

ANSWERS = [
    {
        "document_id": "kb-1-doc-003",
        "version_id": "v-7",
        "variation_id": "var-1",
        "knowledge_base_id": "kb-1",
        "title": "Refunds",
        "outcome": "passed",
        "rank": 1,
    },
    {
        "document_id": "kb-2-doc-001",
        "knowledge_base_id": "kb-2",
        "title": "Roaming",
        "outcome": "passed",
        "rank": 2,
    },
    {"document_id": "kb-1-doc-009", "knowledge_base_id": "kb-1", "outcome": "stale", "rank": 3},
]


def knowledge(url="http://127.0.0.1:9", *, send_verdicts=True):
    connection = make_connection(url=url, flavour=GenesysConnection.Flavour.NOTIFICATIONS)
    return make_knowledge_stream(connection=connection, send_verdicts=send_verdicts)


def answer(stream, **fields):
    return make_knowledge_query(
        stream=stream, results=ANSWERS, review_status="pending", conversation_id="conv-9", **fields
    )


def test_only_a_rejection_on_a_sending_stream_is_queued(officer):
    sending, silent = knowledge(), knowledge(send_verdicts=False)
    rejected = answer(sending)
    approved = answer(sending)
    quiet = answer(silent)
    note = "Article KB-118 was withdrawn in October; <b>see</b> =1+1"
    item_reject(item=rejected, by=officer, reason_code="inaccurate", note=note)
    item_approve(item=approved, by=officer)
    item_reject(item=quiet, by=officer, reason_code="inaccurate")
    [row] = GenesysFeedback.objects.all()
    assert row.kind == GenesysFeedback.Kind.DOCUMENT
    assert (row.knowledge_query_id, row.conversation_id) == (rejected.pk, "conv-9")
    assert row.path == "/api/v2/knowledge/knowledgebases/kb-1/documents/kb-1-doc-003/feedback"
    # The SDK's KnowledgeDocumentFeedback, with what Genesys' schema marks required.
    assert row.body() == {
        "rating": "Negative",
        "reason": "DocumentContent",
        "comment": "Article KB-118 was withdrawn in October; <b>see</b> =1+1",
        "state": "Final",
        "document": {"id": "kb-1-doc-003", "versionId": "v-7", "knowledgeBase": {"id": "kb-1"}},
        "documentVariation": {"id": "var-1"},
        "application": {"type": "Assistant"},
    }
    assert str(row) == "Negative feedback on document kb-1-doc-003"


def test_only_a_genesys_knowledge_stream_may_send_rejections():
    stream = make_knowledge_stream(connection=make_connection())
    stream.send_verdicts = True
    with pytest.raises(ValidationError, match="notifications flavour"):
        stream.full_clean()


@pytest.fixture
async def sim():
    simulator, url = await start_simulator(interactions=2)
    yield simulator, url
    await simulator.stop()


@database_sync_to_async
def rejected_answer(url, note="The refund window is 14 days, not 30."):
    from django.contrib.auth import get_user_model

    officer = get_user_model().objects.create_user(username="olivia", password="pw")
    query = answer(knowledge(url))
    item_reject(item=query, by=officer, reason_code="inaccurate", note=note)
    return GenesysFeedback.objects.get()


async def test_the_rejection_reaches_genesys_and_is_audited(sim):
    simulator, url = sim
    await rejected_answer(url)
    assert len(await send_due()) == 1
    [received] = simulator.notifications.document_feedback
    assert (received["knowledgeBaseId"], received["documentId"]) == ("kb-1", "kb-1-doc-003")
    assert received["rating"] == "Negative" and received["state"] == "Final"
    assert received["comment"] == "The refund window is 14 days, not 30."
    assert received["documentVariation"] == {"id": "var-1"}
    assert received["document"]["versionId"] == "v-7"
    row = await database_sync_to_async(GenesysFeedback.objects.get)()
    assert (row.status, row.last_status_code) == ("sent", 200)
    entry = await database_sync_to_async(AuditEntry.objects.get)(action="genesys_feedback.send")
    assert entry.after["kind"] == "document" and entry.after["document_id"] == "kb-1-doc-003"
    assert entry.object_repr == "Negative feedback on document kb-1-doc-003"
    assert await send_due() == []


async def test_a_503_is_retried_and_a_missing_permission_is_named(sim):
    simulator, url = sim
    await rejected_answer(url)
    simulator.inject({"action": "engagement", "status": 503})
    before = timezone.now()
    await send_due()
    row = await database_sync_to_async(GenesysFeedback.objects.get)()
    assert (row.status, row.attempts) == ("pending", 1) and row.next_attempt_at > before
    await database_sync_to_async(GenesysFeedback.objects.update)(next_attempt_at=before)
    simulator.inject({"action": "engagement", "status": 200})
    simulator.inject({"action": "permissions", "missing": ["knowledge:feedback:create"]})
    await send_due()
    row = await database_sync_to_async(GenesysFeedback.objects.get)()
    assert row.status == "failed"
    assert "knowledge:feedback:create" in row.last_error
    assert simulator.notifications.document_feedback == []
