import base64
import json
import time

import pytest

from streams.genesys.frames import Frame
from streams.genesys.scoring import Matrix, Rule
from streams.ingest.records import (
    Accepted,
    Filtered,
    Ignored,
    Quarantine,
    process_frame,
    read_seed_event,
)
from streams.ingest.store import store_batch
from streams.models import Insight, QuarantinedFrame, StreamStatus
from tests.factories import make_stream

MATRIX = Matrix(default_weight=0.5, rules=(Rule("sentiment_alert", 0.5, 0.9, 0.8),))
LIMIT = 4096


def event(**overrides):
    return {
        "type": "agentassist.insight",
        "id": "evt-1",
        "interaction_id": "interaction-1",
        "insight_type": "sentiment_alert",
        "confidence": 0.75,
        "content": {"text": "Customer frustration rising"},
        "timestamp": "2026-11-21T10:00:00Z",
        **overrides,
    }


def process(raw):
    return process_frame(
        Frame(raw, time.time()), read=read_seed_event, matrix=MATRIX, max_frame_bytes=LIMIT
    )


def test_a_valid_frame_becomes_a_scored_record():
    record = process(json.dumps(event()))
    assert isinstance(record, Accepted)
    assert record.external_id == "evt-1"
    assert record.relevance_score == pytest.approx(0.6)
    assert record.snippet == "Customer frustration rising"
    assert record.event_time.isoformat() == "2026-11-21T10:00:00+00:00"
    assert record.resume_id == "evt-1"


def test_every_encoding_gives_the_same_record():
    text = json.dumps(event())
    records = [process(raw) for raw in (text, text.encode(), base64.b64encode(text.encode()))]
    assert len({(r.external_id, r.confidence, r.snippet) for r in records}) == 1


def test_an_event_without_id_gets_a_stable_content_id_but_is_no_resume_point():
    payload = event()
    del payload["id"]
    first, second = process(json.dumps(payload)), process(json.dumps(payload, indent=2))
    assert first.external_id == second.external_id
    assert first.external_id.startswith("sha256:")
    assert first.resume_id is None


def test_a_frame_outside_the_types_range_is_filtered_but_can_be_resumed_after():
    record = process(json.dumps(event(confidence=0.95, id="evt-9")))
    assert isinstance(record, Filtered)
    assert record.resume_id == "evt-9"


def test_a_frame_of_another_type_is_ignored():
    assert isinstance(process('{"type": "heartbeat"}'), Ignored)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ('{"type": "agentassist.insight", ', "not valid JSON"),
        (b"!!garbage!!", "neither JSON nor base64"),
        ("[1, 2]", "expected an object"),
        ('{"interaction_id": "x"}', "frame has no type"),
        (json.dumps(event(confidence="high")), "invalid insight: confidence"),
        (json.dumps(event(interaction_id="")), "invalid insight: interaction_id"),
    ],
)
def test_a_bad_frame_is_quarantined_with_its_reason(raw, reason):
    record = process(raw)
    assert isinstance(record, Quarantine)
    assert reason in record.reason
    assert record.raw_size == len(raw if isinstance(raw, bytes) else raw.encode())


def test_an_oversized_frame_is_quarantined_without_decoding():
    raw = json.dumps(event(content={"text": "x" * 10_000}))
    record = process(raw)
    assert isinstance(record, Quarantine)
    assert f"over the {LIMIT}-byte limit" in record.reason
    assert len(record.raw) <= QuarantinedFrame.RAW_LIMIT


def test_an_invalid_frame_keeps_its_id_for_the_record():
    record = process(json.dumps(event(confidence=7)))
    assert record.external_id == "evt-1"


