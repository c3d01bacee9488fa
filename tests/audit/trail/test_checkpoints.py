"""A trail that proves its own length: purge permits the database accepts only as the purge
writes them, and signed checkpoints of the head, published outside the database, that a
chain cut short (even one continued since) fails against. On SQLite and PostgreSQL alike."""

import http.server
import json
import threading
from datetime import UTC, datetime
from functools import partial

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction

from audit.trail import chain, checkpoints, signing
from audit.trail.head import publish_head
from audit.trail.models import AuditEntry, PurgePermit
from audit.trail.retention import purge
from tests.audit.trail.test_chain import entries, raw_update
from tests.audit.trail.test_retention import NOW, old_entries

pytestmark = pytest.mark.django_db


def sql(statement, params=()):
    """As the application's database role would run it: triggers in place."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement, params)


def permit_by_hand(checkpoint_id, first_id, up_to_id):
    sql(
        "INSERT INTO audit_purgepermit (checkpoint_id, first_id, up_to_id, created_at) "
        "VALUES (%s, %s, %s, %s)",
        [checkpoint_id, first_id, up_to_id, datetime.now(UTC)],
    )


def test_the_steps_of_finding_h1_are_each_refused_by_the_database():
    """Insert a permit, delete the newest entries, remove the permit: with the
    application's database role, none of it goes through any more."""
    first, *_, newest = entries(5)
    with pytest.raises(DatabaseError, match="purge permit must name"):
        permit_by_hand(newest.pk, first.pk, newest.pk)
    with pytest.raises(DatabaseError, match="append-only"):
        sql("DELETE FROM audit_auditentry WHERE id >= %s", [newest.pk - 1])
    assert AuditEntry.objects.count() == 5
    assert not PurgePermit.objects.exists()


def forged_checkpoint(first_id, last_id):
    """An audit purge checkpoint written straight into the table (no HMAC key)."""
    after = json.dumps({"first_id": first_id, "last_id": last_id, "last_purged_hash": "0" * 64})
    sql(
        "INSERT INTO audit_auditentry (created_at, actor_label, action, object_type, "
        "object_id, object_repr, before, after, request_id, prev_hash, entry_hash, key_id, "
        "entry_hmac) VALUES (%s, 'Retention purge', 'retention.purge', 'retention', 'audit', "
        "'', NULL, %s, '', %s, %s, 'tests', %s)",
        [datetime.now(UTC), after, chain.head().entry_hash, "f" * 64, "0" * 64],
    )
    return AuditEntry.objects.order_by("-id").first()


def test_a_permit_must_name_the_newest_entry_as_an_audit_purge_checkpoint():
    first, middle, newest = entries(3)
    for checkpoint_id, first_id, up_to_id in (
        (newest.pk, first.pk, middle.pk),  # the newest entry is no checkpoint
        (middle.pk, first.pk, first.pk),  # not the newest entry
    ):
        with pytest.raises(DatabaseError, match="purge permit must name"):
            permit_by_hand(checkpoint_id, first_id, up_to_id)
    forged = forged_checkpoint(middle.pk, newest.pk)
    with pytest.raises(DatabaseError, match="purge permit must name"):
        permit_by_hand(forged.pk, middle.pk, newest.pk)  # not from the oldest entry


def test_a_forged_checkpoint_lets_entries_go_but_breaks_the_chain_where_it_stays():
    """A database writer without the HMAC key can write a checkpoint the permit trigger
    accepts; it can never remove that checkpoint (it is above every permit), so the chain
    no longer verifies."""
    first, *_, newest = entries(4)
    forged = forged_checkpoint(first.pk, newest.pk)
    permit_by_hand(forged.pk, first.pk, newest.pk)
    sql("DELETE FROM audit_auditentry WHERE id >= %s AND id <= %s", [newest.pk - 1, newest.pk])
    with pytest.raises(DatabaseError, match="append-only"):
        sql("DELETE FROM audit_auditentry WHERE id = %s", [forged.pk])
    entries(1)  # the product writes on
    result = chain.verify()
    assert not result.intact and result.broken_at == forged.pk


