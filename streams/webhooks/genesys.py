"""Officers' verdicts back to Genesys, opt-in per stream: an approval or rejection of a
suggestion becomes the suggestion's feedback (`POST /api/v2/conversations/{id}/suggestions/
{sid}/engagement`, engagementType Feedback, rating Positive or Negative).

`enqueue_verdict` writes the outbox row inside the decision's transaction; the stream worker's
`FeedbackSender` claims due rows with conditional UPDATEs (several workers never send one
twice at once), sends them with the connection's token, and retries on the webhooks' schedule,
waiting as long as a 429's Retry-After asks. Nothing here waits on Genesys in a decision or in
ingestion. Each verdict sent, or given up on, is an audit entry.
"""

import asyncio
import logging
from dataclasses import dataclass
from datetime import timedelta
from functools import partial

import httpx
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from assistgov.asyncdb import database_sync_to_async
from streams import outbound, ports
from streams.config.models import GenesysConnection, StreamConfig
from streams.config.specs import ConnectionSpec, connection_spec
from streams.genesys.auth import TokenPool
from streams.genesys.errors import HostNotAllowed
from streams.genesys.rest import parse_retry_after
from streams.genesys.summaries import SUMMARY_TYPE
from streams.webhooks.delivery import Outcome, claim_rows, next_wait, outbox_loop
from streams.webhooks.models import GenesysFeedback

logger = logging.getLogger(__name__)

RATINGS = {"approved": "Positive", "rejected": "Negative"}
CLAIM_BATCH = 50
# Answers after which sending again cannot help: the request or the permission is wrong, or
# the suggestion is gone. Said on the row and in the audit entry.
FINAL = {
    400: "Genesys refused the feedback as malformed (HTTP 400)",
    403: "permission denied (HTTP 403): the OAuth client's role needs {permission}",
    404: "Genesys no longer has this {what} (HTTP 404)",
}
PERMISSIONS = {
    GenesysFeedback.Kind.SUGGESTION: "conversation:suggestionEngagement:add",
    GenesysFeedback.Kind.DOCUMENT: "knowledge:feedback:create",
    GenesysFeedback.Kind.SUMMARY: "conversation:summaryFeedback:add",
}
COMMENT_LIMIT = 2000


def enqueue_verdict(insight, *, by_label: str) -> GenesysFeedback | None:
    """(Inside the decision's transaction.) The verdict's outbox row, when the insight's
    stream sends verdicts and the insight is a Genesys suggestion."""
    rating = RATINGS.get(insight.review_status)
    if rating is None:
        return None
    stream = StreamConfig.objects.select_related("connection").get(pk=insight.stream_id)
    notifications = stream.connection.flavour == GenesysConnection.Flavour.NOTIFICATIONS
    if not (stream.send_verdicts and notifications):
        return None
    if insight.insight_type == SUMMARY_TYPE:
        # The summary as the officer left it: corrected, or as Genesys wrote it.
        text = insight.corrected_text or (insight.payload or {}).get("text") or insight.snippet
        return GenesysFeedback.objects.create(
            kind=GenesysFeedback.Kind.SUMMARY,
            stream=stream,
            insight=insight,
            conversation_id=insight.interaction_id,
            suggestion_id=insight.external_id,
            comment=text,
            rating=rating,
            decided_by=by_label,
            next_attempt_at=timezone.now(),
        )
    return GenesysFeedback.objects.create(
        stream=stream,
        insight=insight,
        conversation_id=insight.interaction_id,
        suggestion_id=insight.external_id,
        rating=rating,
        decided_by=by_label,
        next_attempt_at=timezone.now(),
    )


def enqueue_document_feedback(query, *, by_label: str) -> GenesysFeedback | None:
    """(Inside the decision's transaction.) A rejected knowledge answer's outbox row: Negative
    feedback on the first document it gave, when its knowledge stream sends rejections."""
    if query.review_status != "rejected":
        return None
    stream = query.stream
    notifications = stream.connection.flavour == GenesysConnection.Flavour.NOTIFICATIONS
    answers = query.passed_results()
    if not (stream.send_verdicts and notifications and answers):
        return None
    first = answers[0]
    return GenesysFeedback.objects.create(
        kind=GenesysFeedback.Kind.DOCUMENT,
        knowledge_stream=stream,
        knowledge_query=query,
        conversation_id=query.conversation_id,
        knowledge_base_id=first["knowledge_base_id"],
        document_id=first["document_id"],
        document_version_id=first.get("version_id", ""),
        document_variation_id=first.get("variation_id", ""),
        comment=query.review_note[:COMMENT_LIMIT],
        rating="Negative",
        decided_by=by_label,
        next_attempt_at=timezone.now(),
    )


