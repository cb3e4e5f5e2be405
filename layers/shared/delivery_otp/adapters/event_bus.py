"""Putting integration events on the stack's EventBridge bus: PutEvents, 10 entries a call."""

from __future__ import annotations

import json
from typing import Any, Protocol

# EventBridge's limit of entries per PutEvents call.
PUT_LIMIT = 10


class EventBus(Protocol):
    def put(self, events: list[dict[str, Any]]) -> list[bool]: ...


class EventBridgeBus:
    """One entry per CloudEvent: Source `source`, DetailType the event's type, Detail the event itself."""

    def __init__(self, bus_name: str) -> None:
        self.bus_name = bus_name
        self._client: Any = None

    def _events(self) -> Any:
        if self._client is None:  # `clients` makes one at a time; a spare from a race is dropped
            from delivery_otp.adapters.clients import client

            self._client = client("events")
        return self._client

    def entry(self, event: dict[str, Any]) -> dict[str, Any]:
        return {
            "Source": event["source"],
            "DetailType": event["type"],
            "Detail": json.dumps(event, separators=(",", ":")),
            "EventBusName": self.bus_name,
        }

    def put(self, events: list[dict[str, Any]]) -> list[bool]:
        """Per event, in order, whether the bus took it. A call that fails as a whole (throttled,
        unreachable) raises: nothing after it is tried, so the caller retries from there."""
        taken: list[bool] = []
        for start in range(0, len(events), PUT_LIMIT):
            chunk = events[start : start + PUT_LIMIT]
            answer = self._events().put_events(Entries=[self.entry(e) for e in chunk])
            results = answer.get("Entries", [])
            taken += [
                i < len(results) and "EventId" in results[i] and not results[i].get("ErrorCode")
                for i in range(len(chunk))
            ]
        return taken
