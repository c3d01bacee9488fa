"""The deployment's commands as real processes: simulator, stream worker, embedded server."""

import contextlib
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from streams.management.commands.demo_setup import demo_document

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Deployment:
    """A throwaway SQLite database and the environment the processes share.

    Use it as a context manager: its processes are killed however the block ends, a failed
    setup included. Each process writes to its own log file (a pipe nobody reads would fill
    and stall it), read back when it exits early or is stopped."""

    def __init__(self, tmp_path, **env):
        self.tmp_path = tmp_path
        self.db = tmp_path / "assistgov.sqlite3"
        clean = {k: v for k, v in os.environ.items() if not k.isupper() or k in ("PATH", "HOME")}
        self.env = {
            **clean,
            "DEBUG": "true",
            "DATABASE_URL": f"sqlite:///{self.db}",
            "STREAMS_RECONCILE_SECONDS": "1",
            "LOG_LEVEL": "INFO",
            **env,
        }
        self.processes: list[subprocess.Popen] = []
        self.logs: dict[int, Path] = {}

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.cleanup()

    def manage(self, *args, check=True):
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            check=check,
        )

    def start(self, *args) -> subprocess.Popen:
        log = self.tmp_path / f"{len(self.logs) + 1}-{args[0]}.log"
        with log.open("wb") as output:
            process = subprocess.Popen(
                [sys.executable, "manage.py", *args],
                cwd=ROOT,
                env=self.env,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        self.processes.append(process)
        self.logs[process.pid] = log
        return process

    def output(self, process) -> str:
        return self.logs[process.pid].read_text(errors="replace")

    def query(self, sql, params=()):
        with sqlite3.connect(self.db, timeout=10) as connection:
            return connection.execute(sql, params).fetchall()

    def wait_for(self, predicate, what, within=120.0):
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if predicate():
                return
            for process in self.processes:
                if process.poll() is not None:
                    raise AssertionError(f"{process.args} exited early:\n{self.output(process)}")
            time.sleep(0.2)
        raise AssertionError(f"timed out waiting for {what}")

    def insights(self):
        return self.query("SELECT count(*) FROM streams_insight")[0][0]

    def stop(self, process, within=60.0, sig=signal.SIGTERM) -> tuple[int, str]:
        """Signal a process and wait for it; it is no longer expected to be running."""
        self.processes.remove(process)
        process.send_signal(sig)
        process.wait(timeout=within)
        return process.returncode, self.output(process)

    def cleanup(self):
        for process in self.processes:
            if process.poll() is None:
                process.kill()
                process.wait()


@contextlib.contextmanager
def demo_deployment(tmp_path, *, rate: float, setup: str = "", **env):
    """`make demo` in a throwaway directory: migrated, demo users and stream, `serve` with
    its simulator emitting `rate` insights a second; `setup` is run in a shell first."""
    with Deployment(tmp_path, **env) as deployment:
        deployment.manage("migrate", "--noinput")
        web_port, sim_port = free_port(), free_port()
        deployment.manage("demo_setup", "--simulator-url", f"http://127.0.0.1:{sim_port}")
        if setup:
            deployment.manage("shell", "-c", setup)
        deployment.start(
            "serve",
            *("--port", str(web_port), "--simulator-port", str(sim_port)),
            *("--simulator-rate", f"{rate:g}"),
        )
        deployment.base = f"http://127.0.0.1:{web_port}"
        deployment.simulator = f"http://127.0.0.1:{sim_port}"
        deployment.wait_for(lambda: answers(deployment.base + "/healthz"), "the web server")
        yield deployment


@pytest.fixture
def deployment(tmp_path):
    with Deployment(tmp_path) as deployment:
        deployment.manage("migrate", "--noinput")
        yield deployment


def http_get(url):
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.status, response.read()


def answers(url):
    try:
        return http_get(url)[0] == 200
    except OSError:
        return False


def test_runstreams_stores_insights_and_stops_cleanly_on_sigterm(deployment, tmp_path):
    sim_port = free_port()
    simulator = deployment.start("genesys_simulator", "--port", str(sim_port), "--rate", "50")
    deployment.wait_for(lambda: answers(f"http://127.0.0.1:{sim_port}/_sim/stats"), "the simulator")
    config = tmp_path / "config.json"
    config.write_text(
        json.dumps(
            demo_document(f"http://127.0.0.1:{sim_port}", "assistgov-demo", "assistgov-demo-secret")
        )
    )
    assert "7 created" in deployment.manage("import_config", str(config)).stdout

    worker = deployment.start("runstreams", "--worker-id", "worker-1")
    deployment.wait_for(lambda: deployment.insights() >= 20, "insights stored by the worker")
    code, output = deployment.stop(worker)
    assert code == 0, output
    assert "stream worker worker-1 stopped" in output
    assert deployment.query("SELECT state, worker FROM streams_streamstatus") == [("stopped", "")]
    stored = deployment.insights()
    frames, filtered = deployment.query("SELECT frames, filtered FROM streams_streamstatus")[0]
    assert stored == frames - filtered, "everything received before the stop was stored"
    assert deployment.stop(simulator)[0] == 0


def test_serve_runs_web_worker_and_simulator_in_one_process(deployment):
    web_port, sim_port = free_port(), free_port()
    base = f"http://127.0.0.1:{web_port}"
    setup = deployment.manage(
        "demo_setup", "--simulator-url", f"http://127.0.0.1:{sim_port}", "--site-url", base + "/"
    )
    assert "officer-demo-pass" in setup.stdout
    assert f"Log in at {base}/ as one of" in setup.stdout
    server = deployment.start("serve", "--port", str(web_port), "--simulator-port", str(sim_port))
    deployment.wait_for(lambda: answers(base + "/healthz"), "the web server")
    deployment.wait_for(lambda: deployment.insights() >= 5, "insights from the embedded simulator")

    status, body = http_get(base + "/readyz")
    assert (status, json.loads(body)["checks"]) == (200, {"database": "ok", "channel_layer": "ok"})
    status, body = http_get(base + "/admin/login/")
    assert status == 200 and b"assistgov" in body
    assert http_get(base + "/static/admin/css/base.css")[0] == 200
    assert deployment.query("SELECT state FROM streams_streamstatus") == [("connected",)]

    code, output = deployment.stop(server)
    assert code == 0, output
    assert "stream worker" in output and "stopped" in output
    assert deployment.query("SELECT state FROM streams_streamstatus") == [("stopped",)]


def test_the_demo_keeps_flowing_when_its_connection_switches_to_notifications(deployment):
    web_port, sim_port = free_port(), free_port()
    deployment.manage("demo_setup", "--simulator-url", f"http://127.0.0.1:{sim_port}")
    server = deployment.start("serve", "--port", str(web_port), "--simulator-port", str(sim_port))
    deployment.wait_for(lambda: deployment.insights() >= 5, "insights on the seed flavour")

    deployment.query("UPDATE streams_genesysconnection SET flavour = 'notifications'")
    # Suggestion kinds have a dot in their name; the seed flavour's insight types have none.
    suggestions = "SELECT count(*) FROM streams_insight WHERE insight_type LIKE '%.%'"
    rest_answers = (
        "SELECT count(*) FROM streams_knowledgequery q JOIN streams_insight i "
        "ON q.insight_id = i.id WHERE q.status = 'answered' AND i.insight_type LIKE '%.%'"
    )
    deployment.wait_for(
        lambda: deployment.query(suggestions)[0][0] >= 10, "insights as Genesys suggestions"
    )
    deployment.wait_for(
        lambda: deployment.query(rest_answers)[0][0] >= 1, "knowledge answers over REST"
    )
    assert deployment.query("SELECT state FROM streams_streamstatus") == [("connected",)]
    pending = deployment.query(suggestions + " AND review_status = 'pending'")
    assert pending[0][0] > 0  # in the review queue, as before
    assert deployment.stop(server)[0] == 0
