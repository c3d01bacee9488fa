"""The query console and the JSON API, against the simulator; API tokens in the admin."""

import asyncio
import json

import pytest
from asgiref.sync import sync_to_async
from django.test import AsyncClient
from django.urls import reverse

from audit.trail.models import AuditEntry
from streams.models import ApiToken, KnowledgeQuery
from tests.factories import make_connection, make_knowledge_stream
from tests.simulator import eventually

pytestmark = pytest.mark.django_db(transaction=True)
API = "/api/knowledge/search"


@sync_to_async
def knowledge_stream(url, **fields):
    fields = {"name": "desk", "confidence_threshold": 0.6, "sources": (("kb-1", 1),), **fields}
    return make_knowledge_stream(connection=make_connection(url=url), **fields)


@sync_to_async
def api_token(name="desktop", revoked=False):
    token = ApiToken(name=name)
    plaintext = token.issue()
    if revoked:
        from django.utils import timezone

        token.revoked_at = timezone.now()
    token.save()
    return plaintext


async def post_api(body, token=None, raw=None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    data = raw if raw is not None else json.dumps(body)
    return await AsyncClient().post(API, data, content_type="application/json", headers=headers)


async def test_an_officer_sees_passed_and_filtered_results_with_reasons(knowledge_sim, officer):
    _, url = knowledge_sim
    await knowledge_stream(url)
    client = AsyncClient()
    await client.aforce_login(officer)
    page = await client.get(reverse("knowledge-console"))
    assert page.status_code == 200 and b"desk" in page.content
    response = await client.post(
        reverse("knowledge-console"),
        {"stream": "desk", "query": "refund window unopened item"},
    )
    html = response.content.decode()
    assert response.status_code == 200
    query = await KnowledgeQuery.objects.aget()
    assert query.requested_by == officer.username and query.origin == "console"
    assert f"{query.results_validated} of {query.results_returned} result" in html
    assert 'id="passed"' in html and 'id="filtered"' in html
    for result in query.results:
        if result["outcome"] != "passed":
            assert result["reason"] in html


async def test_the_console_says_what_went_wrong(knowledge_sim, officer):
    _, url = knowledge_sim
    await knowledge_stream(url)
    client = AsyncClient()
    await client.aforce_login(officer)
    response = await client.post(reverse("knowledge-console"), {"stream": "desk", "query": "a"})
    assert "query: String should have at least 2 characters" in response.content.decode()


async def test_a_token_holder_gets_ranked_results_and_the_filtered_ones(knowledge_sim):
    simulator, url = knowledge_sim
    await knowledge_stream(url)
    token = await api_token()
    response = await post_api(
        {"stream": "desk", "query": "refund window unopened", "conversation_id": "c-9"}, token
    )
    assert response.status_code == 200
    body = response.json()
    assert body["conversation_id"] == "c-9"
    assert body["governance_status"] in ("PASS", "FILTERED")
    assert [r["rank"] for r in body["results"]] == list(range(1, len(body["results"]) + 1))
    assert all(r["reason"] for r in body["filtered"])
    assert len(body["results"]) + len(body["filtered"]) == 5
    query = await KnowledgeQuery.objects.aget(query_id=body["query_id"])
    assert query.requested_by == "API token desktop" and query.origin == "api"
    assert simulator.knowledge.queries[-1]["conversationId"] == "c-9"
    used = await ApiToken.objects.aget(name="desktop")
    assert used.last_used_at is not None


@pytest.mark.parametrize("how", ["none", "wrong", "revoked", "basic"])
async def test_the_api_refuses_without_a_valid_token(knowledge_sim, how):
    _, url = knowledge_sim
    await knowledge_stream(url)
    token = {
        "none": None,
        "wrong": "agk_not-a-token",
        "revoked": await api_token("old", revoked=True),
        "basic": None,
    }[how]
    if how == "basic":
        response = await AsyncClient().post(
            API, "{}", content_type="application/json", headers={"Authorization": "Basic eDp5"}
        )
    else:
        response = await post_api({"stream": "desk", "query": "refund"}, token)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert response.json()["error"]["code"] == "unauthorized"
    assert not await KnowledgeQuery.objects.aexists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"query": "refund"}, "stream"),
        ({"stream": "desk"}, "query"),
        ({"stream": "desk", "query": " x "}, "query"),
        ({"stream": "nope", "query": "refund"}, "stream"),
        ({"stream": "desk", "query": "refund", "extra": 1}, "extra"),
        ({"stream": "desk", "query": "refund", "wait": "maybe"}, "wait"),
        ({"stream": "desk", "query": "refund", "wait": "yes"}, "wait"),  # true or false only
        ({"stream": "desk", "query": "refund", "wait": 1}, "wait"),
        ({"stream": "desk", "query": "refund", "conversation_id": "a\nb"}, "conversation_id"),
        ({"stream": "desk", "query": "refund", "conversation_id": "a\x00"}, "conversation_id"),
        ({"stream": 7, "query": "refund"}, "stream"),
    ],
)
async def test_bad_requests_name_the_field_at_fault(knowledge_sim, body, field):
    _, url = knowledge_sim
    await knowledge_stream(url)
    response = await post_api(body, await api_token())
    assert response.status_code == 400
    assert response.json()["error"]["field"] == field


