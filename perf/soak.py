"""The soak: simulator and stream workers in one event loop for N minutes, a random fault
every few seconds, then an account of every event: sent, stored, duplicated, lost."""

import asyncio
import logging
import random
import resource
import sys
import time
import traceback
from collections import Counter
from dataclasses import dataclass, field

from channels.db import database_sync_to_async
from django.conf import settings

from streams.models import (
    ConfidenceMatrix,
    GenesysConnection,
    Insight,
    QuarantinedFrame,
    StreamConfig,
    StreamStatus,
)
from streams.simulator.generator import event_seq
from streams.simulator.server import Simulator, SimulatorConfig
from streams.worker.process import StreamWorkerProcess

logger = logging.getLogger(__name__)

# (name, faults to inject, faults that undo it after a few seconds)
FAULTS = [
    ("socket drop", [{"action": "drop"}], []),
    ("close 1001", [{"action": "close", "code": 1001, "reason": "going away"}], []),
    ("close 1011", [{"action": "close", "code": 1011, "reason": "internal error"}], []),
    ("close 1013", [{"action": "close", "code": 1013, "reason": "try again later"}], []),
    ("close 4401", [{"action": "close", "code": 4401, "reason": "token expired"}], []),
    ("tokens expired", [{"action": "expire_tokens"}], []),
    (
        "token 429",
        [{"action": "token", "status": 429, "retry_after": 1, "count": 2}, {"action": "drop"}],
        [],
    ),
    (
        "handshake 429",
        [{"action": "handshake", "status": 429, "retry_after": 1, "count": 1}, {"action": "drop"}],
        [],
    ),
    (
        "limits saturated",
        [{"action": "saturate", "streams": 10}, {"action": "drop"}],
        [{"action": "saturate", "streams": 0}],
    ),
    (
        "slow ack",
        [{"action": "ack_delay", "seconds": 12}, {"action": "drop"}],
        [{"action": "ack_delay", "seconds": 0}],
    ),
    ("malformed frame", [{"action": "inject", "kind": "malformed-json"}], []),
    ("bad base64", [{"action": "inject", "kind": "bad-base64"}], []),
    ("oversized frame", [{"action": "inject", "kind": "oversized"}], []),
    ("duplicate frame", [{"action": "inject", "kind": "duplicate"}], []),
    ("simulator restart", [{"action": "restart", "seconds": 2}], []),
    ("worker restart", [], []),
]


@dataclass
class Report:
    minutes: float
    rate: float
    generated: int = 0
    frames_sent: int = 0
    streams: list[dict] = field(default_factory=list)
    faults: Counter = field(default_factory=Counter)
    bad_frames_sent: int = 0
    duplicates_sent: int = 0
    quarantined: int = 0
    peak_memory_mb: float = 0.0

    @property
    def lost(self) -> int:
        return sum(s["lost"] for s in self.streams)

    @property
    def stored_twice(self) -> int:
        return sum(s["stored_twice"] for s in self.streams)

    def lines(self) -> list[str]:
        lines = [
            f"soak: {self.minutes:g} min at {self.rate:g} events/s, "
            f"{sum(self.faults.values())} faults survived",
            f"events generated: {self.generated}; "
            f"frames sent (replays included): {self.frames_sent}",
        ]
        for s in self.streams:
            lines.append(
                f"stream {s['name']}: expected {s['expected']} (from its first stored event; "
                f"{s['before_first']} before it), stored {s['stored']}, "
                f"duplicates received and ignored {s['duplicates']}, stored twice "
                f"{s['stored_twice']}, lost {s['lost']}, reconnects {s['reconnects']}"
            )
        lines.append(
            f"bad frames sent: {self.bad_frames_sent}, quarantined: {self.quarantined}; "
            f"duplicate frames sent: {self.duplicates_sent}"
        )
        lines.append(
            "faults: " + ", ".join(f"{name} x{n}" for name, n in sorted(self.faults.items()))
        )
        lines.append(f"peak memory (RSS): {self.peak_memory_mb:.0f} MB")
        lines.append(f"LOST: {self.lost}, STORED TWICE: {self.stored_twice}")
        return lines


