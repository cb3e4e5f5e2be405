"""The local mailbox: what moto's SES accepted, rendered as the recipient sees it."""

from __future__ import annotations

import email
from email import policy
from email.utils import parsedate_to_datetime
from typing import Any

import requests


def _part(message: Any, subtype: str) -> str | None:
    body = message.get_body((subtype,))
    # Line ends as a mail client shows them, not as SMTP carries them.
    return body.get_content().replace("\r\n", "\n") if body is not None else None


def read(moto_url: str, to: str | None = None) -> list[dict[str, Any]]:
    """Every message sent so far, oldest first (moto keeps them in sending order)."""
    data = requests.get(f"{moto_url}/moto-api/data.json", timeout=10).json().get("ses", {})
    wanted = to.strip().lower() if to else None
    messages = []
    for raw in data.get("RawMessage", []):
        parsed = email.message_from_bytes(raw["raw_data"].encode("utf-8"), policy=policy.default)
        recipients = {d.lower() for d in raw.get("destinations", [])} | {str(parsed.get("To", "")).lower()}
        if wanted and wanted not in recipients:
            continue
        date = parsed.get("Date")
        messages.append(
            {
                "to": str(parsed.get("To", "")),
                "subject": str(parsed.get("Subject", "")).strip(),
                "text": _part(parsed, "plain"),
                "html": _part(parsed, "html"),
                "sent_at": parsedate_to_datetime(str(date)).isoformat() if date else None,
            }
        )
    for plain in data.get("Message", []):
        destinations = plain.get("destinations", {})
        addresses = [a for values in destinations.values() for a in values] if isinstance(destinations, dict) else []
        if wanted and wanted not in {a.lower() for a in addresses}:
            continue
        messages.append(
            {
                "to": ", ".join(addresses),
                "subject": plain.get("subject"),
                "text": plain.get("body"),
                "html": None,
                "sent_at": None,
            }
        )
    return messages
