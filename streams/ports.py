"""Where the governance app plugs into streams, which never imports it (the design's one-way
rule). `audit` plugs in when Django starts (AuditConfig.ready); every call below is explicit
at the place it happens, inside the transaction of what it reports.
"""

from collections.abc import Callable, Coroutine, Iterable
from typing import Protocol


class Governance(Protocol):
    """What streams reports to the audit trail."""

    def config_changed(
        self, *, obj, verb: str, before, after, actor, source: str, request=None
    ) -> None:
        """A person (or a command for them, or a system part) created, changed, deleted,
        started or stopped configuration: `before` and `after` are snapshots."""

    def insights_auto_decided(self, *, stream_id: int, stream_name: str, decisions: dict) -> None:
        """Confidence-matrix rules decided insights of one stored batch:
        {rule: {"status": ..., "insights": [ids]}}."""

    def insights_not_stored(self, *, stream_id: int, stream_name: str, counts: list) -> None:
        """What a stream's rules kept out of one batch, not stored: [{"rule", "insight_type",
        "count"}], the rule in words as it was in force."""

    def stream_run_changed(
        self, *, stream_id: int, stream_name: str, event: str, reason: str, worker: str
    ) -> None:
        """The stream worker started ("start") or stopped ("stop") running a stream."""

    def knowledge_queried(self, *, query, client_address: str | None) -> None:
        """A knowledge query was recorded (seed 2's audit record)."""

    def token_refused(self, *, where: str, reason: str, request) -> None:
        """A call to `where` came with a missing or wrong bearer token."""

    def genesys_feedback_done(self, *, feedback, worker: str) -> None:
        """An officer's verdict was sent to Genesys, or given up on (`feedback.status`)."""


class _Unplugged:
    """Before the governance app plugs in, reporting is an error, not a silent loss."""

    def __getattr__(self, name):
        raise RuntimeError(
            f"streams reported {name} but no governance app is plugged in "
            "(is 'audit' in INSTALLED_APPS?)"
        )


_governance: Governance = _Unplugged()

# Run by every stream worker beside its streams, each given the worker's id; a task runs
# until cancelled.
WORKER_TASKS: list[Callable[[str], Coroutine]] = []
# More metric families for /metrics, read at scrape time.
METRIC_FAMILIES: list[Callable[[], Iterable]] = []


def governance() -> Governance:
    return _governance


def plug(governance: Governance) -> None:
    global _governance
    _governance = governance
