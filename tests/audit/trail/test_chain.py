"""The audit trail is append-only and tamper-evident."""

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction

from audit.trail.chain import GENESIS, Head, compute_hash, head, seal, verify
from audit.trail.models import AuditEntry
from audit.trail.record import audit_record

pytestmark = pytest.mark.django_db


def entries(count):
    return [
        audit_record(
            action="test.event", actor_label="tester", object_repr=f"object {n}", after={"n": n}
        )
        for n in range(count)
    ]


def raw_update(sql, params):
    """What someone with database access could do, triggers aside."""
    from audit.trail import triggers

    triggers.remove(connection)
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
    finally:
        triggers.install(connection)


def test_each_entry_links_to_the_one_before():
    first, second, third = entries(3)
    assert first.prev_hash == GENESIS
    assert second.prev_hash == first.entry_hash
    assert third.prev_hash == second.entry_hash
    assert third.entry_hash == compute_hash(AuditEntry.objects.get(pk=third.pk))


def test_an_intact_chain_verifies(capsys):
    entries(5)
    assert verify().intact
    call_command("verify_audit")
    assert "audit chain intact: 5 entries verified" in capsys.readouterr().out


def test_the_database_refuses_to_update_an_entry():
    (entry,) = entries(1)
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEntry.objects.filter(pk=entry.pk).update(actor_label="someone else")


def test_the_database_refuses_to_delete_an_entry():
    (entry,) = entries(1)
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEntry.objects.filter(pk=entry.pk).delete()
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("DELETE FROM audit_auditentry")
    assert AuditEntry.objects.count() == 1


def test_verify_audit_finds_a_changed_entry():
    _, middle, _ = entries(3)
    raw_update("UPDATE audit_auditentry SET object_repr = %s WHERE id = %s", ["forged", middle.pk])
    result = verify()
    assert (result.broken_at, result.checked) == (middle.pk, 1)
    assert "does not match its hash" in result.problem
    with pytest.raises(CommandError, match=f"entry {middle.pk} does not match its hash"):
        call_command("verify_audit")


def test_verify_audit_finds_a_rehashed_entry_by_its_successor():
    """Even someone holding the HMAC key, who reseals the entry, breaks its successor's link."""
    _, middle, last = entries(3)
    forged = AuditEntry.objects.get(pk=middle.pk)
    forged.object_repr = "forged"
    new_hash = compute_hash(forged)
    raw_update(
        "UPDATE audit_auditentry SET object_repr = %s, entry_hash = %s, entry_hmac = %s "
        "WHERE id = %s",
        ["forged", new_hash, seal(new_hash, middle.key_id), middle.pk],
    )
    result = verify()
    assert result.broken_at == last.pk
    assert "does not link to the entry before it" in result.problem


def rewrite_from(entry_id):
    """What a database writer without the key can do: change an entry, then recompute its
    hash and every later one, links included, so that every hash checks out."""
    changed = list(AuditEntry.objects.filter(pk__gte=entry_id).order_by("pk"))
    previous = AuditEntry.objects.filter(pk__lt=entry_id).order_by("-pk").first()
    link = previous.entry_hash if previous else GENESIS
    changed[0].object_repr = "forged"
    for entry in changed:
        entry.prev_hash = link
        entry.entry_hash = link = compute_hash(entry)
    for entry in changed:
        raw_update(
            "UPDATE audit_auditentry SET object_repr = %s, prev_hash = %s, entry_hash = %s "
            "WHERE id = %s",
            [entry.object_repr, entry.prev_hash, entry.entry_hash, entry.pk],
        )


def test_a_chain_rewritten_without_the_key_fails_at_the_first_changed_entry():
    _, middle, _ = entries(3)
    rewrite_from(middle.pk)
    result = verify()
    assert (result.broken_at, result.checked) == (middle.pk, 1)
    assert "does not match its HMAC" in result.problem
    with pytest.raises(CommandError, match="chain was rewritten"):
        call_command("verify_audit")


def test_each_entry_is_sealed_with_the_current_key():
    (entry,) = entries(1)
    assert entry.key_id == "tests"
    assert entry.entry_hmac == seal(entry.entry_hash, "tests")
    assert len(entry.entry_hmac) == 64


def test_after_a_key_rotation_older_entries_verify_with_the_older_key(settings):
    entries(2)
    settings.AUDIT_HMAC_KEYS = {"next": "n" * 40, **settings.AUDIT_HMAC_KEYS}
    (newer,) = entries(1)
    assert newer.key_id == "next"
    assert verify().intact
    settings.AUDIT_HMAC_KEYS = {"next": "n" * 40}
    result = verify()
    assert not result.intact
    assert "sealed with key 'tests', which AUDIT_HMAC_KEY does not hold" in result.problem