@dataclass(frozen=True)
class Claimed:
    id: int
    connection: ConnectionSpec
    url: str
    body: dict


def claim_due(worker: str, limit: int, hold_seconds: float) -> list[Claimed]:
    pending = GenesysFeedback.objects.filter(status=GenesysFeedback.Status.PENDING)
    claimed = []
    for pk in claim_rows(pending, worker=worker, limit=limit, hold_seconds=hold_seconds):
        row = GenesysFeedback.objects.select_related(
            "stream__connection", "knowledge_stream__connection"
        ).get(pk=pk)
        spec, problem = connection_spec(row.connection)
        if problem:
            record_outcome(pk, Outcome(None, f"not sent: {problem}", 0.0), worker)
            continue
        claimed.append(Claimed(pk, spec, spec.api_url + row.path, row.body()))
    return claimed


def record_outcome(pk: int, outcome: Outcome, worker: str) -> None:
    now = timezone.now()
    with transaction.atomic():
        row = GenesysFeedback.objects.select_for_update().get(pk=pk)
        row.attempts += 1
        row.last_status_code = outcome.status_code
        row.last_error = outcome.error[:500]
        if outcome.status_code in FINAL:
            what = {"document": "document", "summary": "summary"}.get(row.kind, "suggestion")
            said = FINAL[outcome.status_code].format(permission=PERMISSIONS[row.kind], what=what)
            row.last_error = said[:500]
        row.claimed_by, row.claimed_until = "", None
        if outcome.delivered:
            row.status, row.sent_at = GenesysFeedback.Status.SENT, now
        elif outcome.status_code in FINAL:
            row.status = GenesysFeedback.Status.FAILED
        else:
            wait = next_wait(row.attempts, outcome, settings.WEBHOOK_RETRY_SCHEDULE)
            if wait is None:
                row.status = GenesysFeedback.Status.FAILED
            else:
                row.next_attempt_at = now + timedelta(seconds=wait)
        row.save()
        if row.status != GenesysFeedback.Status.PENDING:
            ports.governance().genesys_feedback_done(feedback=row, worker=worker)


class FeedbackSender:
    """(A stream worker task.) Send what officers decided to Genesys."""

    def __init__(self, *, worker: str, poll_seconds: float | None = None):
        self.worker = worker
        self.poll_seconds = poll_seconds or settings.WEBHOOK_POLL_SECONDS
        self.timeout = settings.WEBHOOK_TIMEOUT_SECONDS
        self.tokens = TokenPool()

    async def run(self) -> None:
        async with outbound.http_client(
            outbound.genesys_hosts(), timeout=self.timeout, follow_redirects=False
        ) as http:
            await outbox_loop(
                partial(claim_due, self.worker, CLAIM_BATCH, self.timeout * 3),
                partial(self._send_all, http),
                poll_seconds=self.poll_seconds,
                what="genesys feedback",
            )

    async def _send_all(self, http: httpx.AsyncClient, batch: list[Claimed]) -> None:
        await asyncio.gather(*(self._send(http, claimed) for claimed in batch))

    async def _send(self, http: httpx.AsyncClient, claimed: Claimed) -> None:
        outcome = await send(http, claimed, self.tokens)
        try:
            await database_sync_to_async(record_outcome)(claimed.id, outcome, self.worker)
        except Exception:
            # The claim expires and the verdict is sent again: at least once (Genesys keeps
            # one feedback per suggestion, so a second is the same verdict again).
            logger.exception("genesys feedback: cannot record the attempt of %s", claimed.id)


async def send(http: httpx.AsyncClient, claimed: Claimed, pool: TokenPool) -> Outcome:
    tokens = claimed.connection.tokens(pool, http)
    try:
        token = await tokens.token()
        response = await http.post(
            claimed.url, json=claimed.body, headers={"Authorization": f"Bearer {token}"}
        )
    except HostNotAllowed as exc:
        return Outcome(None, f"not sent: {exc}"[:500], 0.0)
    except Exception as exc:  # network, token refused, a timeout: retried on the schedule
        return Outcome(None, f"{type(exc).__name__}: {exc}"[:500], 0.0)
    if response.status_code == 401:
        tokens.invalidate(token)
    code = response.status_code
    error = "" if response.is_success else f"HTTP {code}"  # said in words when recorded
    return Outcome(
        code,
        error,
        0.0,
        retry_after=parse_retry_after(response.headers.get("Retry-After")),
    )
