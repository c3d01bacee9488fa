"""An admin's "Check connection": each endpoint the connection's streams need, called against
the simulator set to refuse permissions, read per feature as permitted, missing permission
(which) or not found (which id), shown on a page and recorded in the trail."""

import pytest
from asgiref.sync import sync_to_async
from django.urls import reverse

from audit.trail.models import AuditEntry
from streams.config.check import check_connection
from streams.genesys.check import Outcome
from streams.models import GenesysConnection
from streams.simulator.conversations import queue_ids
from tests.factories import make_connection, make_knowledge_stream, make_stream
from tests.simulator import start_simulator

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
async def sim():
    simulator, url = await start_simulator(interactions=4, queues=2)
    yield simulator, url
    await simulator.stop()


def configured(url, *, flavour=GenesysConnection.Flavour.NOTIFICATIONS):
    connection = make_connection(url=url, flavour=flavour)
    if flavour == GenesysConnection.Flavour.NOTIFICATIONS:
        make_stream(
            connection=connection,
            queue_ids=[*queue_ids(2), "no-such-queue"],
            send_verdicts=True,
        )
        make_knowledge_stream(
            connection=connection, sources=(("kb-1", 1), ("kb-gone", 2)), send_verdicts=True
        )
    return connection


def by_feature(findings):
    return {f.feature: f for f in findings}


async def test_every_feature_is_permitted_and_a_mistyped_id_is_named(sim, gov_admin):
    _, url = sim
    connection = await sync_to_async(configured)(url)
    findings = by_feature(await sync_to_async(check_connection)(connection, actor=gov_admin))
    assert findings["Sign-in (OAuth client credentials)"].outcome == Outcome.PERMITTED
    assert findings["Live suggestions (topics)"].outcome == Outcome.PERMITTED
    assert findings["Following queues and agents (topics)"].outcome == Outcome.PERMITTED
    assert findings["Back-fill (suggestions listing)"].outcome == Outcome.PERMITTED
    # Queues by name; the mistyped one named as not found.
    assert findings["Queue Billing"].outcome == Outcome.PERMITTED
    assert findings["Queue Card services"].outcome == Outcome.PERMITTED
    missing = findings["Queue no-such-queue"]
    assert missing.outcome == Outcome.NOT_FOUND and "no queue no-such-queue" in missing.detail
    assert findings["Gaps and reconciliation (Copilot aggregates)"].outcome == Outcome.PERMITTED
    assert findings["Verdicts back to Genesys (suggestion feedback)"].outcome == Outcome.PERMITTED
    assert findings["Knowledge search in Source kb-1 (kb-1)"].outcome == Outcome.PERMITTED
    assert findings["Knowledge search in Source kb-gone (kb-gone)"].outcome == Outcome.NOT_FOUND
    rejections = findings["Rejections back to Genesys (knowledge document feedback)"]
    assert rejections.outcome == Outcome.PERMITTED
    assert findings["Conversation summaries"].outcome == Outcome.PERMITTED
    corrected = findings["Corrected summaries back to Genesys (summary feedback)"]
    assert corrected.outcome == Outcome.PERMITTED
    topics = findings["Suggestion topics the org offers"]
    assert topics.outcome == Outcome.PERMITTED
    assert "v2.conversations.{id}.suggestions.response" in topics.detail
    assert findings["Canned responses' text"].outcome == Outcome.PERMITTED
    assert findings["Scripts' names"].outcome == Outcome.PERMITTED
    drift = "Changes in Genesys' Agent Assist configuration (assistants)"
    assert findings[drift].outcome == Outcome.PERMITTED
    assert findings[f"{drift}: their queues"].outcome == Outcome.PERMITTED


async def test_topic_names_are_confirmed_with_the_org_and_what_it_lacks_is_named(sim, gov_admin):
    simulator, url = sim
    simulator.inject(
        {"action": "topics", "names": {"response": "knowledge.response"}, "drop": ["script"]}
    )
    simulator.inject({"action": "permissions", "missing": ["scripter:script:view"]})
    connection = await sync_to_async(configured)(url)
    findings = by_feature(await sync_to_async(check_connection)(connection, actor=gov_admin))
    topics = findings["Suggestion topics the org offers"]
    assert topics.outcome == Outcome.NOT_FOUND
    assert topics.detail == (
        "not offered over WebSocket (not subscribed): v2.conversations.{id}.suggestions.script "
        "or v2.conversations.{id}.suggestions.knowledge.script"
    )
    # The other kinds subscribe under the names the org uses (the simulator refuses others).
    assert findings["Live suggestions (topics)"].outcome == Outcome.PERMITTED
    assert findings["Live suggestions (topics)"].detail == "5 topics subscribed"
    scripts = findings["Scripts' names"]
    assert scripts.outcome == Outcome.MISSING and "scripter:script:view" in scripts.detail


