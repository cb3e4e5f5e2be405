"""The local mailbox: what moto's SES accepted, rendered as the recipient sees it.

moto keeps templated sends as the template's name and the data; it does not render them. SES does,
with Handlebars: so does this, for the `{{name}}` (escaped) and `{{{name}}}` (as is) the template uses.
"""

from __future__ import annotations

import email
import html
import json
import re
from email import policy
from email.utils import parsedate_to_datetime
from typing import Any

import requests


def _part(message: Any, subtype: str) -> str | None:
    body = message.get_body((subtype,))
    # Line ends as a mail client shows them, not as SMTP carries them.
    return body.get_content().replace("\r\n", "\n") if body is not None else None


_PLACEHOLDER = re.compile(r"\{\{\{\s*([\w.]+)\s*\}\}\}|\{\{\s*([\w.]+)\s*\}\}")


def render(part: str | None, data: dict[str, Any]) -> str | None:
    """SES's substitution: `{{{x}}}` inserted as is, `{{x}}` HTML-escaped, unknown names empty."""
    if part is None:
        return None

    def value(match: re.Match[str]) -> str:
        raw, escaped = match.groups()
        found = data.get(raw or escaped, "")
        text = found if isinstance(found, str) else json.dumps(found)
        return text if raw else html.escape(text)

    return _PLACEHOLDER.sub(value, part)


def _templates(moto_url: str) -> dict[str, dict[str, Any]]:
    import boto3

    ses = boto3.client("ses", endpoint_url=moto_url)
    names = [t["Name"] for t in ses.list_templates().get("TemplatesMetadata", [])]
    return {name: ses.get_template(TemplateName=name)["Template"] for name in names}


def _templated(moto_url: str, sent: list[dict[str, Any]], wanted: str | None) -> list[dict[str, Any]]:
    templates = _templates(moto_url) if sent else {}
    messages = []
    for message in sent:
        template = templates.get(message["template"], {})
        defaults = json.loads(message.get("template_data") or "{}")
        for destination in message.get("destinations", []):
            addresses = destination.get("Destination", {}).get("ToAddresses", [])
            if wanted and wanted not in {a.lower() for a in addresses}:
                continue
            data = defaults | json.loads(destination.get("ReplacementTemplateData") or "{}")
            messages.append(
                {
                    "to": ", ".join(addresses),
                    "subject": render(template.get("SubjectPart"), data),
                    "text": render(template.get("TextPart"), data),
                    "html": render(template.get("HtmlPart"), data),
                    "sent_at": data.get("sent_at"),
                }
            )
    return messages


def _ses_state(moto_url: str) -> dict[str, list[dict[str, Any]]]:
    """moto's SES models as its `/moto-api/data.json` lists them. That dump serialises every model of every
    service (each table item, stream record and queue message: seconds once a test run has filled the
    table, with the server's lock held), so a moto running in this process is read here, SES alone."""
    from urllib.parse import urlsplit

    from local.emulator import IN_PROCESS_PORTS

    if urlsplit(moto_url).port not in IN_PROCESS_PORTS:
        return requests.get(f"{moto_url}/moto-api/data.json", timeout=10).json().get("ses", {})
    from moto.core.model_instances import model_data

    state: dict[str, list[dict[str, Any]]] = {}
    for name, model in sorted(model_data.get("ses", {}).items()):
        state[name] = []
        for instance in list(model.instances_tracked):  # type: ignore[attr-defined]
            fields = {}
            for attr in dir(instance):
                if not attr.startswith("_"):
                    try:
                        fields[attr] = json.loads(json.dumps(getattr(instance, attr)))
                    except (TypeError, AttributeError, ValueError):
                        pass
            state[name].append(fields)
    return state


def read(moto_url: str, to: str | None = None) -> list[dict[str, Any]]:
    """Every message sent so far, oldest first (moto keeps each kind in sending order)."""
    data = _ses_state(moto_url)
    wanted = to.strip().lower() if to else None
    messages = _templated(moto_url, data.get("TemplateMessage", []), wanted)
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
