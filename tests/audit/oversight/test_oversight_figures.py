"""Reviewers' figures: Cohen's kappa against hand-computed values, times, the fast-approvals
flag, the rules' view, the CSV."""

import csv
import io
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone

from audit.oversight.figures import Agreement, cohen_kappa, oversight, percentile
from audit.oversight.models import SecondReview
from audit.trail.models import AuditEntry
from tests.factories import make_insight, make_matrix, make_stream

pytestmark = pytest.mark.django_db

A, R = "approved", "rejected"


def test_kappa_of_a_textbook_table():
    # 50 pairs: both approve 20, both reject 15, first approves / second rejects 5, and the
    # other way 10. Observed 0.70; chance 0.5 * 0.6 + 0.5 * 0.4 = 0.50; kappa 0.40.
    pairs = [(A, A)] * 20 + [(R, R)] * 15 + [(A, R)] * 5 + [(R, A)] * 10
    assert cohen_kappa(pairs) == pytest.approx(0.4)
    assert Agreement(pairs).percent == pytest.approx(70.0)


def test_kappa_is_one_when_they_always_agree_on_varied_items():
    assert cohen_kappa([(A, A)] * 30 + [(R, R)] * 10) == pytest.approx(1.0)


def test_kappa_is_zero_at_chance_agreement():
    # Each rater approves half, independently: agreement 50%, all of it chance.
    pairs = [(A, A), (A, R), (R, A), (R, R)] * 10
    assert cohen_kappa(pairs) == pytest.approx(0.0)


def test_kappa_is_negative_when_they_disagree_more_than_chance():
    assert cohen_kappa([(A, R), (R, A)] * 20) == pytest.approx(-1.0)


def test_kappa_is_undefined_when_both_only_ever_approve():
    assert cohen_kappa([(A, A)] * 40) is None
    assert cohen_kappa([]) is None
    assert "kappa undefined" in Agreement([(A, A)] * 40).words


def test_agreement_under_thirty_pairs_is_too_few_to_tell():
    assert Agreement([(A, A)] * 29).words == "Too few to tell (n = 29, needs 30)"
    assert Agreement([(A, A)] * 27 + [(R, R)] * 3).words.startswith("100% agree, kappa 1.00")


def test_percentiles_are_nearest_rank():
    values = list(range(1, 11))
    assert percentile(values, 0.9) == 9
    assert percentile(values, 0.5) == 5
    assert percentile([4.0], 0.9) == 4.0
    assert percentile([], 0.9) is None


def decide(officer, *, status=A, seconds=None, count=1, stream=None, **fields):
    now = timezone.now()
    for _ in range(count):
        make_insight(
            stream=stream,
            review_status=status,
            reviewed_by=officer,
            reviewed_at=now,
            review_opened_at=None if seconds is None else now - timedelta(seconds=seconds),
            **fields,
        )


def since():
    return timezone.now() - timedelta(hours=1)


def test_the_figures_per_officer_and_for_the_team(officer, gov_admin):
    stream = make_stream(name="sales")
    decide(officer, seconds=10, count=3, stream=stream)
    decide(officer, status=R, seconds=40, stream=stream, review_reason_code="outdated")
    decide(gov_admin, seconds=20, count=2, stream=stream)
    decide(gov_admin, count=2, stream=stream)  # bulk: no time
    figures = oversight(since())
    by_name = {person.name: person for person in figures["officers"]}
    olivia, adam = by_name["olivia"], by_name["adam"]
    assert (olivia.decisions, olivia.approval_rate) == (4, 0.75)
    assert olivia.median_seconds == pytest.approx(10.0)
    assert olivia.p90_seconds == pytest.approx(40.0)
    assert (adam.decisions, len(adam.seconds)) == (4, 2)
    team = figures["team"]
    assert (team.decisions, team.approved) == (8, 7)


def test_decisions_the_rules_would_have_made_otherwise(officer):
    matrix = make_matrix(name="strict", rules=[("compliance_flag", 0.5, 1.0, 1.0)])
    matrix.rules.update(auto_approve_at=0.9)
    stream = make_stream(name="collections", matrix=matrix)
    decide(officer, status=R, stream=stream, insight_type="compliance_flag", confidence=0.95)
    decide(officer, status=A, stream=stream, insight_type="compliance_flag", confidence=0.95)
    decide(officer, status=A, stream=stream, insight_type="compliance_flag", confidence=0.3)
    decide(officer, status=A, stream=stream, insight_type="compliance_flag", confidence=0.7)
    olivia = oversight(since())["officers"][0]
    # 0.7 is the rule's to leave to people: three decisions the rule has a view on, two differ.
    assert (olivia.rule_checked, olivia.rule_differs) == (3, 2)


def test_fast_approvals_are_flagged_only_over_enough_decisions(officer, gov_admin):
    decide(officer, seconds=1, count=50)
    decide(gov_admin, seconds=1, count=49)
    by_name = {person.name: person for person in oversight(since())["officers"]}
    assert by_name["olivia"].fast_approvals
    assert not by_name["adam"].fast_approvals  # 49 decisions: too few to say


