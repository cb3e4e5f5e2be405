"""Sending email through SES: v1 SendBulkTemplatedEmail, up to 50 recipients a call, each with the
subject, text and HTML rendered by us (the template only places them)."""

from __future__ import annotations

from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from delivery_otp.errors import DependencyUnavailable

# SES's limit of destinations per SendBulkTemplatedEmail call.
BULK_LIMIT = 50


class Mailer(Protocol):
    sender: str

    def send_bulk(
        self, template: str, messages: list[tuple[str, dict[str, str]]], tags: list[dict[str, str]] | None = None
    ) -> list[bool]: ...


class SesMailer:
    def __init__(self, sender: str, configuration_set: str | None = None) -> None:
        self.sender = sender
        # The set that reports bounces and complaints back to us (None: nobody hears of them).
        self.configuration_set = configuration_set
        self._client: Any = None

    def _ses(self) -> Any:
        if self._client is None:  # `clients` makes one at a time; a spare from a race is dropped
            from delivery_otp.adapters.clients import client

            self._client = client("ses")
        return self._client

    def send_bulk(
        self, template: str, messages: list[tuple[str, dict[str, str]]], tags: list[dict[str, str]] | None = None
    ) -> list[bool]:
        """One SendBulkTemplatedEmail per 50 (address, replacement data); per message, whether SES took it.

        Each message is tagged with its delivery (and a delegate's with the delegate), in hex since tag
        values allow no '.', so a bounce or a complaint SES reports through the configuration set names
        whose address it was."""
        import json

        configuration_set = self.configuration_set
        per_message = tags or [{"delivery": ""}] * len(messages)

        accepted: list[bool] = []
        for start in range(0, len(messages), BULK_LIMIT):
            chunk = messages[start : start + BULK_LIMIT]
            destinations = [
                {
                    "Destination": {"ToAddresses": [to]},
                    "ReplacementTemplateData": json.dumps(data),
                    "ReplacementTags": [
                        {"Name": name, "Value": value.encode().hex() or "none"} for name, value in tag.items()
                    ],
                }
                for (to, data), tag in zip(chunk, per_message[start : start + BULK_LIMIT], strict=True)
            ]
            extra = {"ConfigurationSetName": configuration_set} if configuration_set else {}
            try:
                response = self._ses().send_bulk_templated_email(
                    Source=self.sender,
                    Template=template,
                    DefaultTemplateData="{}",
                    DefaultTags=[{"Name": "app", "Value": "delivery-otp"}],
                    Destinations=destinations,
                    **extra,
                )
            except (BotoCoreError, ClientError) as exc:
                raise DependencyUnavailable("the mail service is unavailable") from exc
            statuses = response.get("Status", [])
            # SES answers one status per destination, in order; a missing one was not accepted.
            accepted += [
                i < len(statuses) and statuses[i].get("Status", "Success") == "Success" for i in range(len(chunk))
            ]
        return accepted
