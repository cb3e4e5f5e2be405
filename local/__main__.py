"""`python -m local` (what `make run` starts): the local stack in the foreground until Ctrl-C."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading

from local.stack import LocalStack


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    port = int(os.environ.get("PORT", "3000"))
    stack = LocalStack(port=port)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    try:
        bound = stack.start()
        print(
            f"delivery-otp local stack on http://127.0.0.1:{bound} (AWS emulated by moto at {stack.moto_url})",
            flush=True,
        )
        print(f"Try: curl http://127.0.0.1:{bound}/local/health   -- Ctrl-C stops everything", flush=True)
        # Waited for in short steps: a signal the kernel hands to another thread (the AWS CRT's own
        # threads, with authentication on) runs its handler only once the main thread runs Python again,
        # so an endless wait could miss Ctrl-C for good.
        while not stop.wait(0.2):
            pass
    finally:
        stack.stop()
    print("stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
