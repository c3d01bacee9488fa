"""One date-time format with its zone, in each user's own time zone."""

from datetime import UTC, datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from audit.formats import people_time
from audit.people.models import UserSettings
from audit.trail.record import audit_record

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("utc", "words"),
    [
        (datetime(2026, 3, 29, 0, 59, tzinfo=UTC), "2026-03-29 01:59 CET"),  # before the change
        (datetime(2026, 3, 29, 1, 0, tzinfo=UTC), "2026-03-29 03:00 CEST"),  # after it
        (datetime(2026, 10, 25, 0, 30, tzinfo=UTC), "2026-10-25 02:30 CEST"),
        (datetime(2026, 10, 25, 1, 30, tzinfo=UTC), "2026-10-25 02:30 CET"),  # the hour again
    ],
)
def test_people_time_across_daylight_saving_in_a_non_utc_zone(utc, words):
    with timezone.override("Europe/Berlin"):
        assert people_time(utc) == words


def test_people_time_in_utc_and_of_nothing():
    with timezone.override("UTC"):
        assert people_time(datetime(2026, 11, 30, 9, 5, 59, tzinfo=UTC)) == "2026-11-30 09:05 UTC"
    assert people_time(None) == ""


def test_a_user_chooses_a_time_zone_and_pages_and_the_admin_use_it(client, gov_admin):
    client.force_login(gov_admin)
    page = client.get(reverse("account")).content.decode()
    assert 'data-time-zone="UTC"' in page
    response = client.post(reverse("account"), {"time_zone": "America/New_York"})
    assert response.status_code == 200
    assert "Saved. Times now read" in response.content.decode()
    assert UserSettings.time_zone_for(gov_admin) == "America/New_York"

    assert 'data-time-zone="America/New_York"' in client.get(reverse("review")).content.decode()
    entry = audit_record(action="test.action", actor=gov_admin, object_type="test")
    admin = client.get(reverse("admin:audit_auditentry_change", args=[entry.pk])).content.decode()
    assert people_time_in(entry.created_at, "America/New_York") in admin


def test_an_unknown_time_zone_is_refused_with_words(client, officer):
    client.force_login(officer)
    response = client.post(reverse("account"), {"time_zone": "Mars/Olympus"})
    assert "Select a valid choice" in response.content.decode()
    assert not UserSettings.objects.filter(user=officer).exists()


def test_each_user_keeps_their_own_zone(client, officer, auditor):
    UserSettings.objects.create(user=officer, time_zone="Asia/Tokyo")
    client.force_login(auditor)
    assert 'data-time-zone="UTC"' in client.get(reverse("review")).content.decode()
    client.force_login(officer)
    assert 'data-time-zone="Asia/Tokyo"' in client.get(reverse("review")).content.decode()


def people_time_in(value, zone):
    with timezone.override(zone):
        return people_time(value)