def test_fast_approvals_need_both_speed_and_a_high_approval_rate(officer, gov_admin):
    decide(officer, seconds=1, count=45)
    decide(officer, status=R, seconds=1, count=5, review_reason_code="outdated")  # 90%
    decide(gov_admin, seconds=5, count=60)  # slower than the 3 s floor
    by_name = {person.name: person for person in oversight(since())["officers"]}
    assert not by_name["olivia"].fast_approvals
    assert not by_name["adam"].fast_approvals


def test_agreement_and_rulings_count_for_both_officers(officer, gov_admin, django_user_model):
    second = django_user_model.objects.create_user(username="oona", password="pw")
    second.groups.add(Group.objects.get(name="Compliance officers"))
    now = timezone.now()
    for number, (first, answer, outcome, ruling) in enumerate(
        [(A, A, "agreed", ""), (A, R, "ruled", R), (R, R, "agreed", ""), (A, R, "ruled", A)]
    ):
        SecondReview.objects.create(
            kind="insight",
            item_id=number + 1,
            source="officer",
            first_status=first,
            first_by=officer,
            first_at=now,
            second_status=answer,
            second_by=second,
            outcome=outcome,
            ruling=ruling,
        )
    by_name = {person.name: person for person in oversight(since())["officers"]}
    olivia, oona = by_name["olivia"], by_name["oona"]
    assert olivia.agreement.n == 4
    assert olivia.agreement.percent == pytest.approx(50.0)
    assert (olivia.won, olivia.lost) == (1, 1)
    assert (oona.won, oona.lost) == (1, 1)


def test_the_rules_against_people_table(officer):
    now = timezone.now()
    rule = "Compliance flag: auto-approve at 0.90"
    answers = [A] * 27 + [R] * 3
    for number, answer in enumerate(answers):
        SecondReview.objects.create(
            kind="insight",
            item_id=number + 1,
            source="rule",
            first_status=A,
            first_rule=rule,
            first_at=now,
            second_status=answer,
            second_by=officer,
            outcome="agreed" if answer == A else "differs",
        )
    SecondReview.objects.create(
        kind="insight", item_id=99, source="rule", first_status=A, first_rule=rule, first_at=now
    )
    [row] = oversight(since())["rules"]
    assert row["rule"] == rule
    assert row["decision"] == "Approved automatically"
    assert (row["reviewed"], row["agreed"], row["waiting"]) == (30, 27, 1)
    assert row["percent"] == pytest.approx(90.0)
    assert row["enough"]


def test_a_rule_whose_samples_all_wait_is_listed_with_them():
    now = timezone.now()
    for number in range(3):
        SecondReview.objects.create(
            kind="insight",
            item_id=number + 1,
            source="rule",
            first_status="filtered",
            first_rule="below 0.4: auto-filter",
            first_at=now,
        )
    [row] = oversight(since())["rules"]
    assert (row["decision"], row["reviewed"], row["waiting"]) == ("Filtered automatically", 0, 3)
    assert row["percent"] is None and not row["enough"]


def test_the_csv_opens_in_a_spreadsheet_and_is_recorded(client, officer):
    decide(officer, seconds=12, count=2)
    client.force_login(officer)
    response = client.get("/export/oversight/?hours=24")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    text = response.content.decode("utf-8")
    assert text.startswith("\ufeffwindow_start,window_end,officer,decisions,")
    rows = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
    assert [row["officer"] for row in rows] == ["olivia", "The team"]
    assert rows[0]["decisions"] == "2"
    assert rows[0]["median_seconds_open_to_decision"] == "12.0"
    assert rows[0]["agreement"] == "Too few to tell (n = 0, needs 30)"
    assert rows[0]["fast_approvals"] == "no"
    entry = AuditEntry.objects.get(action="export.download")
    assert entry.actor == officer


def test_the_dashboard_shows_the_figures_and_the_flag(client, officer, gov_admin):
    decide(officer, seconds=1, count=50)
    client.force_login(gov_admin)
    page = client.get("/dashboard/").content.decode()
    assert "Reviewers&#x27; decisions" in page or "Reviewers' decisions" in page
    assert "olivia" in page
    assert "Fast approvals" in page
    assert "Rules against people" in page


def test_the_dashboard_says_what_waits_for_an_admin(client, officer, gov_admin, settings):
    from audit.oversight import second_review
    from audit.oversight.models import OversightSettings
    from audit.review.services import item_approve
    from streams.config import changes

    OversightSettings.objects.update_or_create(pk=1, defaults={"approval_share": 100.0})
    item_approve(item=make_insight(), by=officer)
    entry = changes.change_entry(make_matrix(name="m"), {"name": "m"}, {"name": "m2"})
    changes.change_request_create(kind="change", changes=[entry], author=officer)
    # Admins see decisions under review, so the second reviews are officers' to give.
    assert second_review.waiting_for(gov_admin) == {"disagreements": 0, "change_requests": 1}
    assert second_review.waiting_for(officer) == {"second_reviews": 0}  # their own decision
    client.force_login(gov_admin)
    waiting = client.get("/dashboard/").content.decode()
    assert "second review</a>" not in waiting
    assert "1 configuration change request from other admins" in waiting
