"""A short soak: random faults, then an account in which nothing is lost or stored twice."""

import pytest
from django.core.management import call_command

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.timeout(900)  # a guard against a hang, not a speed limit
def test_a_short_soak_loses_nothing(capsys):
    call_command("soak", minutes=0.2, rate=30, fault_every=1, streams=2, workers=2, seed=11)
    output = capsys.readouterr().out
    assert "LOST: 0, STORED TWICE: 0" in output
    assert "faults survived" in output
    assert output.count(", lost 0,") == 2


def test_a_stream_owes_every_event_from_the_first_it_stored():
    from perf.soak import _from_first_stored

    expected = {f"evt-r-{n:09d}" for n in range(1, 11)}
    stored = ["evt-r-000000004", "evt-r-000000006"]
    assert _from_first_stored(expected, stored, "r") == {f"evt-r-{n:09d}" for n in range(4, 11)}
    assert _from_first_stored(expected, [], "r") == expected
