"""Personal data never reaches a row in clear: a stream whose suggestions carry card numbers,
an e-mail address, an IBAN and a phone number stores none of them, anywhere ingestion writes
(insight text and payload, quarantine, webhook outbox); their keyed hashes find the
conversation, and with originals kept, only the sealed original holds them."""

import json
import time

import pytest

from streams.genesys.frames import Frame
from streams.genesys.scoring import Matrix
from streams.ingest.records import Accepted, Quarantine, process_frame, read_seed_event
from streams.ingest.store import store_batch
from streams.models import (
    ConversationKey,
    DetectionCount,
    Insight,
    Original,
    QuarantinedFrame,
    SubjectHash,
    WebhookEndpoint,
)
from streams.privacy import subjects, vault
from streams.privacy.detect import Detector
from streams.privacy.protect import Protector
from streams.privacy.store import original_context
from streams.webhooks import outbox
from streams.webhooks.models import OutboxBatch
from tests.factories import make_stream

CARDS = ("4111 1111 1111 1111", "5500-0000-0000-0004", "378282246310005")
EMAIL, IBAN, PHONE = "jane.doe@example.co.uk", "DE89 3704 0044 0532 0130 00", "+44 20 7946 0958"
SAID = (
    f"Customer gave card {CARDS[0]} (CVV 737) and a spare {CARDS[1]}, amex {CARDS[2]}; "
    f"write to {EMAIL}, refund to {IBAN}, call back on {PHONE}."
)
IN_CLEAR = (*CARDS, "737", EMAIL, "DE89", "3704 0044", "7946 0958")


def event(text=SAID, **overrides):
    return {
        "type": "agentassist.insight",
        "id": "evt-pd",
        "interaction_id": "conv-pd",
        "insight_type": "compliance_flag",
        "confidence": 0.7,
        "content": {"text": text, "title": f"Call {PHONE}"},
        "timestamp": "2026-12-07T10:00:00Z",
        **overrides,
    }


def process(raw, keep_originals=False, names=()):
    return process_frame(
        Frame(raw, time.time()),
        read=read_seed_event,
        matrix=Matrix(default_weight=1.0),
        max_frame_bytes=1 << 20,
        protect=Protector(Detector(), keep_originals, lambda conversation: names),
    )


def clear_text_in(*texts) -> list[str]:
    joined = " ".join(texts)
    return [value for value in IN_CLEAR if value in joined]


def test_the_record_holds_the_text_without_the_personal_data():
    record = process(json.dumps(event()))
    assert isinstance(record, Accepted)
    assert record.snippet.startswith("Customer gave card ****1111 (CVV [card code]) and a spare")
    assert "[email]" in record.snippet and "[IBAN DE**…3000]" in record.snippet
    assert clear_text_in(record.snippet, json.dumps(record.payload)) == []
    assert record.payload["content"]["title"] == "Call [phone]"
    assert record.originals is None  # the default policy keeps no original


def test_a_snippet_is_cut_from_clean_text_so_no_number_is_left_half_taken():
    record = process(json.dumps(event(text="x" * 240 + f" card {CARDS[0]} at the end")))
    assert "1111" not in record.snippet.replace("****1111", "")


def test_participants_names_are_taken_out_too():
    record = process(
        json.dumps(event(text="Tell Ana Lopez her refund is due")), names=("Ana Lopez",)
    )
    assert record.snippet == "Tell [name] her refund is due"


@pytest.mark.django_db
def test_nothing_is_stored_in_clear_and_the_subject_is_found_by_hash():
    endpoint = WebhookEndpoint(name="lms", url="https://lms.test/h", events=["insight.created"])
    endpoint.set_secret(outbox.new_secret())
    endpoint.save()
    stream = make_stream()
    records = [process(json.dumps(event())), process("{not json " + SAID)]
    assert isinstance(records[1], Quarantine)
    store_batch(stream.pk, records)
    insight = Insight.objects.get()
    frame = QuarantinedFrame.objects.get()
    stored = [insight.snippet, json.dumps(insight.payload), frame.raw]
    stored += [json.dumps(batch.items) for batch in OutboxBatch.objects.all()]
    assert OutboxBatch.objects.exists()
    assert clear_text_in(*stored) == []
    assert not Original.objects.exists() and not ConversationKey.objects.exists()
    for kind, value in (("email", EMAIL), ("card", CARDS[2]), ("iban", IBAN), ("phone", PHONE)):
        digest = subjects.digest(kind, value)
        assert SubjectHash.objects.filter(digest=digest, conversation_id="conv-pd").exists()
    counted = dict(DetectionCount.objects.values_list("kind", "count"))
    assert counted["card"] == 3 * 2  # in the snippet's text and in the frame quarantined
    assert counted["card_code"] == 2


@pytest.mark.django_db
def test_the_same_identifier_written_otherwise_is_the_same_subject():
    assert subjects.digest("email", "Jane.Doe@Example.co.uk ") == subjects.digest("email", EMAIL)
    assert subjects.digest("card", "4111-1111-1111-1111") == subjects.digest("card", CARDS[0])
    assert subjects.digest("iban", "de89370400440532013000") == subjects.digest("iban", IBAN)
    assert subjects.digest("phone", "020 7946 0958", ("GB",)) == subjects.digest("phone", PHONE)


@pytest.mark.django_db
def test_with_originals_kept_only_their_sealed_copy_holds_the_text(settings):
    settings.PERSONAL_DATA_POLICY = "redacted_and_original"
    stream = make_stream()
    store_batch(stream.pk, [process(json.dumps(event()), keep_originals=True)])
    key = ConversationKey.objects.get(conversation_id="conv-pd")
    originals = {o.field: o for o in Original.objects.filter(key=key)}
    assert set(originals) == {"snippet", "payload"}
    assert clear_text_in(*(o.sealed for o in originals.values()), key.wrapped) == []
    data_key = vault.unwrap(key.wrapped, key.master_key_id, key.conversation_id)
    ref = f"{stream.pk}:evt-pd"
    snippet = vault.open_text(
        data_key, originals["snippet"].sealed, original_context("insight", ref, "snippet")
    )
    assert CARDS[0] in snippet and EMAIL in snippet
    # A card verification code is not kept, not even sealed.
    assert "737" not in snippet and "(CVV [card code])" in snippet
    payload = vault.open_text(
        data_key, originals["payload"].sealed, original_context("insight", ref, "payload")
    )
    assert IBAN in payload and "737" not in payload
    # The seal is bound to its place: read as another field, it does not open.
    with pytest.raises(vault.Unreadable):
        vault.open_text(
            data_key, originals["snippet"].sealed, original_context("insight", ref, "payload")
        )
    assert clear_text_in(Insight.objects.get().snippet) == []


def test_a_frame_the_detector_fails_on_is_quarantined_without_its_text():
    class Broken(Detector):
        def scan_value(self, value, names=(), *, only_names=False):
            raise RecursionError("too deep")

        def scan(self, text, names=()):
            raise RecursionError("too deep")

    protect = Protector(Broken(), False, lambda conversation: ())
    for raw in (json.dumps(event()), "{not json " + SAID):
        record = process_frame(
            Frame(raw, time.time()),
            read=read_seed_event,
            matrix=Matrix(default_weight=1.0),
            max_frame_bytes=1 << 20,
            protect=protect,
        )
        assert isinstance(record, Quarantine)
        assert "personal data detection failed (RecursionError)" in record.reason
        assert clear_text_in(record.raw, record.reason) == [] and record.raw.startswith("[withheld")
