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

from tests.support.aws import REGION, moto_with_template

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
    """Every raw email moto's SES holds so far, parsed, oldest first."""
    import email
    from email import policy

    import requests

    def read(to: str | None = None):
        data = requests.get(f"{aws['endpoint']['Ref']}/moto-api/data.json", timeout=5).json()
        messages = []
        for raw in data.get("ses", {}).get("RawMessage", []):
            parsed = email.message_from_bytes(raw["raw_data"].encode(), policy=policy.default)
            if to and to.lower() not in [d.lower() for d in raw.get("destinations", [])] + [str(parsed["To"]).lower()]:
                continue
            messages.append(
                {
                    "to": str(parsed["To"]),
                    "subject": str(parsed["Subject"]),
                    "text": parsed.get_body(("plain",)).get_content(),
                    "html": parsed.get_body(("html",)).get_content(),
                }
            )
        return messages

    return read
