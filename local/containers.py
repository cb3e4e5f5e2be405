"""Each template function as Lambda runs it: a pool of loaded copies of its handler module
("containers"), each serving one invocation at a time with a Lambda context of its own.

A function module is loaded once per container and serves one request at a time, as in Lambda:
Powertools' resolver keeps the current event on a module-level object.
"""

from __future__ import annotations

import importlib.util
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from local import function_logs
from local.provision import ACCOUNT, REGION
from local.template import ROOT

MAX_CONTAINERS = 64


class LambdaContext:
    def __init__(self, name: str, timeout_s: int, memory: int) -> None:
        self.function_name = name
        self.memory_limit_in_mb = memory
        self.invoked_function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"
        self.aws_request_id = str(uuid.uuid4())
        self._deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class Container:
    """One loaded copy of a function's handler module, with what a Lambda execution environment keeps
    for itself between invocations: its log keys (see :mod:`local.function_logs`)."""

    def __init__(self, module: ModuleType) -> None:
        self.module = module
        self.log_keys: dict[Any, dict[str, Any]] = {}


class Function:
    """One template function: a pool of loaded copies of its handler module ("containers")."""

    def __init__(self, name: str, props: dict[str, Any]) -> None:
        self.name = name
        module_file, self.handler_name = props["Handler"].rsplit(".", 1)
        self.path = Path(ROOT, props["CodeUri"], f"{module_file}.py")
        self.timeout = int(props.get("Timeout", 3))
        self.memory = int(props.get("MemorySize", 128))
        self._idle: list[Container] = []
        self._loaded = 0
        self._available = threading.Condition()
        function_logs.install()

    def _load(self) -> Container:
        spec = importlib.util.spec_from_file_location(f"lambda_{self.name}_{self._loaded}", self.path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return Container(module)

    def _acquire(self) -> Container:
        with self._available:
            while not self._idle and self._loaded >= MAX_CONTAINERS:
                self._available.wait()
            if self._idle:
                return self._idle.pop()
            self._loaded += 1
        return self._load()

    def invoke(self, event: Any) -> Any:
        container = self._acquire()
        try:
            handler: Callable[[Any, Any], Any] = getattr(container.module, self.handler_name)
            # Functions run at once on the stack's threads; each logs with its own container's keys.
            with function_logs.keys_of(container.log_keys):
                return handler(event, LambdaContext(self.name, self.timeout, self.memory))
        finally:
            with self._available:
                self._idle.append(container)
                self._available.notify()