async def test_a_body_over_the_limit_gets_the_json_error_shape(knowledge_sim, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    body = {"stream": "desk", "query": "x" * 2000}
    response = await post_api(body, await api_token())
    assert response.status_code == 413
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"]["code"] == "too_large"


async def test_a_body_that_is_not_json_is_a_400(knowledge_sim):
    response = await post_api(None, await api_token(), raw="{not json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"


async def test_a_full_stream_answers_429_to_callers_that_will_not_wait(knowledge_sim):
    simulator, url = knowledge_sim
    simulator.inject({"action": "knowledge", "delay": 2})
    await knowledge_stream(url, max_in_flight=1)
    token = await api_token()
    first = asyncio.create_task(post_api({"stream": "desk", "query": "refund one"}, token))
    await eventually(lambda: simulator.counters["knowledge_queries"] == 1, what="first sent")
    busy = await post_api({"stream": "desk", "query": "refund two", "wait": False}, token)
    assert busy.status_code == 429
    assert busy.json()["error"]["code"] == "too_many_requests"
    assert (await first).status_code == 200
    waiting = await post_api({"stream": "desk", "query": "refund three"}, token)
    assert waiting.status_code == 200


async def test_no_answer_in_time_is_a_504(knowledge_sim):
    simulator, url = knowledge_sim
    simulator.inject({"action": "knowledge", "swallow": 1})
    await knowledge_stream(url, query_timeout_seconds=0.5)
    response = await post_api({"stream": "desk", "query": "refund"}, await api_token())
    assert response.status_code == 504
    assert "no answer within 0.5 s" in response.json()["error"]["message"]


def test_an_admin_creates_a_token_sees_it_once_and_revokes_it(client, gov_admin):
    client.force_login(gov_admin)
    response = client.post(reverse("admin:streams_apitoken_add"), {"name": "crm-desktop"})
    # Shown in the page itself, once: not in a message, whose cookie would carry it.
    plaintext = response.context["value"]
    assert plaintext in response.content.decode()
    assert all(plaintext not in morsel.value for morsel in response.cookies.values())
    token = ApiToken.objects.get(name="crm-desktop")
    assert plaintext.startswith("agk_") and plaintext not in token.token_hash
    assert ApiToken.authenticate(plaintext) == token
    page = client.get(reverse("admin:streams_apitoken_change", args=[token.pk]))
    assert plaintext not in page.content.decode()
    client.post(
        reverse("admin:streams_apitoken_changelist"),
        {"action": "revoke_selected", "_selected_action": [token.pk]},
    )
    assert ApiToken.authenticate(plaintext) is None
    actions = list(AuditEntry.objects.values_list("action", flat=True))
    assert "api_token.create" in actions and "api_token.revoke" in actions


async def test_the_console_refuses_a_conversation_id_with_control_characters(
    knowledge_sim, officer
):
    _, url = knowledge_sim
    await knowledge_stream(url)
    client = AsyncClient()
    await client.aforce_login(officer)
    response = await client.post(
        reverse("knowledge-console"),
        {"stream": "desk", "query": "refund window", "conversation_id": "conv\x1b[2J"},
    )
    assert "conversation_id: control characters are not allowed" in response.content.decode()
    assert not await KnowledgeQuery.objects.aexists()


def test_a_request_id_of_an_unsafe_shape_is_replaced(client, officer):
    client.force_login(officer)
    response = client.get(
        reverse("export-csv", args=["insights"]), headers={"X-Request-ID": "evil\nid; drop"}
    )
    entry = AuditEntry.objects.get(action="export.download")
    assert entry.request_id == response["X-Request-ID"]
    assert len(entry.request_id) == 32 and entry.request_id.isalnum()
    response = client.get(
        reverse("export-csv", args=["insights"]), headers={"X-Request-ID": "lb-7f3a.2"}
    )
    assert response["X-Request-ID"] == "lb-7f3a.2"


def test_an_auditor_cannot_create_tokens_or_use_the_console(client, auditor):
    client.force_login(auditor)
    assert client.post(reverse("admin:streams_apitoken_add"), {"name": "x"}).status_code == 403
    assert client.get(reverse("knowledge-console")).status_code == 403
