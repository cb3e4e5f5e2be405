"""moto's server, made as faithful as the product needs.

Real DynamoDB applies each write to an item atomically: a conditional write is judged and applied as
one step. moto's server handles requests in threads and reads, judges and writes without a lock, so two
concurrent conditional updates can both pass (seen here: two ACCEPTED answers for one code under load).
Serialising DynamoDB calls restores the atomicity the product relies on, without touching the product;
the exactly-once tests then test our conditions, not moto's races.
"""

from __future__ import annotations

import threading
from functools import wraps
from typing import Any

from moto.server import ThreadedMotoServer

_lock = threading.Lock()
_patched = False


def make_dynamodb_atomic() -> None:
    """Run every DynamoDB API call of this process's moto backends one at a time."""
    global _patched
    if _patched:
        return
    from moto.dynamodb.responses import DynamoHandler

    original = DynamoHandler.call_action

    @wraps(original)
    def call_action(self: Any) -> Any:
        with _lock:
            return original(self)

    DynamoHandler.call_action = call_action  # type: ignore[method-assign]
    _patched = True


def start_moto(port: int) -> ThreadedMotoServer:
    make_dynamodb_atomic()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    return server