@pytest.mark.django_db(transaction=True)
class TestStoreBatch:
    def test_it_stores_a_batch_and_counts_it_on_the_stream(self):
        stream = make_stream()
        records = [process(json.dumps(event(id=f"evt-{n}"))) for n in range(3)]
        result = store_batch(stream.pk, records)
        assert len(result.created_ids) == 3
        assert Insight.objects.filter(stream=stream).count() == 3
        status = StreamStatus.objects.get(pk=stream.pk)
        assert (status.frames, status.insights_stored, status.last_event_id) == (3, 3, "evt-2")
        assert status.last_frame_at is not None

    def test_it_ignores_duplicates_within_and_across_batches(self):
        stream = make_stream()
        first = process(json.dumps(event(id="evt-1")))
        store_batch(stream.pk, [first, first])
        result = store_batch(stream.pk, [first, process(json.dumps(event(id="evt-2")))])
        assert Insight.objects.filter(stream=stream).count() == 2
        assert result.duplicates == 1
        assert StreamStatus.objects.get(pk=stream.pk).duplicates == 2

    def test_the_same_external_id_on_another_stream_is_another_insight(self):
        one, two = make_stream(name="one"), make_stream(name="two")
        record = process(json.dumps(event()))
        store_batch(one.pk, [record])
        store_batch(two.pk, [record])
        assert Insight.objects.count() == 2

    def test_quarantine_keeps_the_reason_and_the_raw_frame_beside_good_rows(self):
        stream = make_stream()
        records = [process("{broken"), process(json.dumps(event())), process(b"\x00\x01binary")]
        result = store_batch(stream.pk, records)
        assert result.quarantined == 2
        assert Insight.objects.count() == 1
        reasons = set(QuarantinedFrame.objects.values_list("reason", flat=True))
        assert any("not valid JSON" in r for r in reasons)
        assert QuarantinedFrame.objects.filter(raw="{broken").exists()
        assert StreamStatus.objects.get(pk=stream.pk).quarantined == 2

    def test_the_resume_point_is_the_last_server_id_not_a_quarantined_one(self):
        stream = make_stream()
        junk = process(
            json.dumps({"type": "agentassist.insight", "id": "junk-1", "content": "x" * 5000})
        )
        store_batch(stream.pk, [process(json.dumps(event(id="evt-7"))), junk])
        assert StreamStatus.objects.get(pk=stream.pk).last_event_id == "evt-7"

    def test_latency_and_times_are_recorded(self):
        stream = make_stream()
        store_batch(
            stream.pk,
            [
                process_frame(
                    Frame(json.dumps(event()), time.time() - 0.2),
                    read=read_seed_event,
                    matrix=MATRIX,
                    max_frame_bytes=LIMIT,
                )
            ],
        )
        insight = Insight.objects.get()
        assert insight.latency_ms >= 200
        assert insight.received_at < insight.event_time.replace(year=2100)

    def test_hostile_text_is_stored_as_it_came(self):
        stream = make_stream()
        text = '<script>alert(1)</script> =HYPERLINK("x")'
        store_batch(stream.pk, [process(json.dumps(event(content={"text": text})))])
        assert Insight.objects.get().snippet == text

    def test_nul_characters_are_stored_on_every_database(self):
        stream = make_stream()
        store_batch(
            stream.pk,
            [
                process(
                    '{"type": "agentassist.insight", "id": "e", "interaction_id": "i", '
                    '"insight_type": "sentiment_alert", "confidence": 0.6, '
                    '"content": {"text": "a\\u0000b"}}'
                )
            ],
        )
        assert Insight.objects.get().payload["content"]["text"] == "a\ufffdb"


AUTO_MATRIX = Matrix(
    default_weight=0.5,
    name="auto",
    rules=(Rule("compliance_flag", 0.4, 1.0, 0.9, auto_approve_at=0.95, auto_filter=True),),
)


@pytest.mark.django_db(transaction=True)
def test_rules_decide_automatically_and_say_which_rule_did():
    from audit.trail.models import AuditEntry

    stream = make_stream()
    frames = {
        "evt-high": 0.97,
        "evt-mid": 0.6,
        "evt-low": 0.2,
    }
    records = [
        process_frame(
            Frame(
                json.dumps(
                    event(id=event_id, insight_type="compliance_flag", confidence=confidence)
                ),
                time.time(),
            ),
            read=read_seed_event,
            matrix=AUTO_MATRIX,
            max_frame_bytes=LIMIT,
        )
        for event_id, confidence in frames.items()
    ]
    store_batch(stream.pk, records)
    decided = {
        i.external_id: (i.review_status, i.review_rule, i.reviewed_by_id)
        for i in Insight.objects.all()
    }
    assert decided == {
        "evt-high": (
            "approved",
            "confidence matrix auto, compliance_flag: auto-approve at confidence >= 0.95",
            None,
        ),
        "evt-mid": ("pending", "", None),
        "evt-low": (
            "filtered",
            "confidence matrix auto, compliance_flag: auto-filter below confidence 0.4",
            None,
        ),
    }
    entry = AuditEntry.objects.get(action="insight.auto_decide")
    assert entry.actor_label == "Confidence matrix rules"
    assert entry.object_repr == stream.name
    statuses = {rule: value["status"] for rule, value in entry.after["decisions"].items()}
    assert sorted(statuses.values()) == ["approved", "filtered"]


@pytest.mark.django_db(transaction=True)
def test_a_batch_without_automatic_decisions_writes_no_audit_entry():
    from audit.trail.models import AuditEntry

    store_batch(make_stream().pk, [process(json.dumps(event()))])
    assert not AuditEntry.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_what_the_rules_keep_out_is_counted_in_the_trail_by_rule_and_type():
    from audit.trail.models import AuditEntry

    stream = make_stream()
    confidences = {"evt-1": 0.2, "evt-2": 0.3, "evt-3": 0.95, "evt-4": 0.7}
    records = [process(json.dumps(event(id=i, confidence=c))) for i, c in confidences.items()]
    result = store_batch(stream.pk, records)
    assert result.filtered == 3 and Insight.objects.get().external_id == "evt-4"
    entry = AuditEntry.objects.get(action="insight.not_stored")
    assert entry.actor_label == "Confidence matrix rules" and entry.object_repr == stream.name
    # The rule in words as it was in force: a later change to the matrix cannot rewrite it.
    assert entry.after == {
        "not_stored": [
            {
                "rule": "sentiment_alert: 0.50 to 0.90: above it, not stored",
                "insight_type": "sentiment_alert",
                "count": 1,
            },
            {
                "rule": "sentiment_alert: 0.50 to 0.90: below it, not stored",
                "insight_type": "sentiment_alert",
                "count": 2,
            },
        ],
        "total": 3,
    }


