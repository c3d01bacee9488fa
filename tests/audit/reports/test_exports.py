"""CSV exports: neutralised, streamed, the UI's words, ISO-8601 UTC, and audited."""

import csv
import io
from datetime import UTC, datetime

import pytest
from asgiref.sync import async_to_sync
from django.core.management import CommandError, call_command
from django.urls import reverse

from audit.review.exports import EXPORTS, chunks, queryset_for, with_labels
from audit.review.services import item_approve, item_reject
from audit.trail.csvfiles import neutralise
from audit.trail.models import AuditEntry
from audit.vocabulary import ReasonCode
from streams.models import Insight
from tests.factories import make_insight, make_stream

pytestmark = pytest.mark.django_db


def read(text: str) -> list[dict]:
    assert text.startswith("\ufeff"), "the file starts with a BOM so spreadsheets read UTF-8"
    return list(csv.DictReader(io.StringIO(text.removeprefix("\ufeff"))))


def download(response) -> str:
    """The body of a streamed download (an async iterator, as daphne serves it)."""

    async def collect():
        return b"".join([chunk async for chunk in response.streaming_content])

    assert response.is_async
    return async_to_sync(collect)().decode("utf-8")


@pytest.mark.parametrize(
    ("cell", "safe"),
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+SUM(1)", "'+SUM(1)"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tcmd", "'\tcmd"),
        ("\rcmd", "'\rcmd"),
        ("\ncmd", "'\ncmd"),
        ("plain text = fine", "plain text = fine"),
        (0.5, "0.5"),
        (None, ""),
        ({"b": 1, "a": "x"}, '{"a": "x", "b": 1}'),
    ],
)
def test_cells_that_could_start_a_formula_are_neutralised(cell, safe):
    assert neutralise(cell) == safe


def test_times_are_iso_8601_utc():
    assert (
        neutralise(datetime(2026, 11, 21, 10, 0, 0, 123000, tzinfo=UTC))
        == "2026-11-21T10:00:00.123Z"
    )


def test_the_insights_csv_has_the_uis_words_and_neutral_cells(client, officer):
    make_insight(snippet='=HYPERLINK("http://evil.example","refund")', interaction_id="@lookup")
    client.force_login(officer)
    response = client.get(reverse("export-csv", args=["insights"]))
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="assistgov-insights-')
    (row,) = read(download(response))
    assert list(row)[:7] == [
        "Insight id",
        "Stream",
        "Interaction id",
        "Insight type",
        "Insight type code",
        "Confidence",
        "Relevance",
    ]
    assert (row["Insight type"], row["Insight type code"]) == (
        "Knowledge recommendation",
        "knowledge_recommendation",
    )
    assert row["Snippet"] == '\'=HYPERLINK("http://evil.example","refund")'
    assert row["Interaction id"] == "'@lookup"
    assert row["Received at"].endswith("Z")


def test_the_export_follows_the_filters_it_was_given(client, officer):
    make_insight(insight_type="sentiment_alert", snippet="keep")
    make_insight(insight_type="compliance_flag", snippet="drop")
    client.force_login(officer)
    response = client.get(
        reverse("export-csv", args=["insights"]), {"insight_type": "sentiment_alert"}
    )
    assert [row["Snippet"] for row in read(download(response))] == ["keep"]


def test_the_export_follows_an_interaction_filter(client, officer):
    make_insight(interaction_id="interaction-777", snippet="wanted")
    make_insight(interaction_id="interaction-888", snippet="other")
    client.force_login(officer)
    response = client.get(
        reverse("export-csv", args=["insights"]), {"interaction_id": "interaction-777"}
    )
    assert [row["Snippet"] for row in read(download(response))] == ["wanted"]


def test_bad_export_parameters_get_a_clear_400(client, officer):
    client.force_login(officer)
    response = client.get(reverse("export-csv", args=["insights"]), {"since": "yesterday"})
    assert response.status_code == 400
    assert response.content.startswith(b"since 'yesterday' is not an ISO-8601 time")
    assert client.get(reverse("export-csv", args=["nothing"])).status_code == 404


def test_the_decisions_csv_lists_people_and_rules(client, officer):
    decided = make_insight()
    item_approve(item=decided, by=officer, note="fine")
    make_insight()  # pending: not a decision
    Insight.objects.filter(pk=make_insight().pk).update(
        review_status="filtered", review_rule="rule x"
    )
    client.force_login(officer)
    rows = read(download(client.get(reverse("export-csv", args=["decisions"]))))
    assert {(r["Decision"], r["Decided by"], r["Decided by rule"]) for r in rows} == {
        ("approved", "olivia", ""),
        ("filtered", "", "rule x"),
    }


