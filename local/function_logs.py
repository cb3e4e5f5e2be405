"""Each local container keeps its own Powertools log keys, as each Lambda execution environment does.

In AWS every function runs in a process of its own, so the keys `inject_lambda_context` appends
(function name, request id, cold start) and whatever a handler appends belong to that function alone.
The local stack runs every function in one process, on many threads at once, and Powertools loggers of
one service share one formatter whose keys live in one attribute (`log_format`): a function would log
under the name of whichever function started last.

So while a container serves an invocation, the formatter's keys are that container's own (a copy of
the keys the formatter had when the container first logged, kept for the container's later
invocations, as a warm Lambda keeps them); outside any invocation they are the formatter's own. The
current container is a context variable, so every thread of the stack sees the container it runs.
Nothing in the product changes: its handlers stay as they run in AWS.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

# The log keys of the container running on this thread, by formatter; None outside an invocation.
_running: ContextVar[dict[LambdaPowertoolsFormatter, dict[str, Any]] | None] = ContextVar(
    "local_container_log_keys", default=None
)


class _ContainerKeys:
    """Stands for the formatter's `log_format` attribute: the running container's keys, if any."""

    def __get__(self, formatter: LambdaPowertoolsFormatter | None, owner: type | None = None) -> Any:
        if formatter is None:
            return self
        own = formatter.__dict__["log_format"]
        keys = _running.get()
        if keys is None:
            return own
        if formatter not in keys:
            keys[formatter] = dict(own)
        return keys[formatter]

    def __set__(self, formatter: LambdaPowertoolsFormatter, value: dict[str, Any]) -> None:
        keys = _running.get()
        if "log_format" not in formatter.__dict__:
            # Being made (its constructor sets the keys, then adds to them): these are its own keys,
            # shared with the container that made it until that container next clears its state.
            formatter.__dict__["log_format"] = value
        if keys is not None:
            keys[formatter] = value
        else:
            formatter.__dict__["log_format"] = value


def install() -> None:
    """Give Powertools' formatter per-container keys (once per process; later calls change nothing)."""
    if not isinstance(LambdaPowertoolsFormatter.__dict__.get("log_format"), _ContainerKeys):
        LambdaPowertoolsFormatter.log_format = _ContainerKeys()  # type: ignore[attr-defined]


@contextmanager
def keys_of(container_keys: dict[LambdaPowertoolsFormatter, dict[str, Any]]) -> Iterator[None]:
    """Log with one container's keys on this thread for the duration of an invocation."""
    token = _running.set(container_keys)
    try:
        yield
    finally:
        _running.reset(token)
