"""Seed 2's own orchestrator sends its queries to the simulator and gets answers."""

from datetime import UTC, datetime, timedelta

from tests.simulator import eventually, start_simulator
from tests.streams.seeds import seed2_orchestrator as seed


async def test_seed_two_orchestrator_queries_the_simulator():
    simulator, url = await start_simulator()
    orchestrator = seed.AgentAssistOrchestrator(url, "assistgov-demo", "assistgov-demo-secret")
    synced = []

    async def collect(payload):
        synced.append(payload)

    await orchestrator.metrics.register_callback(collect)
    await orchestrator.connect()
    for i in range(3):
        await orchestrator.send_query(f"conv-{i}", f"refund window unopened {i}", ["kb-1", "kb-2"])
    await eventually(lambda: len(orchestrator.audit_logs) == 3, what="three answers")

    # The seed's SUBSCRIBE messages, exactly as it sends them (no queryId).
    received = simulator.knowledge.queries
    assert [q["conversationId"] for q in received] == ["conv-0", "conv-1", "conv-2"]
    assert all("queryId" not in q and q["messageType"] == "SUBSCRIBE" for q in received)
    assert simulator.counters["knowledge_answers"] == 3
    # Its own validator agrees with the seed's rule on what the simulator returned.
    for log, payload in zip(orchestrator.audit_logs, synced, strict=True):
        assert log["results_returned"] == 5
        for result in payload["validated_results"]:
            updated = datetime.fromisoformat(result["lastUpdated"].replace("Z", "+00:00"))
            assert result["confidenceScore"] >= 0.75
            assert datetime.now(UTC) - updated <= timedelta(days=90)
        assert log["governance_status"] == ("PASS" if payload["validated_results"] else "FILTERED")
    await orchestrator.stop()
    await simulator.stop()