def _setup(run: str, url: str, streams: int) -> list[StreamConfig]:
    connection = GenesysConnection(
        name=f"soak-{run}", api_base_url=url, login_base_url=url, client_id="assistgov-demo"
    )
    connection.set_client_secret("assistgov-demo-secret")
    connection.save()
    matrix = ConfidenceMatrix.objects.create(name=f"soak-{run}", default_weight=1.0)
    return [
        StreamConfig.objects.create(
            name=f"soak-{run}-{n}", connection=connection, confidence_matrix=matrix, enabled=True
        )
        for n in range(1, streams + 1)
    ]


def _stored(stream_ids: list[int]) -> dict[int, list[str]]:
    return {
        stream_id: list(
            Insight.objects.filter(stream_id=stream_id).values_list("external_id", flat=True)
        )
        for stream_id in stream_ids
    }


def _from_first_stored(expected: set[str], stored: list[str], run: str) -> set[str]:
    """The events a stream owes: every one from the first it stored on."""
    seqs = [seq for seq in (event_seq(i, run) for i in stored) if seq is not None]
    if not seqs:
        return expected
    first = min(seqs)
    return {i for i in expected if (event_seq(i, run) or 0) >= first}


def _finish(streams: list[StreamConfig]) -> None:
    StreamConfig.objects.filter(pk__in=[s.pk for s in streams]).update(enabled=False)