def test_every_download_is_an_audit_entry(client, auditor):
    client.force_login(auditor)
    download(client.get(reverse("export-csv", args=["audit"]), {"since": "2026-01-01T00:00:00Z"}))
    entry = AuditEntry.objects.get(action="export.download")
    assert (entry.actor, entry.object_id) == (auditor, "audit")
    assert entry.after == {"parameters": {"since": "2026-01-01T00:00:00Z"}}


def test_the_audit_csv_carries_the_chain(client, gov_admin):
    client.force_login(gov_admin)
    download(client.get(reverse("export-csv", args=["audit"])))
    rows = read(download(client.get(reverse("export-csv", args=["audit"]))))
    assert [r["Action"] for r in rows] == ["security.sign_in", "export.download", "export.download"]
    assert rows[1]["Previous hash"] == rows[0]["Hash"]
    assert rows[2]["Previous hash"] == rows[1]["Hash"]


def test_rows_are_read_in_pages_not_all_at_once():
    stream = make_stream()
    for n in range(7):
        make_insight(stream=stream, external_id=f"e-{n}")
    # (On PostgreSQL an empty piece comes first: audit.trail.csvfiles.RawPages.copy_chunks.)
    pieces = [
        piece for piece in chunks("insights", queryset_for("insights"), chunk_rows=3) if piece
    ]
    assert len(pieces) == 1 + 3  # header, then pages of 3, 3 and 1
    ids = [row["Insight id"] for row in read("".join(pieces))]
    assert ids == sorted(ids, key=int) and len(ids) == 7


def test_the_admin_export_honours_the_changelist_filters(client, officer):
    make_insight(insight_type="sentiment_alert", snippet="kept by the filter")
    make_insight(insight_type="compliance_flag", snippet="left out")
    client.force_login(officer)
    changelist = reverse("admin:streams_insight_changelist")
    assert (
        b"export/?insight_type=sentiment_alert"
        in client.get(changelist, {"insight_type": "sentiment_alert"}).content
    )
    response = client.get(
        reverse("admin:streams_insight_export"), {"insight_type": "sentiment_alert"}
    )
    assert [row["Snippet"] for row in read(download(response))] == ["kept by the filter"]


def test_export_csv_command_writes_the_same_csv(tmp_path, capsys):
    make_insight(snippet="-1 is not a formula here")
    out = tmp_path / "insights.csv"
    call_command("export_csv", "insights", "--since", "2000-01-01", "-o", str(out))
    (row,) = read(out.read_text(encoding="utf-8"))
    assert row["Snippet"] == "'-1 is not a formula here"
    call_command("export_csv", "decisions")
    assert capsys.readouterr().out.startswith("\ufeffInsight id,Decision")
    assert (
        AuditEntry.objects.filter(
            action="export.download", actor_label__startswith="export_csv"
        ).count()
        == 2
    )


def test_export_csv_command_reports_its_time_and_its_own_peak_memory_when_asked(capsys):
    import re

    make_insight()
    call_command("export_csv", "insights", "-o", "/dev/null")
    assert capsys.readouterr().err == ""  # quiet by default
    call_command("export_csv", "insights", "-o", "/dev/null", verbosity=2)
    report = capsys.readouterr().err
    found = re.search(
        r"export_csv insights: written in [0-9.]+ s; peak memory ([0-9.]+) MB", report
    )
    assert found and float(found.group(1)) > 0


def test_export_csv_command_explains_a_bad_time():
    with pytest.raises(CommandError, match="until 'soon' is not an ISO-8601 time"):
        call_command("export_csv", "audit", "--until", "soon")


def test_every_export_kind_has_a_permission():
    assert {kind: export.permission for kind, export in EXPORTS.items()} == {
        "insights": "streams.view_insight",
        "decisions": "streams.view_insight",
        "audit": "audit.view_auditentry",
        "knowledge": "streams.view_knowledgequery",
        "knowledge-results": "streams.view_knowledgequery",
    }


def test_the_knowledge_export_neutralises_outside_text(client, officer):
    from tests.factories import make_knowledge_query

    query = make_knowledge_query(text="=HYPERLINK(1)", results=[{"title": "+evil"}])
    client.force_login(officer)
    (row,) = read(download(client.get(reverse("export-csv", args=["knowledge"]))))
    assert list(row)[:4] == ["Query row", "Time", "Stream", "Query id"]
    assert row["Query id"] == query.query_id
    assert row["Query text"] == "'=HYPERLINK(1)"


