"""Seed 2's orchestrator (seeds/001), re-indented, with only what is needed to run it here:

- `extra_headers` became `additional_headers` (websockets 14 and later);
- the token URL and the WebSocket URL take a scheme, so they can point at the simulator;
- `model_dump_genesisys` dumps by alias, as the seed intends, with `populate_by_name` so
  the seed's own keyword construction works under pydantic 2.

Everything else, including its bugs (latency in seconds x 1000, one slot per conversation,
the popped start time), is the seed's. Test code, not product code.
"""
# ruff: noqa

import asyncio
import json
import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import websockets
from pydantic import BaseModel, ConfigDict, Field, field_validator

logger = logging.getLogger(__name__)


class TokenManager:
    def __init__(self, client_id: str, client_secret: str, org_url: str):
        self.client_id = client_id
        self.client_secret = client_secret
        self.token_url = f"{org_url}/oauth/token"
        self._token: str | None = None
        self._expires_at: float | None = None

    async def get_token(self) -> str:
        loop_time = asyncio.get_event_loop().time()
        if self._token and self._expires_at and loop_time < self._expires_at:
            return self._token
        async with httpx.AsyncClient(timeout=10.0) as client:
            response = await client.post(
                self.token_url,
                data={"grant_type": "client_credentials"},
                auth=(self.client_id, self.client_secret),
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )
        if response.status_code != 200:
            raise ConnectionError(f"OAuth token request failed with status {response.status_code}")
        payload = response.json()
        self._token = payload["access_token"]
        self._expires_at = asyncio.get_event_loop().time() + payload["expires_in"] - 60
        return self._token


class KnowledgeSource(BaseModel):
    knowledge_base_id: str
    priority: int = Field(ge=1, le=10)


class OrchestratePayload(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    message_type: str = Field(default="SUBSCRIBE", alias="messageType")
    conversation_id: str = Field(alias="conversationId")
    query_text: str = Field(min_length=2, max_length=500, alias="queryText")
    knowledge_sources: list[KnowledgeSource] = Field(alias="knowledgeSources")
    max_results: int = Field(default=5, ge=1, le=20, alias="maxResults")
    confidence_threshold: float = Field(default=0.75, ge=0.0, le=1.0, alias="confidenceThreshold")
    language: str = Field(default="en-US")

    @field_validator("query_text")
    @classmethod
    def validate_query_text(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("Query text must contain non-whitespace characters")
        return v.strip()

    def model_dump_genesisys(self) -> dict:
        return self.model_dump(by_alias=True)


class QueryTracker:
    def __init__(self, max_concurrent: int = 5):
        self.semaphore = asyncio.Semaphore(max_concurrent)
        self.active_queries: dict[str, float] = {}
        self.timeout_limit = 15.0

    async def acquire(self, query_id: str) -> None:
        await self.semaphore.acquire()
        self.active_queries[query_id] = time.perf_counter()

    def release(self, query_id: str) -> None:
        if query_id in self.active_queries:
            del self.active_queries[query_id]
            self.semaphore.release()


class KnowledgeValidator:
    def __init__(self, min_confidence: float = 0.75, max_age_days: int = 90):
        self.min_confidence = min_confidence
        self.max_age = timedelta(days=max_age_days)

    def validate_result(self, result: dict[str, Any]) -> bool:
        score = result.get("confidenceScore", 0.0)
        if score < self.min_confidence:
            return False
        last_updated_str = result.get("lastUpdated")
        if not last_updated_str:
            return False
        try:
            last_updated = datetime.fromisoformat(last_updated_str.replace("Z", "+00:00"))
            if (datetime.now(UTC) - last_updated) > self.max_age:
                return False
        except ValueError:
            return False
        return True

    async def trigger_cache_warming(self, query_text: str) -> None:
        await asyncio.sleep(0.1)


class OrchestrateMetrics:
    def __init__(self):
        self.total_queries = 0
        self.successful_queries = 0
        self.total_latency_ms = 0.0
        self.external_sync_callbacks = []

    async def register_callback(self, cb) -> None:
        self.external_sync_callbacks.append(cb)

    async def sync_external(self, payload: dict) -> None:
        for cb in self.external_sync_callbacks:
            try:
                await cb(payload)
            except Exception as e:
                logger.error(f"External sync callback failed: {e}")


class AgentAssistOrchestrator:
    def __init__(self, org_url: str, client_id: str, client_secret: str, max_concurrent: int = 5):
        self.org_url = org_url
        self.token_manager = TokenManager(client_id, client_secret, org_url)
        self.ws_url = org_url.replace("http", "ws", 1) + "/api/v2/agent-assist/real-time"
        self.query_tracker = QueryTracker(max_concurrent=max_concurrent)
        self.validator = KnowledgeValidator(min_confidence=0.75, max_age_days=90)
        self.metrics = OrchestrateMetrics()
        self.ws = None
        self._running = False
        self.audit_logs: list[dict] = []  # the seed logs these to a file; kept for the test

    async def connect(self) -> None:
        token = await self.token_manager.get_token()
        self.ws = await websockets.connect(
            self.ws_url,
            additional_headers={"Authorization": f"Bearer {token}"},
            ping_interval=20,
            ping_timeout=10,
        )
        self._running = True
        asyncio.create_task(self._message_loop())

    async def _message_loop(self) -> None:
        async with self.ws:
            async for message in self.ws:
                try:
                    data = json.loads(message)
                    await self._handle_incoming_message(data)
                except json.JSONDecodeError:
                    logger.warning("Received non-JSON WebSocket message")
                except Exception as e:
                    logger.error(f"Error processing WebSocket message: {e}")

    async def _handle_incoming_message(self, data: dict) -> None:
        message_type = data.get("messageType")
        if message_type == "KNOWLEDGE_SEARCH_RESPONSE":
            conversation_id = data.get("conversationId", "unknown")
            query_id = conversation_id
            self.query_tracker.release(query_id)
            results = data.get("results", [])
            validated_results = [r for r in results if self.validator.validate_result(r)]
            started = self.query_tracker.active_queries.pop(query_id, time.perf_counter())
            latency_ms = time.perf_counter() - started
            self.metrics.total_latency_ms += latency_ms * 1000
            self.metrics.total_queries += 1
            if validated_results:
                self.metrics.successful_queries += 1
            audit_log = {
                "timestamp": datetime.now(UTC).isoformat(),
                "conversation_id": conversation_id,
                "query_id": query_id,
                "latency_ms": round(latency_ms * 1000, 2),
                "results_returned": len(results),
                "results_validated": len(validated_results),
                "cache_hit": False,
                "governance_status": "PASS" if validated_results else "FILTERED",
            }
            self.audit_logs.append(audit_log)
            await self.metrics.sync_external(
                {"conversation_id": conversation_id, "validated_results": validated_results}
            )
            await self.validator.trigger_cache_warming(audit_log.get("query_text", ""))
        elif message_type == "ERROR":
            logger.error(f"Agent Assist error: {data.get('message')}")

    async def send_query(self, conversation_id: str, query_text: str, kb_ids: list[str]) -> None:
        await self.query_tracker.acquire(conversation_id)
        payload = OrchestratePayload(
            conversation_id=conversation_id,
            query_text=query_text,
            knowledge_sources=[{"knowledge_base_id": kb_id, "priority": 1} for kb_id in kb_ids],
            max_results=5,
            confidence_threshold=0.75,
        )
        await self.ws.send(json.dumps(payload.model_dump_genesisys()))

    async def stop(self) -> None:
        self._running = False
        if self.ws:
            await self.ws.close()