async def test_a_refused_permission_is_named_per_feature(sim, gov_admin):
    simulator, url = sim
    simulator.inject(
        {
            "action": "permissions",
            "missing": [
                "conversation:suggestion:view",
                "analytics:agentCopilotAggregate:view",
                "conversation:suggestionEngagement:add",
                "knowledge:feedback:create",
                "conversation:summary:view",
                "assistants:copilot:view",
            ],
        }
    )
    connection = await sync_to_async(configured)(url)
    findings = by_feature(await sync_to_async(check_connection)(connection, actor=gov_admin))
    live = findings["Live suggestions (topics)"]
    assert live.outcome == Outcome.MISSING
    assert live.permission == "conversation:suggestion:view"  # from missingPermissions
    backfill = findings["Back-fill (suggestions listing)"]
    assert backfill.outcome == Outcome.MISSING
    assert "conversation:suggestion:view" in backfill.detail
    assert findings["Gaps and reconciliation (Copilot aggregates)"].outcome == Outcome.MISSING
    verdicts = findings["Verdicts back to Genesys (suggestion feedback)"]
    assert verdicts.outcome == Outcome.MISSING
    assert findings["Queue Billing"].outcome == Outcome.PERMITTED
    assert findings["Knowledge search in Source kb-1 (kb-1)"].outcome == Outcome.PERMITTED
    rejections = findings["Rejections back to Genesys (knowledge document feedback)"]
    assert rejections.outcome == Outcome.MISSING
    assert findings["Conversation summaries"].outcome == Outcome.MISSING
    drift = findings["Changes in Genesys' Agent Assist configuration (assistants)"]
    assert drift.outcome == Outcome.MISSING
    assert drift.permission == "assistants:assistant:view, assistants:copilot:view"


async def test_wrong_credentials_and_an_unreachable_host_say_so(sim, gov_admin):
    _, url = sim
    wrong = await sync_to_async(make_connection)(url=url, secret="not-the-secret")
    findings = await sync_to_async(check_connection)(wrong, actor=gov_admin)
    assert [f.outcome for f in findings] == [Outcome.FAILED]
    assert "refused the client credentials" in findings[0].detail
    nowhere = await sync_to_async(make_connection)(url="http://127.0.0.1:9")
    findings = await sync_to_async(check_connection)(nowhere, actor=gov_admin)
    assert [f.outcome for f in findings] == [Outcome.FAILED]
    assert "could not be reached at http://127.0.0.1:9/oauth/token" in findings[0].detail


async def test_the_admin_page_shows_the_findings_and_the_trail_keeps_them(sim, gov_admin, auditor):
    _, url = sim
    connection = await sync_to_async(configured)(url)
    path = reverse("admin:streams_genesysconnection_check", args=[connection.pk])

    @sync_to_async
    def as_admin():
        from django.test import Client

        reader = Client()
        reader.force_login(auditor)
        client = Client()
        client.force_login(gov_admin)
        return reader.post(path), client.get(path), client.post(path)

    forbidden, refused, response = await as_admin()
    assert forbidden.status_code == 403  # an auditor reads connections, does not check them
    assert refused.status_code == 405  # it opens a channel: a POST only
    page = response.content.decode()
    assert response.status_code == 200
    assert "Queue Billing" in page and "Not found" in page and "Permitted" in page

    @sync_to_async
    def entry():
        return AuditEntry.objects.get(action="genesys_connection.check")

    recorded = await entry()
    assert recorded.actor_label == gov_admin.get_username()
    outcomes = {f["feature"]: f["outcome"] for f in recorded.after["findings"]}
    assert outcomes["Queue no-such-queue"] == "not found"


def test_a_following_stream_s_page_shows_the_topics_it_subscribes(client, gov_admin):
    connection = make_connection(flavour=GenesysConnection.Flavour.NOTIFICATIONS)
    stream = make_stream(connection=connection, queue_ids=["q-1"], insight_types=["intent"])
    client.force_login(gov_admin)
    page = client.get(reverse("admin:streams_streamconfig_change", args=[stream.pk]))
    text = page.content.decode()
    assert "v2.routing.queues.q-1.conversations" in text
    assert "v2.conversations.{conversation}.suggestions.intent" in text
    assert '"confidence_threshold"' not in text  # not the seed flavour's subscription