def test_the_knowledge_export_narrows_to_one_stream(client, officer):
    from tests.factories import make_knowledge_query, make_knowledge_stream

    wanted = make_knowledge_query(stream=make_knowledge_stream(name="desk"))
    make_knowledge_query(stream=make_knowledge_stream(name="other"))
    client.force_login(officer)
    url = reverse("export-csv", args=["knowledge"]) + "?stream=desk"
    assert [row["Query id"] for row in read(download(client.get(url)))] == [wanted.query_id]
    page = client.get(reverse("dashboard"))
    assert reverse("export-csv", args=["knowledge"]) in page.content.decode()


def test_the_knowledge_export_carries_review_decisions_and_narrows_by_them(client, officer):
    from tests.factories import make_knowledge_query

    answered = make_knowledge_query(origin="api", review_status="pending", top_confidence=0.7)
    make_knowledge_query(origin="console")
    item_approve(item=answered, by=officer, note="=cmd")
    client.force_login(officer)
    url = reverse("export-csv", args=["knowledge"]) + "?review_status=approved"
    (row,) = read(download(client.get(url)))
    assert row["Query id"] == answered.query_id
    assert (row["Review status"], row["Reviewed by"], row["Note"]) == (
        "approved",
        "olivia",
        "'=cmd",
    )
    assert row["Best confidence"] == "0.7" and row["Reviewed at"].endswith("Z")
    bad = client.get(reverse("export-csv", args=["knowledge"]) + "?review_status=maybe")
    assert bad.status_code == 400
    assert "review_status 'maybe' is not one of" in bad.content.decode()


@pytest.mark.parametrize("kind", sorted(k for k, export in EXPORTS.items() if not export.expand))
def test_every_export_writes_what_neutralise_gives_for_the_orms_values(kind, officer, settings):
    """The export reads the database's own tuples; the file must not differ by a byte
    from neutralising what the ORM returns (times with and without microseconds, None,
    booleans, JSON, formula-like text, unicode), whatever the display time zone."""
    settings.TIME_ZONE = "America/New_York"  # also the process's local time, as in Django
    from audit.review.services import item_reject
    from audit.trail.csvfiles import _lines
    from audit.trail.record import audit_record
    from tests.factories import make_knowledge_query

    stream = make_stream(name="stream-1")
    make_insight(stream=stream, received_at=datetime(2026, 11, 21, 9, 0, tzinfo=UTC))
    decided = make_insight(
        stream=stream,
        snippet='=HYPERLINK("x"), "quoted"\nnext line',
        confidence=None,
        relevance_score=None,
        received_at=datetime(2026, 11, 21, 9, 0, 0, 999999, tzinfo=UTC),
        event_time=datetime(2026, 11, 21, 8, 59, 59, 1000, tzinfo=UTC),
    )
    item_reject(item=decided, by=officer, reason_code="inaccurate", note="-not right", origin=None)
    item_approve(item=make_insight(stream=stream, snippet="Ünïcode ✓ -0"), by=officer, origin=None)
    make_insight(stream=stream, snippet="\tx", confidence=0.0, relevance_score=-0.0)
    make_insight(stream=stream, snippet="", confidence=1.0, latency_ms=-1.5, review_note="+1")
    make_insight(stream=stream, confidence=0.1 + 0.2, latency_ms=51.193000000000005)
    make_knowledge_query(
        cache_hit=True,
        results=[{"rank": 1, "title": "@title", "confidence": 0.9}],
        top_confidence=0.9,
        review_status="pending",
    )
    make_knowledge_query(cache_hit=False, results=[], error_code="lost")
    audit_record(action="test.entry", actor_label="=actor", after={"b": [1, "-x"], "a": None})

    export = EXPORTS[kind]
    queryset = queryset_for(kind)
    orm = with_labels(queryset, export.fields)
    expected = "\ufeff" + _lines(
        [export.headers]
        + [
            [neutralise(value) for value in row]
            for row in orm.order_by("pk").values_list(*export.fields)
        ]
    )
    assert queryset.count() >= 2
    assert "".join(chunks(kind, queryset, chunk_rows=2)) == expected


FAR = "9999-12-31T23:59:59.999999-23:59"  # past year 9999 once in UTC


@pytest.mark.parametrize("kind", ["insights", "decisions", "audit", "knowledge"])
@pytest.mark.parametrize("name", ["since", "until"])
def test_a_time_out_of_range_is_a_400_not_a_file_that_stops(client, gov_admin, kind, name):
    make_insight()
    client.force_login(gov_admin)
    response = client.get(reverse("export-csv", args=[kind]), {name: FAR})
    assert response.status_code == 400
    assert f"{name} '{FAR}' is out of range" in response.content.decode()
    assert not AuditEntry.objects.filter(action="export.download").exists()