@pytest.mark.django_db(transaction=True)  # no outer transaction: its pending checks aside
def test_emptying_the_table_in_one_statement_is_refused():
    entries(2)
    statement = (
        "TRUNCATE audit_auditentry"
        if connection.vendor == "postgresql"
        else "DELETE FROM audit_auditentry"
    )
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(statement)
    assert AuditEntry.objects.count() == 2


def test_a_shortened_chain_is_found_against_a_published_head(capsys):
    first, _, last = entries(3)
    published = head()
    assert published == Head(last.pk, last.entry_hash)
    raw_update("DELETE FROM audit_auditentry WHERE id > %s", [first.pk])
    assert verify().intact  # alone, a chain that lost its newest entries looks whole
    result = verify(expect_head=published)
    assert result.broken_at == last.pk
    assert "entries were removed" in result.problem
    with pytest.raises(CommandError, match="entries were removed"):
        call_command("verify_audit", expect_head=str(published))


def test_a_chain_cut_short_and_continued_is_found_against_a_published_head():
    """The newest entries removed, and the product writing on after them: every link holds,
    but the published head is gone."""
    kept, cut, published_entry = entries(3)
    published = head()
    raw_update("DELETE FROM audit_auditentry WHERE id >= %s", [cut.pk])
    (later,) = entries(1)
    assert later.prev_hash == kept.entry_hash and verify().intact
    result = verify(expect_head=published)
    assert not result.intact and result.broken_at == published_entry.pk
    assert "is missing from the chain" in result.problem
    with pytest.raises(CommandError, match="is missing from the chain"):
        call_command("verify_audit", expect_head=str(published))


def test_an_emptied_chain_is_found_against_a_published_head():
    entries(2)
    published = head()
    raw_update("DELETE FROM audit_auditentry", [])
    assert not verify(expect_head=published).intact


def test_an_intact_chain_holds_its_published_head(capsys):
    entries(2)
    published = head()
    entries(3)  # the chain grows after publishing: still fine
    call_command("verify_audit", expect_head=str(published))
    out = capsys.readouterr().out
    assert "audit chain intact: 5 entries verified" in out
    assert f"it holds the expected head {published}" in out


def test_a_head_that_differs_from_the_entry_is_found():
    first, _ = entries(2)
    result = verify(expect_head=Head(first.pk, "f" * 64))
    assert result.broken_at == first.pk and "is not the entry published" in result.problem


def test_a_malformed_head_is_refused_with_the_expected_shape():
    with pytest.raises(CommandError, match="is not ID:HASH"):
        call_command("verify_audit", expect_head="12:abc")


def test_the_published_head_is_signed_logged_and_sent_to_webhooks(caplog, settings):
    from audit.trail import signing
    from audit.trail.checkpoints import FORMAT
    from audit.trail.head import publish_head
    from streams.models import WebhookDelivery, WebhookEndpoint
    from streams.webhooks import outbox

    endpoint = WebhookEndpoint(name="siem", url="https://siem.test/h", events=["audit.head"])
    endpoint.set_secret(outbox.new_secret())
    endpoint.save()
    (entry,) = entries(1)
    with caplog.at_level("INFO", logger="audit.trail.head"):
        published = publish_head()
    assert published["head"] == f"{entry.pk}:{entry.entry_hash}"
    assert signing.signature_problem(published, signing.pinned_public_key(), FORMAT) == ""
    assert f"verify_audit --expect-head {entry.pk}:{entry.entry_hash}" in caplog.text
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert delivery.event_type == "audit.head"
    assert delivery.payload["data"]["head"] == published["head"]
    assert delivery.payload["data"]["signature"] == published["signature"]
    assert head() == Head(entry.pk, entry.entry_hash)  # publishing adds no entry


def test_metrics_carry_the_head(client, settings):
    settings.METRICS_PUBLIC = True
    (entry,) = entries(1)
    text = client.get("/metrics").content.decode()
    assert f"assistgov_audit_head_entry_id {float(entry.pk)}" in text
    assert f'head="{entry.pk}:{entry.entry_hash}"' in text


def test_verify_audit_finds_a_removed_entry():
    _, middle, last = entries(3)
    raw_update("DELETE FROM audit_auditentry WHERE id = %s", [middle.pk])
    assert verify().broken_at == last.pk
