"""The receiver script of the walkthrough: it prints a message the reference library verifies, once per
`webhook-id`, and refuses (400) one whose signature does not verify."""

from __future__ import annotations

import base64
import json
import threading
import time
from http.server import ThreadingHTTPServer

import requests
from standardwebhooks import Webhook

from scripts.webhook_receiver import make_handler

SECRET = "whsec_" + base64.b64encode(bytes(range(32))).decode()


def signed(body: bytes, secret: str = SECRET, message_id: str = "evt-1") -> dict[str, str]:
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(secret).sign(message_id, now, body),
        "content-type": "application/json",
    }


def test_the_receiver_prints_verified_events_once_and_refuses_the_rest(capsys) -> None:
    done = threading.Event()
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(Webhook(SECRET), set(), done, 2))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    event = {"id": "evt-1", "type": "webhook.test", "subject": "wh_1", "data": {"endpoint_id": "wh_1"}}
    body = json.dumps(event).encode()
    try:
        assert requests.post(url, data=body, headers=signed(body), timeout=5).status_code == 204
        assert requests.post(url, data=body, headers=signed(body), timeout=5).status_code == 204  # a retry
        other = "whsec_" + base64.b64encode(bytes(32)).decode()
        assert requests.post(url, data=body, headers=signed(body, other), timeout=5).status_code == 400
        tampered = body.replace(b"wh_1", b"wh_2")
        assert requests.post(url, data=tampered, headers=signed(body), timeout=5).status_code == 400
        old = {**signed(body), "webhook-timestamp": str(int(time.time()) - 3600)}
        assert requests.post(url, data=body, headers=old, timeout=5).status_code == 400
    finally:
        server.shutdown()
        server.server_close()
    out = capsys.readouterr().out
    assert out.count("verified webhook.test wh_1") == 1
    assert out.count("refused") == 3
    assert not done.is_set()  # one distinct event of the two it waits for