@pytest.mark.parametrize(
    ("kind", "params"),
    [
        ("insights", {"stream": "knowledge:1"}),
        ("decisions", {"insight_type": "knowledge.answer"}),
    ],
)
def test_a_valid_filter_that_matches_nothing_is_an_empty_csv(client, officer, kind, params):
    make_insight(review_status="approved")
    client.force_login(officer)
    response = client.get(reverse("export-csv", args=[kind]), params)
    assert response.status_code == 200
    assert read(download(response)) == []
    assert AuditEntry.objects.filter(action="export.download").count() == 1


def test_a_stream_id_too_large_for_the_database_is_a_400(client, officer):
    client.force_login(officer)
    response = client.get(reverse("export-csv", args=["insights"]), {"stream": "9" * 30})
    assert response.status_code == 400
    assert "is not an id" in response.content.decode()


@pytest.mark.parametrize(
    ("model", "field"),
    [
        ("streams/insight", "received_at"),
        ("audit/auditentry", "created_at"),
        ("streams/knowledgequery", "created_at"),
    ],
)
@pytest.mark.parametrize("page", ["", "export/"])
def test_an_admin_filter_out_of_range_is_a_400_naming_it(client, gov_admin, model, field, page):
    make_insight()
    client.force_login(gov_admin)
    response = client.get(f"/admin/{model}/{page}", {f"{field}__gte": FAR})
    assert response.status_code == 400
    text = response.content.decode()
    assert f"The filter {field}__gte=" in text and "out of range" in text


def test_an_admin_filter_on_an_id_too_large_is_a_400(client, officer):
    client.force_login(officer)
    response = client.get("/admin/streams/insight/", {"stream__id__exact": "9" * 30})
    assert response.status_code == 400
    assert "the number is too large" in response.content.decode()


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        (True, "yes"),
        (False, "no"),
        (51.193000000000005, "51.193"),
        (0.1 + 0.2, "0.3"),
        (0.123456789, "0.123457"),
        (-1.5, "'-1.5"),
        (3, "3"),
    ],
)
def test_booleans_read_yes_or_no_and_floats_carry_no_binary_noise(value, cell):
    assert neutralise(value) == cell


def test_a_decision_carries_its_reason_code_and_its_label(client, officer):
    stream = make_stream(name="stream-1")
    item = make_insight(stream=stream, latency_ms=62.717999999999996)
    item_reject(item=item, by=officer, reason_code="inaccurate", note="", origin=None)
    client.force_login(officer)
    label = ReasonCode.objects.get(code="inaccurate").label
    decisions = read(download(client.get(reverse("export-csv", args=["decisions"]))))
    assert (decisions[0]["Reason code"], decisions[0]["Reason"]) == ("inaccurate", label)
    insights = read(download(client.get(reverse("export-csv", args=["insights"]))))
    assert insights[0]["Processing latency (ms)"] == "62.718"
    assert insights[0]["Reason"] == label


def test_the_knowledge_results_export_has_one_row_per_result_in_words(client, officer):
    from tests.factories import make_knowledge_query

    make_knowledge_query(
        query_text="refund window",
        results=[
            {
                "rank": 1,
                "title": "=Refunds",
                "confidence": 0.9,
                "outcome": "passed",
                "knowledge_base_id": "kb-1",
                "document_id": "d1",
                "last_updated": "2026-11-01",
            },
            {
                "rank": None,
                "title": "Old policy",
                "confidence": 0.30000000000000004,
                "outcome": "below_confidence",
                "reason": "0.30 is under 0.50",
            },
        ],
    )
    make_knowledge_query(query_text="nothing found", results=[])
    client.force_login(officer)
    rows = read(download(client.get(reverse("export-csv", args=["knowledge-results"]))))
    assert [(r["Query text"], r["Rank"], r["Title"], r["Outcome"]) for r in rows] == [
        ("refund window", "1", "'=Refunds", "Passed"),
        ("refund window", "", "Old policy", "Below the minimum confidence"),
    ]
    assert rows[1]["Confidence"] == "0.3" and rows[1]["Outcome code"] == "below_confidence"
    assert rows[0]["Time"].endswith("Z")


def test_a_summary_s_predicted_wrap_up_codes_are_exported():
    stream = make_stream()
    codes = [{"id": "w-1", "name": "Billing dispute", "score": 0.94}]
    make_insight(
        stream=stream,
        external_id="sum-1",
        insight_type="summary",
        payload={"text": "Customer called about a double charge.", "wrapUpCodes": codes},
    )
    make_insight(stream=stream, external_id="e-1", payload={"wrapUpCodes": codes})
    rows = {
        row["External id"]: row
        for row in read("".join(chunks("insights", queryset_for("insights"))))
    }
    exported = rows["sum-1"]["Predicted wrap-up codes"]
    assert '"name": "Billing dispute"' in exported or '"name":"Billing dispute"' in exported
    assert rows["e-1"]["Predicted wrap-up codes"] == ""  # only summaries carry codes