@pytest.mark.django_db
class TestRowInserter:
    """The ingest fast path writes exactly what the ORM would write."""

    def values(self, stream, external_id, **overrides):
        from datetime import UTC, datetime

        from streams.config import versions

        return {
            "stream_id": stream.pk,
            "external_id": external_id,
            "interaction_id": "interaction-ü",
            "insight_type": "compliance_flag",
            "confidence": 0.973,
            "relevance_score": None,
            "snippet": 'Ünïcode "quoted" =SUM(A1)',
            "payload": {"content": {"text": "é", "n": [1, 2.5, None, True]}},
            "event_time": datetime(2026, 11, 21, 10, 0, 0, 123000, tzinfo=UTC),
            "received_at": datetime(2026, 11, 21, 10, 0, 1, 456789, tzinfo=UTC),
            "latency_ms": 12.5,
            "review_status": "approved",
            "reviewed_at": datetime(2026, 11, 21, 10, 0, 2, tzinfo=UTC),
            "review_rule": "confidence matrix m, compliance_flag: auto-approve",
            "review_reason_code": "",
            "review_note": "",
            "corrected_text": "",
            "review_decision_id": "",
            "rule_version_id": versions.current(stream.confidence_matrix).pk,
            **overrides,
        }

    def test_the_stored_columns_equal_what_the_orm_stores(self):
        from django.db import connection

        from streams.ingest.store import INSIGHT_ROWS

        stream = make_stream()
        Insight.objects.create(**self.values(stream, "orm"))
        [fast_id] = INSIGHT_ROWS.insert([self.values(stream, "fast")]).values()
        columns = ", ".join(
            connection.ops.quote_name(Insight._meta.get_field(name).column)
            for name in INSIGHT_ROWS.fields
            if name != "external_id"
        )
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT {columns} FROM streams_insight ORDER BY external_id"  # noqa: S608
            )
            fast, orm = cursor.fetchall()
        assert fast == orm
        insight = Insight.objects.get(pk=fast_id)
        assert insight.external_id == "fast"
        assert insight.payload == {"content": {"text": "é", "n": [1, 2.5, None, True]}}
        assert insight.event_time.isoformat() == "2026-11-21T10:00:00.123000+00:00"
        # Lookups that compare stored datetimes see the fast path's rows.
        assert Insight.objects.filter(received_at__gt=insight.event_time).count() == 2

    def test_many_rows_take_several_statements_and_ids_follow_the_rows(self):
        from streams.ingest.store import INSIGHT_ROWS

        stream = make_stream()
        rows = [self.values(stream, f"evt-{n:05d}", confidence=n / 2500) for n in range(2500)]
        rows.reverse()  # ids must follow the rows, not the keys' order
        ids = INSIGHT_ROWS.insert(rows)
        assert len(set(ids.values())) == 2500
        assert dict(Insight.objects.values_list("external_id", "pk")) == ids

    def test_a_row_the_stream_already_has_is_skipped(self):
        from streams.ingest.store import INSIGHT_ROWS

        stream, other = make_stream(name="one"), make_stream(name="two")
        first = INSIGHT_ROWS.insert([self.values(stream, "evt-1")])
        ids = INSIGHT_ROWS.insert(
            [self.values(stream, "evt-2"), self.values(stream, "evt-1", snippet="changed")]
        )
        assert list(ids) == ["evt-2"]
        assert Insight.objects.get(pk=first["evt-1"]).snippet != "changed"
        # The same external id on another stream is another insight.
        assert list(INSIGHT_ROWS.insert([self.values(other, "evt-1")])) == ["evt-1"]

    def test_each_insert_writes_only_its_own_rows(self):
        from streams.ingest.store import INSIGHT_ROWS

        stream = make_stream()
        INSIGHT_ROWS.insert([self.values(stream, "evt-1")])
        Insight.objects.all().delete()  # same transaction: nothing of the first may come back
        assert list(INSIGHT_ROWS.insert([self.values(stream, "evt-2")])) == ["evt-2"]
        assert list(Insight.objects.values_list("external_id", flat=True)) == ["evt-2"]

    def test_a_row_the_database_refuses_fails_the_whole_insert(self):
        from django.db import IntegrityError, transaction

        from streams.ingest.store import INSIGHT_ROWS

        stream = make_stream()
        with pytest.raises(IntegrityError), transaction.atomic():
            INSIGHT_ROWS.insert(
                [self.values(stream, "evt-1"), self.values(stream, "evt-2", interaction_id=None)]
            )
        assert not Insight.objects.exists()
