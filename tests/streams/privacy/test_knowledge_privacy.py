"""A knowledge query an agent typed with a card number, its code and an e-mail address:
Genesys is asked without them, and neither the cache, the record, its audit entry, nor the
webhook to the training platform holds them; results that quote personal data are cleaned
before anything keeps them. With originals kept, only the sealed query holds the text (and
never the card code)."""

import json

import pytest
from asgiref.sync import sync_to_async
from django.core.cache import cache

from audit.trail.models import AuditEntry
from streams.knowledge.search import CACHE_PREFIX, knowledge_search
from streams.knowledge.specs import knowledge_spec
from streams.models import ConversationKey, KnowledgeQuery, Original, SubjectHash
from streams.privacy import subjects, vault
from streams.privacy.store import original_context
from streams.webhooks.models import OutboxBatch
from tests.factories import make_connection, make_knowledge_stream

pytestmark = pytest.mark.django_db(transaction=True)

CARD, EMAIL = "4111 1111 1111 1111", "jane.doe@example.com"
TYPED = f"refund to card {CARD} cvv 737 for {EMAIL}"
# The card code as typed: "737" alone also turns up in confidence scores and times.
IN_CLEAR = (CARD, "cvv 737", EMAIL)


@sync_to_async
def spec_on(url):
    stream = make_knowledge_stream(
        connection=make_connection(url=url), sources=(("kb-1", 1),), confidence_threshold=0.0
    )
    return knowledge_spec(stream)


@sync_to_async
def stored():
    rows = [
        *KnowledgeQuery.objects.values_list("query_text", "results"),
        *AuditEntry.objects.values_list("object_repr", "after"),
        *OutboxBatch.objects.values_list("items", flat=True),
    ]
    return json.dumps(rows, default=str)


def clear_in(text: str) -> list[str]:
    return [value for value in IN_CLEAR if value in text]


async def test_a_typed_query_reaches_nothing_with_its_personal_data(knowledge_sim):
    simulator, url = knowledge_sim
    for document in simulator.knowledge.corpus["kb-1"]:
        document["snippet"] += " Questions: write to help.desk@bank.example.com."
    spec = await spec_on(url)
    query = await knowledge_search(
        spec=spec, text=TYPED, conversation_id="conv-k", origin="api", requested_by="agent"
    )
    sent = simulator.knowledge.queries[-1]
    assert clear_in(json.dumps(sent)) == []
    assert sent["queryText"] == "refund to card ****1111 cvv [card code] for [email]"
    assert query.query_text == sent["queryText"]
    cached = await cache.aget(CACHE_PREFIX + query.cache_key)
    assert clear_in(json.dumps(cached)) == [] and "help.desk@" not in json.dumps(cached)
    assert "help.desk@" not in json.dumps(query.results)
    assert "[email]" in query.results[0]["snippet"]
    assert clear_in(await stored()) == []
    digest = subjects.digest("email", EMAIL)
    assert await SubjectHash.objects.filter(digest=digest, conversation_id="conv-k").aexists()
    assert not await Original.objects.aexists()  # the default policy keeps none


async def test_with_originals_kept_the_query_is_sealed_without_its_card_code(
    knowledge_sim, settings
):
    settings.PERSONAL_DATA_POLICY = "redacted_and_original"
    _, url = knowledge_sim
    spec = await spec_on(url)
    query = await knowledge_search(
        spec=spec, text=TYPED, conversation_id="conv-k", origin="api", requested_by="agent"
    )
    original = await Original.objects.select_related("key").aget(
        item_kind="knowledge", item_ref=query.query_id
    )
    key: ConversationKey = original.key
    data_key = vault.unwrap(key.wrapped, key.master_key_id, key.conversation_id)
    context = original_context("knowledge", query.query_id, "query_text")
    text = vault.open_text(data_key, original.sealed, context)
    assert CARD in text and EMAIL in text and "737" not in text
