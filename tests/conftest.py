"""Fixtures of the tiers that run the handlers in-process against moto (integration, adversarial).

One moto server per test process: moto's backends are process-wide, so two would share (and clash).
"""

from __future__ import annotations

import os
from datetime import datetime

import boto3
import pytest
from delivery_otp import wiring
from delivery_otp.clock import SettableClock
from hypothesis import settings

from tests.support.aws import REGION, moto_with_template

# Properties are judged by what they assert, never by how fast an example ran: on two loaded cores a
# first template render can pass hypothesis's default 200 ms deadline, which failed a property in CI.
settings.register_profile("suite", deadline=None)
settings.load_profile("suite")

# Monday 23 November 2026, 10:00 in Rome.
MONDAY_MORNING = datetime.fromisoformat("2026-11-23T10:00:00+01:00")


@pytest.fixture(scope="session")
def aws():
    with moto_with_template(suffix=f"it{os.getpid()}") as refs:
        yield refs


@pytest.fixture
def clock(aws):
    clock = SettableClock(MONDAY_MORNING)
    wiring.reset()
    wiring.override(clock=clock)
    yield clock
    wiring.reset()


@pytest.fixture
def table(aws):
    return boto3.resource("dynamodb", region_name=REGION).Table(aws["DeliveriesTable"]["Ref"])


@pytest.fixture
def sent_mail(aws):
    """Every email moto's SES holds so far, rendered as the local mailbox renders it, oldest first."""
    from local import mailbox

    def read(to: str | None = None):
        return mailbox.read(aws["endpoint"]["Ref"], to)

    return read
