"""One clock for the whole product, injected, always timezone-aware and UTC inside.

Codes die at local midnight and the rotation runs on "now", so every function must agree on what
now is; the local stack replaces the clock to let a newcomer jump to the night's rotation.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class SettableClock:
    """Real time until someone freezes it; thread-safe because the local stack serves in threads."""

    def __init__(self, frozen: datetime | None = None) -> None:
        self._lock = threading.Lock()
        self._frozen = frozen.astimezone(UTC) if frozen else None

    def now(self) -> datetime:
        with self._lock:
            frozen = self._frozen
        return frozen if frozen is not None else datetime.now(UTC)

    def freeze(self, instant: datetime) -> None:
        if instant.tzinfo is None:
            raise ValueError("the clock needs an instant with an offset")
        with self._lock:
            self._frozen = instant.astimezone(UTC)

    def release(self) -> None:
        with self._lock:
            self._frozen = None

    @property
    def frozen(self) -> datetime | None:
        with self._lock:
            return self._frozen
