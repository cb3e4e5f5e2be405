"""A small webhook receiver: prints each event whose signature the `standardwebhooks` library verifies.

    .venv/bin/python scripts/webhook_receiver.py --secret whsec_... [--port 8765] [--count N]

Listens on http://127.0.0.1:PORT/ (register that URL with `POST /webhooks` on the local stack, which
accepts http to 127.0.0.1; in AWS an endpoint must be https). Answers 204 to a verified message and
400 to any other (a wrong signature, an old timestamp), which the sender then retries. Prints each
`webhook-id` once: a retry of a message already handled is answered 204 and not printed again.
With `--count N` it stops after N verified events.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError


def make_handler(webhook: Webhook, seen: set[str], done: threading.Event, count: int | None) -> type:
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                event = webhook.verify(body, dict(self.headers.items()))
            except WebhookVerificationError as exc:
                print(f"refused: {exc}", flush=True)
                self._answer(400)
                return
            with lock:
                fresh = event["id"] not in seen
                seen.add(event["id"])
                if fresh:
                    print(f"verified {event['type']} {event['subject']} {json.dumps(event['data'])}", flush=True)
                enough = count is not None and len(seen) >= count
            self._answer(204)
            if enough:
                done.set()  # after the answer: the sender sees this message received

        def _answer(self, status: int) -> None:
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

    return Handler


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--secret", default=os.environ.get("WEBHOOK_SECRET"), help="whsec_... (or WEBHOOK_SECRET)")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--count", type=int, default=None, help="stop after this many verified events")
    args = parser.parse_args(argv)
    if not args.secret:
        parser.error("--secret (or WEBHOOK_SECRET) is required")
    done = threading.Event()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(Webhook(args.secret), set(), done, args.count))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"listening on http://127.0.0.1:{server.server_address[1]}/", flush=True)
    try:
        done.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
