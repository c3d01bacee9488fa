"""A knowledge stream as queries need it, read from the database at once."""

import hashlib
import json
import uuid
from dataclasses import dataclass

from streams.config import versions
from streams.config.specs import ConnectionSpec, connection_spec
from streams.genesys.knowledge import Rules, SearchRequest, sources_in_order
from streams.knowledge.errors import KnowledgeError
from streams.knowledge.models import KnowledgeStream


def normalise(text: str) -> str:
    return " ".join(text.split()).lower()


@dataclass(frozen=True)
class KnowledgeSpec:
    stream_id: int
    name: str
    connection: ConnectionSpec
    priorities: tuple[tuple[str, int], ...] = ()
    max_results: int = 5
    confidence_threshold: float = 0.75
    language: str = "en-US"
    freshness_days: int = 90
    max_in_flight: int = 5
    timeout: float = 15.0
    cache_ttl: int = 300
    auto_query_types: frozenset[str] = frozenset()
    problem: str = ""
    # The recorded version of the stream's settings its answers are judged by.
    version_id: int | None = None

    @property
    def client_key(self) -> tuple:
        """What the connection depends on: a change here needs a new client."""
        return (self.connection, self.max_in_flight)

    @property
    def rules(self) -> Rules:
        return Rules(
            confidence_threshold=self.confidence_threshold,
            freshness_days=self.freshness_days,
            priorities=dict(self.priorities),
        )

    def request(self, text: str, conversation_id: str) -> SearchRequest:
        return SearchRequest(
            query_id=uuid.uuid4().hex,
            conversation_id=conversation_id,
            query_text=text,
            knowledge_sources=list(sources_in_order(dict(self.priorities))),
            max_results=self.max_results,
            confidence_threshold=self.confidence_threshold,
            language=self.language,
        )

    def cache_key(self, text: str) -> str:
        """The normalised query, the sources with priorities, threshold, language, size."""
        material = [
            normalise(text),
            sorted(self.priorities),
            self.confidence_threshold,
            self.language,
            self.max_results,
        ]
        return hashlib.sha256(json.dumps(material).encode()).hexdigest()


def knowledge_spec(stream: KnowledgeStream) -> KnowledgeSpec:
    """The spec of one knowledge stream (sync). What stops it from running is a `problem`."""
    connection, problem = connection_spec(stream.connection)
    priorities = stream.priorities()
    if not priorities:
        problem = problem or "the stream has no enabled knowledge source"
    if not stream.enabled:
        problem = "the stream is disabled"
    return KnowledgeSpec(
        stream_id=stream.pk,
        name=stream.name,
        connection=connection,
        priorities=tuple(sorted(priorities.items())),
        max_results=stream.max_results,
        confidence_threshold=stream.confidence_threshold,
        language=stream.language,
        freshness_days=stream.freshness_days,
        max_in_flight=stream.max_in_flight,
        timeout=stream.query_timeout_seconds,
        cache_ttl=stream.cache_ttl_seconds,
        auto_query_types=frozenset(stream.auto_query_types),
        problem=problem,
        version_id=versions.current(stream).pk,
    )


def load_spec(name: str) -> KnowledgeSpec:
    stream = KnowledgeStream.objects.select_related("connection").filter(name=name).first()
    if stream is None:
        raise KnowledgeError(
            f"no knowledge stream named {name[:100]!r}",
            status=400,
            code="unknown_stream",
            field="stream",
        )
    return knowledge_spec(stream)


def enabled_specs() -> list[KnowledgeSpec]:
    streams = KnowledgeStream.objects.filter(enabled=True).select_related("connection")
    return [knowledge_spec(stream) for stream in streams]
