"""The admin's "Check connection": what a connection's streams need, checked against Genesys
(streams/genesys/check.py), the findings recorded in the audit trail."""

from asgiref.sync import async_to_sync

from streams import outbound, ports
from streams.config.models import GenesysConnection
from streams.config.specs import connection_spec
from streams.genesys.auth import TokenPool
from streams.genesys.check import ConnectionCheck, Finding, Needs, Outcome
from streams.knowledge.models import KnowledgeStreamSource
from streams.worker.models import FollowedConversation


def connection_needs(connection: GenesysConnection) -> Needs:
    streams = list(connection.streams.all())
    queues = sorted({q for s in streams for q in s.queue_ids})
    users = sorted({u for s in streams for u in s.user_ids})
    kinds = sorted({k for s in streams for k in s.insight_types})
    followed = FollowedConversation.objects.filter(stream__connection=connection).first()
    listed = next((c for s in streams for c in s.interaction_ids), "")
    bases = KnowledgeStreamSource.objects.filter(stream__connection=connection).values_list(
        "source__knowledge_base_id", "source__name"
    )
    return Needs(
        notifications=connection.flavour == GenesysConnection.Flavour.NOTIFICATIONS,
        queues=tuple(queues),
        users=tuple(users),
        kinds=tuple(kinds),
        sample_conversation=followed.conversation_id if followed else listed,
        send_verdicts=any(s.send_verdicts for s in streams),
        send_rejections=connection.knowledge_streams.filter(send_verdicts=True).exists(),
        summaries=any(
            (s.queue_ids or s.user_ids) and (not s.insight_types or "summary" in s.insight_types)
            for s in streams
        ),
        knowledge_bases=tuple(sorted(set(bases))),
    )


def check_connection(connection: GenesysConnection, *, actor, request=None) -> list[Finding]:
    spec, problem = connection_spec(connection)
    if problem:
        findings = [Finding("Sign-in (OAuth client credentials)", "", Outcome.FAILED, problem)]
    else:
        findings = async_to_sync(_run)(spec, connection_needs(connection))
    ports.governance().config_changed(
        obj=connection,
        verb="check",
        before=None,
        after={
            "findings": [
                {"feature": f.feature, "permission": f.permission, "outcome": str(f.outcome)}
                | ({"detail": f.detail} if f.detail else {})
                for f in findings
            ]
        },
        actor=actor,
        source="admin",
        request=request,
    )
    return findings


async def _run(spec, needs: Needs) -> list[Finding]:
    async with outbound.http_client(outbound.genesys_hosts()) as http:
        tokens = spec.tokens(TokenPool(), http)
        return await ConnectionCheck(http, tokens, spec.api_url.rstrip("/"), needs).run()
