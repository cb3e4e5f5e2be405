"""A TCP proxy on 127.0.0.1 between a browser and the local stack, that a test can stop and start again
on the same port: the network going away under a page and its service worker, which the browser's own
offline switch does not reach.

`cut_answer_to(marker)` makes the proxy forward the next request holding `marker` to the stack, wait for
the stack's answer, then drop that answer and stop: the courier whose answer was lost in a basement.
`answer_instead(marker, status)` keeps the next such request from the stack and answers it with that
status itself, as a gateway whose function could not be reached does.
"""

from __future__ import annotations

import socket
import threading


class Proxy:
    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = 0
        self._listener: socket.socket | None = None
        self._connections: list[socket.socket] = []
        self._lock = threading.Lock()
        self._cut_marker: bytes | None = None
        self._dropping: set[socket.socket] = set()
        self.cut = threading.Event()  # set once an answer was dropped and the proxy stopped
        self._fake: tuple[bytes, int] | None = None
        self.faked = threading.Event()  # set once a request was answered by the proxy itself

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def stop(self) -> None:
        """Refuse new connections and cut every open one."""
        with self._lock:
            listener, self._listener = self._listener, None
            connections, self._connections = self._connections, []
        if listener is not None:
            listener.close()
        for connection in connections:
            _close(connection)

    def cut_answer_to(self, marker: bytes) -> None:
        self.cut.clear()
        self._cut_marker = marker

    def answer_instead(self, marker: bytes, status: int) -> None:
        self.faked.clear()
        self._fake = (marker, status)

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            except OSError:
                _close(client)
                continue
            with self._lock:
                if self._listener is not listener:
                    _close(client)
                    _close(upstream)
                    return
                self._connections += [client, upstream]
            threading.Thread(target=self._requests, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client), daemon=True).start()

    def _requests(self, client: socket.socket, upstream: socket.socket) -> None:
        while True:
            try:
                data = client.recv(65536)
            except OSError:
                data = b""
            if not data:
                break
            fake = self._fake
            if fake is not None and fake[0] in data:
                self._fake = None
                body = b'{"message":"Service Unavailable"}'
                head = (
                    f"HTTP/1.1 {fake[1]} Gateway\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
                )
                try:
                    client.sendall(head.encode() + b"Connection: close\r\n\r\n" + body)
                except OSError:
                    pass
                self.faked.set()
                break
            marker = self._cut_marker
            if marker is not None and marker in data:
                # The request (and its body, which may come in a later piece) reaches the stack; its
                # answer reaches nobody (see _pipe), and the network is gone.
                self._cut_marker = None
                with self._lock:
                    self._dropping.add(upstream)
            try:
                upstream.sendall(data)
            except OSError:
                break
        _close(client)
        _close(upstream)

    def _pipe(self, source: socket.socket, target: socket.socket) -> None:
        while True:
            try:
                data = source.recv(65536)
            except OSError:
                data = b""
            if data and source in self._dropping:
                self.stop()
                _close(source)
                _close(target)
                self.cut.set()
                return
            if not data:
                break
            try:
                target.sendall(data)
            except OSError:
                break
        _close(source)
        _close(target)


def _close(connection: socket.socket) -> None:
    try:
        connection.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    connection.close()
