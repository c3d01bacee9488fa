"""Revealing an original is for data protection officers only, for a stated reason, and is
an audit entry in the security category; officers, admins and auditors cannot. Detection is
changed under four-eyes, and the stream worker's specs follow it. The record of processing
says where personal data lives, and the README says the same places."""

import html
import json
import time
from pathlib import Path

import pytest
from django.contrib.auth.models import Group

from audit.privacy import processing
from audit.trail.categories import Category, category_of
from audit.trail.models import AuditEntry
from streams.config import changes
from streams.genesys.frames import Frame
from streams.genesys.scoring import Matrix
from streams.ingest.records import process_frame, read_seed_event
from streams.ingest.store import store_batch
from streams.models import ChangeRequest, Insight, PrivacySettings
from streams.privacy.detect import Detector
from streams.privacy.protect import Protector
from streams.worker.specs import stream_spec
from tests.factories import make_stream

pytestmark = pytest.mark.django_db

CARD = "4111 1111 1111 1111"


@pytest.fixture
def kept(settings):
    settings.PERSONAL_DATA_POLICY = "redacted_and_original"
    stream = make_stream()
    text = json.dumps(
        {
            "type": "agentassist.insight",
            "id": "evt-r",
            "interaction_id": "conv-r",
            "insight_type": "compliance_flag",
            "confidence": 0.7,
            "content": {"text": f"Customer read card {CARD} cvc 123 aloud"},
            "timestamp": "2026-12-07T10:00:00Z",
        }
    )
    record = process_frame(
        Frame(text, time.time()),
        read=read_seed_event,
        matrix=Matrix(default_weight=1.0),
        max_frame_bytes=1 << 20,
        protect=Protector(Detector(), keep_originals=True),
    )
    store_batch(stream.pk, [record])
    return Insight.objects.get()


def reveal(client, user, item, reason="Chargeback dispute CB-88 needs the card"):
    client.force_login(user)
    return client.post(f"/privacy/reveal/insight/{item.pk}/", {"reason": reason})


def test_a_dpo_reveals_the_original_for_a_reason_and_it_is_on_record(kept, dpo, client):
    assert kept.snippet == "Customer read card ****1111 cvc [card code] aloud"
    client.force_login(dpo)  # the review page's item context says an original is kept
    assert client.get(f"/review/items/insight/{kept.pk}/").json()["original_kept"] is True
    response = reveal(client, dpo, kept)
    assert response.status_code == 200 and response["Cache-Control"].startswith("no-store")
    body = response.json()
    assert body["original"]["snippet"] == f"Customer read card {CARD} cvc [card code] aloud"
    assert body["shown_for_seconds"] == 60
    entry = AuditEntry.objects.get(action="privacy.reveal")
    assert entry.actor == dpo and entry.object_id == str(kept.pk)
    assert entry.after == {
        "reason": "Chargeback dispute CB-88 needs the card",
        "fields": ["payload", "snippet"],
    }
    assert category_of(entry.action) is Category.SECURITY
    assert CARD not in json.dumps([entry.object_repr, entry.after])


@pytest.mark.parametrize("role", ["officer", "gov_admin", "auditor"])
def test_nobody_else_can_reveal(kept, client, role, request):
    assert reveal(client, request.getfixturevalue(role), kept).status_code == 403
    assert not AuditEntry.objects.filter(action="privacy.reveal").exists()


def test_a_reveal_needs_a_real_reason(kept, dpo, client):
    response = reveal(client, dpo, kept, reason="because")
    assert response.status_code == 400 and "Say why" in response.json()["error"]["message"]
    assert not AuditEntry.objects.filter(action="privacy.reveal").exists()


def test_without_originals_kept_there_is_nothing_to_reveal(kept, dpo, client, settings):
    settings.PERSONAL_DATA_POLICY = "redacted"
    response = reveal(client, dpo, kept)
    assert response.status_code == 404
    assert "keeps no originals" in response.json()["error"]["message"]


def test_detection_changes_under_four_eyes_and_the_worker_follows(
    client, gov_admin, django_user_model, settings
):
    settings.FOUR_EYES = True
    admin2 = django_user_model.objects.create_user("ada", password="pw", is_staff=True)
    admin2.groups.add(Group.objects.get(name="Governance admins"))
    stream = make_stream()
    settings_row = PrivacySettings.current()
    client.force_login(gov_admin)
    response = client.post(
        f"/admin/streams/privacysettings/{settings_row.pk}/change/",
        {
            "kinds": ["email", "phone"],
            "labelled": ["email"],
            "phone_regions": "gb, de",
            "national_ids": ["uk_nino"],
        },
    )
    assert response.status_code == 302
    settings_row.refresh_from_db()
    assert settings_row.kinds == [] and settings_row.national_ids == []  # nothing changed yet
    request = ChangeRequest.objects.get()
    assert request.summary == "Personal data detection settings"
    changes.change_request_accept(change_request=request, by=admin2)
    settings_row.refresh_from_db()
    # Card numbers and card codes cannot be turned off.
    assert settings_row.kinds == ["card", "card_code", "email", "phone"]
    assert settings_row.phone_regions == ["GB", "DE"] and settings_row.national_ids == ["uk_nino"]
    assert settings_row.styles == {"email": "label"}
    spec = stream_spec(stream)  # what the worker compares, to restart a stream
    assert spec.privacy.kinds == frozenset({"card", "card_code", "email", "phone"})
    assert spec.privacy.phone_regions == ("GB", "DE")
    assert Detector(spec.privacy).scan("mail jane@example.com").text == "mail [email]"


def test_the_record_of_processing_names_every_place_and_the_readme_too(auditor, client):
    client.force_login(auditor)
    page = html.unescape(client.get("/privacy/").content.decode())
    readme = (Path(__file__).parents[3] / "README.md").read_text()
    for place in processing.places():
        assert place.name in page
        assert f"| {place.name} |" in readme, f"the README does not say where: {place.name}"
