"""Sending email through SES (v1 SendRawEmail: multipart text and HTML, rendered by us)."""

from __future__ import annotations

import threading
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from delivery_otp.errors import DependencyUnavailable


class Mailer(Protocol):
    sender: str

    def send(self, to: str, raw_message: bytes) -> str: ...


class SesMailer:
    def __init__(self, sender: str) -> None:
        self.sender = sender
        self._client: Any = None
        self._lock = threading.Lock()

    def _ses(self) -> Any:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    import botocore.session

                    self._client = botocore.session.get_session().create_client("ses")
        return self._client

    def send(self, to: str, raw_message: bytes) -> str:
        try:
            response = self._ses().send_raw_email(
                Source=self.sender, Destinations=[to], RawMessage={"Data": raw_message}
            )
        except (BotoCoreError, ClientError) as exc:
            raise DependencyUnavailable("the mail service is unavailable") from exc
        return str(response["MessageId"])