class Soak:
    def __init__(self, *, minutes, rate, fault_every, streams, workers, seed, lease_seconds=6.0):
        self.minutes, self.rate, self.fault_every = minutes, rate, fault_every
        self.stream_count, self.worker_count = streams, workers
        self.rng = random.Random(seed)
        self.lease_seconds = lease_seconds
        self.workers: list[tuple[StreamWorkerProcess, asyncio.Task]] = []
        self.restarts = 0

    def _start_worker(self) -> None:
        self.restarts += 1
        process = StreamWorkerProcess(
            worker_id=f"soak-worker-{self.restarts}",
            reconcile_seconds=min(1.0, self.lease_seconds / 3),
            lease_seconds=self.lease_seconds,
        )
        self.workers.append((process, asyncio.create_task(process.run())))

    async def _restart_a_worker(self) -> None:
        process, task = self.workers.pop(self.rng.randrange(len(self.workers)))
        process.stop()
        # A guard against a hang, not a speed limit: a stopping worker stores its buffers
        # within STREAMS_DRAIN_SECONDS, then closes.
        await asyncio.wait_for(task, settings.STREAMS_DRAIN_SECONDS + 60)
        self._start_worker()

    async def run(self) -> Report:
        run = format(int(time.time()), "x")
        simulator = Simulator(SimulatorConfig(rate=0, run_id=run, retention=10_000_000))
        port = await simulator.start("127.0.0.1", 0)
        streams = await database_sync_to_async(_setup)(
            run, f"http://127.0.0.1:{port}", self.stream_count
        )
        for _ in range(self.worker_count):
            self._start_worker()
        report = Report(minutes=self.minutes, rate=self.rate)
        try:
            await self._wait_connected(streams)
            simulator.set_rate(self.rate)
            await self._wait_first_stored(streams)
            await self._inject_faults(simulator, report)
            simulator.set_rate(0)
            await self._settle(simulator, streams)
            await self._account(simulator, streams, report)
        finally:
            for process, _ in self.workers:
                process.stop()
            await asyncio.gather(*(task for _, task in self.workers), return_exceptions=True)
            await database_sync_to_async(_finish)(streams)
            await simulator.stop()
        report.peak_memory_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        return report

    async def _wait_connected(self, streams) -> None:
        ids = [s.pk for s in streams]

        @database_sync_to_async
        def connected():
            states = StreamStatus.objects.filter(pk__in=ids).values_list("state", flat=True)
            return list(states).count("connected") == len(ids)

        deadline = time.monotonic() + 60
        while not await connected():
            if time.monotonic() > deadline:
                raise RuntimeError("the soak's streams did not connect within 60 s")
            await asyncio.sleep(0.5)

    async def _wait_first_stored(self, streams) -> None:
        """Faults start once every stream has stored an event: before that a stream has no
        resume point, and (as the protocol has no "from the start" cursor) a session lost
        then resumes live. What a stream stored first is where its account begins."""
        ids = [s.pk for s in streams]

        @database_sync_to_async
        def all_have_one():
            rows = StreamStatus.objects.filter(pk__in=ids).exclude(last_event_id="")
            return rows.count() == len(ids)

        deadline = time.monotonic() + 60  # a guard against a hang, not a speed limit
        while not await all_have_one():
            if time.monotonic() > deadline:
                raise RuntimeError("the soak's streams stored nothing within 60 s")
            await asyncio.sleep(0.2)

    async def _inject_faults(self, simulator: Simulator, report: Report) -> None:
        deadline = time.monotonic() + self.minutes * 60
        undo_tasks = set()
        while (remaining := deadline - time.monotonic()) > 0:
            await asyncio.sleep(min(remaining, self.fault_every * self.rng.uniform(0.5, 1.5)))
            if time.monotonic() >= deadline:
                break
            name, faults, undo = self.rng.choice(FAULTS)
            logger.info("soak: fault %s", name)
            report.faults[name] += 1
            if name == "worker restart":
                await self._restart_a_worker()
            for fault in faults:
                simulator.inject(fault)
            if undo:
                task = asyncio.create_task(self._undo_later(simulator, undo))
                undo_tasks.add(task)
                task.add_done_callback(undo_tasks.discard)
        await asyncio.gather(*undo_tasks)

    async def _undo_later(self, simulator: Simulator, undo: list[dict]) -> None:
        await asyncio.sleep(self.rng.uniform(2, 5))
        for fault in undo:
            simulator.inject(fault)

    async def _settle(self, simulator: Simulator, streams, within: float = 180) -> None:
        """Wait until every stream has stored every event, or `within` seconds pass."""
        expected = {event["id"] for event in simulator.events}
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            stored = await database_sync_to_async(_stored)([s.pk for s in streams])
            run = simulator.config.run_id
            if all(_from_first_stored(expected, ids, run) <= set(ids) for ids in stored.values()):
                return
            await asyncio.sleep(1)
        await self._log_where_it_stands(simulator, streams)

    async def _log_where_it_stands(self, simulator: Simulator, streams) -> None:
        """A stream did not catch up: say what each stream, the simulator and every task
        were doing, so that a loss can be explained, not only counted."""

        @database_sync_to_async
        def statuses():
            return list(
                StreamStatus.objects.filter(pk__in=[s.pk for s in streams]).values(
                    "stream__name",
                    "state",
                    "detail",
                    "last_event_id",
                    "worker",
                    "frames",
                    "lease_expires_at",
                    "last_frame_at",
                    "state_changed_at",
                )
            )

        for status in await statuses():
            logger.error("soak: did not catch up: %s", status)
        logger.error("soak: simulator counters %s", dict(simulator.counters))
        for task in asyncio.all_tasks():
            frames = task.get_stack(limit=3)
            where = " <- ".join(f"{f.f_code.co_name}:{f.f_lineno}" for f in reversed(frames))
            logger.error("soak: task %s at %s", task.get_name(), where or "(not started)")
        for thread_id, frame in sys._current_frames().items():
            stack = traceback.extract_stack(frame, limit=4)
            logger.error(
                "soak: thread %s at %s",
                thread_id,
                " <- ".join(f"{f.name}:{f.lineno}" for f in reversed(stack)),
            )

    async def _account(self, simulator: Simulator, streams, report: Report) -> None:
        expected = {event["id"] for event in simulator.events}
        report.generated = simulator.generator.seq
        report.frames_sent = simulator.counters["sent"]
        injected = {k: v for k, v in simulator.counters.items() if k.startswith("injected_")}
        report.duplicates_sent = injected.pop("injected_duplicate", 0)
        report.bad_frames_sent = sum(injected.values())
        stored = await database_sync_to_async(_stored)([s.pk for s in streams])

        @database_sync_to_async
        def statuses():
            return {
                s.pk: s
                for s in StreamStatus.objects.filter(pk__in=[stream.pk for stream in streams])
            }

        @database_sync_to_async
        def quarantined():
            return QuarantinedFrame.objects.filter(stream__in=streams).count()

        by_id = await statuses()
        for stream in streams:
            ids = stored[stream.pk]
            owed = _from_first_stored(expected, ids, simulator.config.run_id)
            report.streams.append(
                {
                    "name": stream.name,
                    "expected": len(owed),
                    "before_first": len(expected) - len(owed),
                    "stored": len(set(ids)),
                    "stored_twice": len(ids) - len(set(ids)),
                    "lost": len(owed - set(ids)),
                    "duplicates": by_id[stream.pk].duplicates,
                    "reconnects": by_id[stream.pk].reconnects,
                }
            )
        report.quarantined = await quarantined()
