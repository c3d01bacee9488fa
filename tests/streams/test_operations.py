"""/metrics in Prometheus text format, and JSON logs with the stream and request ids."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from streams.models import WebhookEndpoint
from streams.webhooks import outbox
from tests.factories import make_insight

ROOT = Path(__file__).resolve().parents[2]


def samples(response):
    text = response.content.decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


@pytest.mark.django_db
def test_metrics_report_each_stream_and_the_webhooks(client, settings):
    settings.METRICS_PUBLIC = True
    insight = make_insight()
    status = insight.stream.status
    status.state, status.frames, status.insights_stored, status.quarantined = "connected", 7, 5, 2
    status.last_frame_at = timezone.now()
    status.save()
    receiver = WebhookEndpoint(name="trainer", url="https://t.test/h", events=["insight.created"])
    receiver.set_secret(outbox.new_secret())
    receiver.save()
    outbox.enqueue("insight.created", [{"id": 1}])

    response = client.get("/metrics")
    assert response["Content-Type"].startswith("text/plain; version=")
    found = samples(response)
    stream = (("stream", insight.stream.name),)
    assert found[("assistgov_stream_frames_total", stream)] == 7
    assert found[("assistgov_stream_insights_stored_total", stream)] == 5
    assert found[("assistgov_stream_quarantined_total", stream)] == 2
    assert (
        found[("assistgov_stream_state", (("state", "connected"), ("stream", insight.stream.name)))]
        == 1
    )
    assert (
        found[("assistgov_stream_state", (("state", "error"), ("stream", insight.stream.name)))]
        == 0
    )
    assert 0 <= found[("assistgov_stream_lag_seconds", stream)] < 60
    assert found[("assistgov_insights_pending", ())] == 1
    assert (
        found[("assistgov_webhook_deliveries", (("endpoint", "trainer"), ("status", "pending")))]
        == 1
    )


@pytest.mark.django_db
def test_metrics_can_require_a_bearer_token(client, settings):
    settings.METRICS_TOKEN = "scrape-me"
    settings.METRICS_PUBLIC = True  # a token set wins over public
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer scrape-m"}).status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer scrape-me"}).status_code == 200


@pytest.mark.django_db
def test_metrics_are_closed_without_a_token_unless_made_public(client, settings):
    settings.METRICS_TOKEN, settings.METRICS_PUBLIC = "", False
    response = client.get("/metrics")
    assert response.status_code == 403
    assert "METRICS_TOKEN" in response.content.decode()
    settings.METRICS_PUBLIC = True
    assert client.get("/metrics").status_code == 200


def test_metrics_are_closed_by_default_in_production():
    script = (
        "import django; django.setup(); from django.conf import settings;"
        "print(settings.METRICS_PUBLIC)"
    )
    env = {k: v for k, v in os.environ.items() if k != "METRICS_PUBLIC"}
    env.update(DJANGO_SETTINGS_MODULE="tests.settings", DEBUG="false")
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == "False"


def test_json_logs_carry_the_stream_and_request_ids():
    script = (
        "import django, logging; django.setup();"
        "from streams import context;"
        "context.stream_name.set('eu-insights'); context.request_id.set('req-9');"
        "logging.getLogger('streams.test').warning('lost %s frames', 3)"
    )
    env = {**os.environ, "LOG_FORMAT": "json", "DJANGO_SETTINGS_MODULE": "tests.settings"}
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    line = json.loads(result.stderr.strip().splitlines()[-1])
    assert line["message"] == "lost 3 frames"
    assert (line["level"], line["logger"]) == ("WARNING", "streams.test")
    assert (line["stream"], line["request_id"]) == ("eu-insights", "req-9")
    assert "time" in line


def test_serve_says_which_port_is_taken_before_anything_else():
    import socket

    from django.core.management import CommandError, call_command

    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        with pytest.raises(CommandError, match=f"port {port} \\(web\\) is in use; choose another"):
            call_command("serve", "--check-ports", "--port", str(port), "--no-simulator")
    call_command("serve", "--check-ports", "--port", str(port), "--no-simulator")  # free again
