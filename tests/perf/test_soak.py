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
