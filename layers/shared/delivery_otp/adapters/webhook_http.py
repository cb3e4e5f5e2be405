"""One webhook POST over HTTP(S), to the address the SSRF guard checked.

The connection goes to `Target.address`, never to a second lookup of the name; for https the TLS
server name (SNI) and the certificate check use the URL's host, and so does the Host header. Redirects
are not followed (http.client never follows them): a 3xx is an answer like any other that is not 2xx.
The receiver's body is read no further than a little, and never kept: only its status is.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import time
from dataclasses import dataclass

from delivery_otp.ssrf import Target

TIMEOUT_SECONDS = 10.0
# Read and dropped, so the connection ends cleanly; nothing of it is kept.
_DRAIN_BYTES = 4096


@dataclass(frozen=True)
class SendResult:
    status_code: int | None  # None: no HTTP answer
    error: str | None  # None on a 2xx; else "http_status", "timeout", "connection", "tls", "refused_url"
    duration_ms: int

    @property
    def ok(self) -> bool:
        return self.error is None


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to one checked address, with the URL's host for SNI, the certificate and the Host header."""

    def __init__(self, target: Target, timeout: float, context: ssl.SSLContext) -> None:
        super().__init__(target.host, target.port, timeout=timeout, context=context)
        self._address = target.address
        self._context = context

    def connect(self) -> None:
        raw = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(raw, server_hostname=self.host)


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, target: Target, timeout: float) -> None:
        super().__init__(target.host, target.port, timeout=timeout)
        self._address = target.address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class HttpSender:
    def __init__(self, timeout_s: float = TIMEOUT_SECONDS, context: ssl.SSLContext | None = None) -> None:
        self.timeout_s = timeout_s
        self.context = context or ssl.create_default_context()

    def post(self, target: Target, body: bytes, headers: dict[str, str]) -> SendResult:
        started = time.monotonic()
        connection: http.client.HTTPConnection = (
            _PinnedHTTPSConnection(target, self.timeout_s, self.context)
            if target.scheme == "https"
            else _PinnedHTTPConnection(target, self.timeout_s)
        )
        status: int | None = None
        error: str | None = None
        try:
            connection.request("POST", target.path, body=body, headers=headers)
            response = connection.getresponse()
            status = response.status
            response.read(_DRAIN_BYTES)
        except TimeoutError:
            error = "timeout"
        except ssl.SSLError:
            error = "tls"
        except (OSError, http.client.HTTPException):
            error = "connection" if status is None else None
        finally:
            connection.close()
        elapsed = time.monotonic() - started
        if error is None and status is not None:
            if elapsed > self.timeout_s:
                error = "timeout"  # answered, but later than a receiver may take
            elif not 200 <= status < 300:
                error = "http_status"
        return SendResult(status, error, int(elapsed * 1000))
