"""Sending messages to SQS queues: ten a request, every failure the queue unreachable."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from delivery_otp.errors import DependencyUnavailable


class Queues:
    def __init__(self) -> None:
        self._client: Any = None

    @property
    def client(self) -> Any:
        if self._client is None:
            from delivery_otp.adapters.clients import client

            self._client = client("sqs")
        return self._client

    def send(self, queue_url: str, messages: Sequence[dict[str, Any]]) -> None:
        """Queue every message (as JSON), or raise DependencyUnavailable: never a part silently lost."""
        for start in range(0, len(messages), 10):
            entries = [
                {"Id": str(i), "MessageBody": json.dumps(m, separators=(",", ":"))}
                for i, m in enumerate(messages[start : start + 10])
            ]
            try:
                answer = self.client.send_message_batch(QueueUrl=queue_url, Entries=entries)
            except (BotoCoreError, ClientError) as exc:
                raise DependencyUnavailable("the queue is unavailable") from exc
            if answer.get("Failed"):
                raise DependencyUnavailable("the queue refused some messages")
