"""The audit trail is append-only and tamper-evident."""

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction

from audit.chain import GENESIS, compute_hash, verify
from audit.models import AuditEntry
from audit.services import audit_record

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
    from audit import triggers

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
    _, middle, last = entries(3)
    forged = AuditEntry.objects.get(pk=middle.pk)
    forged.object_repr = "forged"
    raw_update(
        "UPDATE audit_auditentry SET object_repr = %s, entry_hash = %s WHERE id = %s",
        ["forged", compute_hash(forged), middle.pk],
    )
    result = verify()
    assert result.broken_at == last.pk
    assert "does not link to the entry before it" in result.problem


def test_verify_audit_finds_a_removed_entry():
    _, middle, last = entries(3)
    raw_update("DELETE FROM audit_auditentry WHERE id = %s", [middle.pk])
    assert verify().broken_at == last.pk
