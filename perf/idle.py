"""What `make demo` costs left alone: its CPU share and wake-ups with no page open."""

import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path

from perf.runner import (
    MANAGE,
    START_SECONDS,
    Plan,
    Unmeasured,
    emit,
    free_port,
    unmeasured,
    wait_for,
)

IDLE_KEYS = ("demo_idle_cpu", "demo_idle_wakeups_per_s")


def measure(scratch: Path, plan: Plan) -> dict:
    """What `make demo` costs left alone: its steps on a scratch database, then, once its
    stream has stored an insight, the share of a core the process used over
    `plan.idle_seconds` with nothing arriving (its CPU time) and how often it was woken
    (voluntary context switches)."""
    import sqlite3

    import psutil

    db = scratch / "demo.sqlite3"
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{db}", "ALLOWED_HOSTS": "127.0.0.1"}
    env.pop("REDIS_URL", None)
    port, sim_port = free_port(), free_port()
    manage = [sys.executable, str(MANAGE)]
    # --force: demo_setup refuses a database with DEBUG off; this one is a scratch file.
    for step in (
        ["migrate", "--noinput"],
        ["demo_setup", "--force", "--simulator-url", f"http://127.0.0.1:{sim_port}"],
    ):
        done = subprocess.run([*manage, *step], env=env, capture_output=True, text=True)
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            why = f"`manage.py {step[0]}` failed with exit code {done.returncode}: {last}"
            return unmeasured(IDLE_KEYS, why)
    # The simulator generates nothing by itself: what is measured is what wakes the demo
    # when nothing arrives. A few insights are sent first, to know its stream is connected.
    serve = ["serve", "--port", str(port), "--simulator-port", str(sim_port)]
    server = subprocess.Popen(
        [*manage, *serve, "--simulator-rate", "0"],
        env=env,
        stdout=subprocess.DEVNULL,
    )
    try:
        wait_for(f"http://127.0.0.1:{port}/healthz", server, "the demo")
        deadline = time.monotonic() + START_SECONDS
        with contextlib.closing(sqlite3.connect(db, timeout=30)) as reader:
            while not reader.execute("SELECT count(*) FROM streams_insight").fetchone()[0]:
                if time.monotonic() > deadline:
                    why = f"the demo stored no insight within {START_SECONDS:.0f} s"
                    return unmeasured(IDLE_KEYS, why)
                emit(f"http://127.0.0.1:{sim_port}", 1)
                time.sleep(0.5)
        process = psutil.Process(server.pid)
        cpu, switches = sum(process.cpu_times()[:2]), process.num_ctx_switches().voluntary
        time.sleep(plan.idle_seconds)
        cpu = sum(process.cpu_times()[:2]) - cpu
        switches = process.num_ctx_switches().voluntary - switches
    except Unmeasured as exc:
        return unmeasured(IDLE_KEYS, str(exc))
    finally:
        server.terminate()
        server.wait(30)
    return {
        "demo_idle_cpu": round(cpu / plan.idle_seconds, 4),
        "demo_idle_wakeups_per_s": round(switches / plan.idle_seconds, 1),
    }