def test_permits_are_append_only():
    old = old_entries(3)
    entries(1)
    purge(now=NOW)
    permit = PurgePermit.objects.get()
    assert (permit.first_id, permit.up_to_id) == (old[0].pk, old[-1].pk)
    for statement in (
        "UPDATE audit_purgepermit SET up_to_id = up_to_id + 100",
        "DELETE FROM audit_purgepermit",
    ):
        with pytest.raises(DatabaseError, match="append-only"):
            sql(statement)
    assert chain.verify().intact


@pytest.fixture
def published(tmp_path, settings):
    settings.AUDIT_CHECKPOINT_DIR = str(tmp_path / "checkpoints")
    return tmp_path / "checkpoints"


def test_each_new_head_is_written_as_a_signed_file(published):
    (first,) = entries(1)
    publish_head(unless_published=True)
    assert publish_head(unless_published=True) is None  # the head has not moved
    entries(2)
    publish_head(unless_published=True)
    files = sorted(published.glob("*.json"))
    assert len(files) == 2
    written = [json.loads(file.read_text()) for file in files]
    assert [c["entry_id"] for c in written] == [first.pk, chain.head().entry_id]
    key = signing.pinned_public_key()
    assert all(signing.signature_problem(c, key, checkpoints.FORMAT) == "" for c in written)


def test_verify_audit_checks_the_chain_against_every_published_checkpoint(published, capsys):
    entries(2)
    publish_head()
    entries(2)
    publish_head()
    call_command("verify_audit", checkpoints=str(published))
    assert "it holds every one of 2 published checkpoint(s)" in capsys.readouterr().out


def test_a_chain_cut_short_and_continued_fails_against_the_checkpoints(published):
    """What a database superuser can do (triggers off): the newest entries removed, the
    product writing on after them. Every link holds; the checkpoints do not."""
    _, cut, _ = entries(3)
    publish_head()
    raw_update("DELETE FROM audit_auditentry WHERE id >= %s", [cut.pk])
    entries(2)
    assert chain.verify().intact
    with pytest.raises(CommandError, match="is missing from the chain"):
        call_command("verify_audit", checkpoints=str(published))
    recorded = AuditEntry.objects.filter(action="audit.chain_broken").get()
    assert recorded.after["checkpoints"]["checked"] == 1
    assert recorded.actor_label.startswith("verify_audit (command line) by ")


def test_a_checkpoint_signed_by_another_key_is_a_finding(published, settings):
    entries(1)
    settings.AUDIT_SIGNING_KEY = "b3RoZXIta2V5LW90aGVyLWtleS1vdGhlci1rZXktISE="
    publish_head()
    settings.AUDIT_SIGNING_KEY = "dGVzdHMtb25seS1zaWduaW5nLWtleS0wMTIzNDU2Nzg="
    with pytest.raises(CommandError, match="signature does not match the pinned public key"):
        call_command("verify_audit", checkpoints=str(published))


def test_checking_checkpoints_needs_a_pinned_key(published, settings):
    entries(1)
    publish_head()
    settings.AUDIT_SIGNING_KEY = ""
    settings.AUDIT_PUBLIC_KEY = ""
    with pytest.raises(CommandError, match="no public key to check against"):
        call_command("verify_audit", checkpoints=str(published))


def test_checkpoints_can_be_read_from_a_url(published, tmp_path):
    entries(2)
    published_head = publish_head()["entry_id"]
    lines = tmp_path / "served" / "checkpoints.jsonl"
    lines.parent.mkdir()
    lines.write_text(
        "".join(json.dumps(json.loads(f.read_text())) + "\n" for f in published.glob("*.json"))
    )
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(lines.parent))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/checkpoints.jsonl"
        call_command("verify_audit", checkpoints=url)
        raw_update("DELETE FROM audit_auditentry WHERE id >= %s", [published_head])
        with pytest.raises(CommandError, match="entries were removed"):
            call_command("verify_audit", checkpoints=url)
    finally:
        server.shutdown()
        server.server_close()


def test_checkpoints_of_entries_the_retention_purge_removed_still_pass(published, capsys):
    old_entries(3)
    publish_head()  # a head among the entries about to go
    entries(2)
    publish_head()
    purge(now=NOW)
    call_command("verify_audit", checkpoints=str(published))
    out = capsys.readouterr().out
    assert "it holds every one of 2 published checkpoint(s)" in out
    assert "(1 of them removed by recorded retention purges)" in out
