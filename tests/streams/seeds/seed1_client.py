"""Seed 1's own client code (seeds/000_...txt), re-indented, run against the simulator.

Changes from the seed, each marked "changed:": `additional_headers` instead of
`extra_headers` (websockets >= 14 refuses the latter), and the hosts, which the seed
hard-codes to a fictional domain, come from module variables that the test points at
the simulator. Everything else is the seed's code as published, bugs included.
"""
# ruff: noqa

import requests
import time
from typing import Optional

# changed: the seed builds these from "https://api.{region}.genesyscloud.com".
API_BASE = "https://api.{region}.genesyscloud.com"
WS_BASE = "wss://api.{region}.genesyscloud.com"
WEBHOOK_URL = "https://your-training-platform.example.com/api/v1/insights/sync"


class OAuthManager:
    def __init__(self, client_id: str, client_secret: str, region: str = "my"):
        self.client_id = client_id
        self.client_secret = client_secret
        self.auth_url = f"{API_BASE.format(region=region)}/oauth/token"  # changed: host
        self.token: Optional[str] = None
        self.expires_at: float = 0.0

    def get_token(self) -> str:
        if self.token and time.time() < self.expires_at - 30:
            return self.token
        payload = {
            "grant_type": "client_credentials",
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "scope": "analytics:events:read agentassist:read",
        }
        response = requests.post(self.auth_url, data=payload)
        response.raise_for_status()
        data = response.json()
        self.token = data["access_token"]
        self.expires_at = time.time() + data["expires_in"]
        return self.token


import json
from pydantic import BaseModel, Field, field_validator
from typing import List, Dict, Any


class InsightFilter(BaseModel):
    type: str = "eq"
    attribute: str
    value: Any


class ConfidenceMatrix(BaseModel):
    min_confidence: float = Field(ge=0.0, le=1.0)
    max_confidence: float = Field(ge=0.0, le=1.0, default=1.0)


class SubscriptionPayload(BaseModel):
    type: str = "subscribe"
    id: str = "agentassist-stream-01"
    filters: List[Dict[str, Any]]
    interaction_ids: List[str]
    confidence_threshold: ConfidenceMatrix

    @field_validator("filters")
    @classmethod
    def validate_filter_schema(cls, v: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
        allowed_attributes = {"event_type", "insight_type", "confidence", "interaction_id"}
        for f in v:
            if f.get("attribute") not in allowed_attributes:
                raise ValueError(f"Invalid filter attribute: {f.get('attribute')}")
        return v


def validate_stream_limits(access_token: str, region: str) -> bool:
    url = f"{API_BASE.format(region=region)}/api/v2/analytics/events/streamlimits"  # changed: host
    headers = {"Authorization": f"Bearer {access_token}", "Content-Type": "application/json"}
    response = requests.get(url, headers=headers)
    response.raise_for_status()
    limits = response.json()
    # HTTP 200 Response Body Example:
    # {"maxConcurrentStreams": 10, "maxSubscriptionsPerStream": 5, "currentStreams": 2}
    if limits["currentStreams"] >= limits["maxConcurrentStreams"]:
        raise RuntimeError("Stream saturation detected. Concurrent connection limit reached.")
    return True


def build_subscription(
    interaction_ids: List[str], insight_types: List[str], min_conf: float, max_conf: float
) -> str:
    filters = [
        {"type": "eq", "attribute": "event_type", "value": "agentassist.insight"},
        {"type": "in", "attribute": "insight_type", "value": insight_types},
        {"type": "gte", "attribute": "confidence", "value": min_conf},
        {"type": "lte", "attribute": "confidence", "value": max_conf},
    ]
    payload = SubscriptionPayload(
        filters=filters,
        interaction_ids=interaction_ids,
        confidence_threshold=ConfidenceMatrix(min_confidence=min_conf, max_confidence=max_conf),
    )
    return payload.model_dump_json()


import asyncio
import websockets
import base64
import logging
from datetime import datetime, timezone

logging.basicConfig(level=logging.INFO, format="%(asctime)s [%(levelname)s] %(message)s")
logger = logging.getLogger("AgentAssistRetriever")


async def connect_and_subscribe(
    ws_uri: str, token: str, subscription_json: str, max_retries: int = 5
) -> None:
    backoff = 1
    for attempt in range(max_retries):
        try:
            additional_headers = {"Authorization": f"Bearer {token}"}  # changed: was extra_headers
            async with websockets.connect(ws_uri, additional_headers=additional_headers) as ws:
                logger.info("WebSocket connected. Sending subscription payload.")
                await ws.send(subscription_json)
                # Acknowledge subscription
                ack = await asyncio.wait_for(ws.recv(), timeout=10.0)
                logger.info(f"Subscription acknowledged: {ack}")
                await handle_incoming_frames(ws)
                return  # Success, exit retry loop
        except websockets.exceptions.ConnectionClosed as e:
            logger.warning(f"Connection closed on attempt {attempt + 1}: {e}")
            await asyncio.sleep(backoff)
            backoff *= 2
        except asyncio.TimeoutError:
            logger.error("Subscription acknowledgment timed out.")
            break
        except Exception as e:
            logger.error(f"Unexpected error: {e}")
            break
    raise RuntimeError("Failed to establish persistent WebSocket connection after retries.")


import httpx
from dataclasses import dataclass


@dataclass
class ProcessedInsight:
    interaction_id: str
    insight_type: str
    confidence: float
    relevance_score: float
    snippet: str
    timestamp: str
    latency_ms: float


async def handle_incoming_frames(ws: websockets.WebSocketClientProtocol) -> None:
    webhook_url = WEBHOOK_URL  # changed: the seed's fictional training platform
    http_client = httpx.AsyncClient(timeout=10.0)
    try:
        async for raw_frame in ws:
            start_time = datetime.now(timezone.utc)
            payload = deserialize_frame(raw_frame)
            if not isinstance(payload, dict) or payload.get("type") != "agentassist.insight":
                continue
            processed = compute_relevance_and_extract(payload)
            processed.latency_ms = (datetime.now(timezone.utc) - start_time).total_seconds() * 1000
            await http_client.post(webhook_url, json=processed.__dict__)
            logger.info(
                f"Insight processed: {processed.interaction_id} | Score: {processed.relevance_score:.2f} | Latency: {processed.latency_ms:.1f}ms"
            )
    finally:
        await http_client.aclose()


def deserialize_frame(raw_frame: str) -> dict:
    if isinstance(raw_frame, bytes):
        try:
            decoded = base64.b64decode(raw_frame)
            return json.loads(decoded)
        except Exception:
            return json.loads(raw_frame)
    return json.loads(raw_frame)


def compute_relevance_and_extract(insight: dict) -> ProcessedInsight:
    confidence = insight.get("confidence", 0.0)
    insight_type = insight.get("insight_type", "unknown")
    interaction_id = insight.get("interaction_id", "unknown")
    # Relevance scoring matrix
    type_weights = {"knowledge_recommendation": 1.0, "sentiment_alert": 0.8, "compliance_flag": 0.9}
    base_weight = type_weights.get(insight_type, 0.5)
    relevance_score = confidence * base_weight
    # Snippet extraction pipeline
    content = insight.get("content", {})
    snippet = (
        content.get("text", "")[:250]
        if isinstance(content.get("text"), str)
        else str(content)[:250]
    )
    return ProcessedInsight(
        interaction_id=interaction_id,
        insight_type=insight_type,
        confidence=confidence,
        relevance_score=relevance_score,
        snippet=snippet,
        timestamp=datetime.now(timezone.utc).isoformat(),
        latency_ms=0.0,
    )
