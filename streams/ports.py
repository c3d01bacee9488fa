"""Where the governance app plugs into streams, which never imports it (the design's one-way
rule): `audit` registers here when Django starts (AuditConfig.ready)."""

from collections.abc import Callable, Coroutine, Iterable

# Run by every stream worker beside its streams, each given the worker's id; a task runs
# until cancelled.
WORKER_TASKS: list[Callable[[str], Coroutine]] = []
# More metric families for /metrics, read at scrape time.
METRIC_FAMILIES: list[Callable[[], Iterable]] = []
