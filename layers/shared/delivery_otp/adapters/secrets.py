"""The key that derives codes, from Secrets Manager, fetched once per container.

Only botocore, not boto3 or Powertools parameters: this runs on the verify path's cold start.
"""

from __future__ import annotations

import threading
from typing import Protocol

from botocore.exceptions import BotoCoreError, ClientError

from delivery_otp.errors import DependencyUnavailable


class CodeKeySource(Protocol):
    def key(self) -> bytes: ...


class SecretsManagerKeySource:
    def __init__(self, secret_id: str) -> None:
        self._secret_id = secret_id
        self._key: bytes | None = None
        self._lock = threading.Lock()

    def key(self) -> bytes:
        if self._key is None:
            with self._lock:
                if self._key is None:
                    self._key = self._fetch()
        return self._key

    def _fetch(self) -> bytes:
        from delivery_otp.adapters.clients import client

        try:
            secrets = client("secretsmanager")
            secret = secrets.get_secret_value(SecretId=self._secret_id)["SecretString"]
        except (BotoCoreError, ClientError, KeyError) as exc:
            raise DependencyUnavailable("the code key is unavailable") from exc
        if len(secret) < 32:
            raise DependencyUnavailable("the code key is too short to be safe")
        return secret.encode()
