"""A minimal HTTP server for ``/metrics``, safe to run inside a training process: one thread, bounded.

``prometheus_client.start_http_server`` starts a thread per connection with no timeout: each half-sent request
held a thread in the training process (400 of them: 403 threads, and a normal scrape was refused), and ~90
scrapes a second slowed the training loop by 18-29 % (a thread started and the page rendered per scrape).
:class:`MetricsServer` instead:

- serves every connection from **one thread** with a selector (non-blocking sockets), whatever their number;
- holds at most :data:`MAX_CONNECTIONS` connections: a new one evicts the oldest that has not finished sending
  its request, so half-open connections can never lock a scraper out;
- gives each connection :data:`REQUEST_TIMEOUT_S` seconds to send its request and take the answer, and a request
  at most :data:`MAX_REQUEST_BYTES` (then it is closed);
- answers every ``GET``/``HEAD`` with the bytes ``page()`` returns (the exporter renders them once per sample,
  not per scrape: :mod:`wattwatch.sinks.prometheus`), ``Connection: close``;
- on :meth:`MetricsServer.close`, stops its thread and closes every socket it opened (listening, connections,
  its wake-up pair) before returning.

Times in seconds.
"""

from __future__ import annotations

import selectors
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["MAX_CONNECTIONS", "MAX_REQUEST_BYTES", "REQUEST_TIMEOUT_S", "MetricsServer"]

MAX_CONNECTIONS = 64
"""Connections held at once (beyond it the oldest unfinished one is closed)."""
REQUEST_TIMEOUT_S = 5.0
"""Seconds a connection has to send its request and read the answer."""
MAX_REQUEST_BYTES = 8192
"""Largest request head read (a scrape's is a few hundred bytes)."""
_BACKLOG = 128


@dataclass
class _Connection:
    sock: socket.socket
    deadline: float
    request: bytearray = field(default_factory=bytearray)
    answer: memoryview | None = None
    """The bytes still to send, once the request is complete."""


def _reply(status: str, body: bytes, head_only: bool, content_type: str = "text/plain; charset=utf-8") -> bytes:
    head = (
        f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    ).encode("ascii")
    return head if head_only else head + body


class MetricsServer:
    """Serves ``page()`` (``(content type, body)``) on ``host:port`` from one daemon thread until
    :meth:`close`. ``OSError`` from the constructor when the address cannot be bound."""

    def __init__(
        self,
        host: str,
        port: int,
        page: Callable[[], tuple[str, bytes]],
        *,
        max_connections: int = MAX_CONNECTIONS,
        timeout_s: float = REQUEST_TIMEOUT_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._page = page
        self._max = max_connections
        self._timeout = timeout_s
        self._clock = clock
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        self._listener = socket.socket(family, kind, proto)
        try:
            self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            defer = getattr(socket, "TCP_DEFER_ACCEPT", None)
            if defer is not None:  # Linux: a connection is handed over once its request arrived, so a scrape
                # is read, answered and closed at once, and a client that sends nothing never reaches us
                self._listener.setsockopt(socket.IPPROTO_TCP, defer, max(1, int(timeout_s)))
            self._listener.bind(address)
            self._listener.listen(_BACKLOG)
            self._listener.setblocking(False)
            self._wake_r, self._wake_w = socket.socketpair()
        except BaseException:
            self._listener.close()
            raise
        self.address: tuple[str, int] = self._listener.getsockname()[:2]
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._listener, selectors.EVENT_READ, None)
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)
        self._connections: dict[int, _Connection] = {}
        self._last_page: tuple[bytes, bytes] | None = None
        """The last page's body and the whole answer built from it (headers and all)."""
        self._closing = False
        self._thread = threading.Thread(target=self._serve, name="wattwatch-metrics", daemon=True)
        self._thread.start()

    # -- the loop ------------------------------------------------------------------------------------------
    def _serve(self) -> None:
        try:
            while not self._closing:
                wait = 1.0
                if self._connections:
                    now = self._clock()
                    wait = min(min(c.deadline for c in self._connections.values()) - now, 1.0)
                for key, events in self._selector.select(max(0.0, wait)):
                    if key.fileobj is self._wake_r:
                        return
                    try:
                        if key.fileobj is self._listener:
                            self._accept()
                        elif events & selectors.EVENT_READ:
                            self._read(key.data)
                        else:
                            self._write(key.data)
                    except Exception:  # noqa: BLE001 - one connection's fault never stops the server
                        if key.data is not None:
                            self._drop(key.data)
                if self._connections:
                    self._expire(self._clock())
        finally:
            self._shut()

    def _accept(self) -> None:
        """Take one connection (the selector reports the listener again while more wait: no call that only
        says "none left", each system call costing a hand-over of the interpreter's lock)."""
        try:
            sock, _ = self._listener.accept()
        except OSError:  # none after all, out of descriptors, or the peer gave up: the next event will tell
            return
        sock.setblocking(False)
        conn = _Connection(sock, 0.0)
        if self._read(conn, registered=False):
            return  # a scraper's request is usually there on accept: answered and closed at once
        if len(self._connections) >= self._max:
            self._evict()
        conn.deadline = self._clock() + self._timeout
        self._connections[sock.fileno()] = conn
        self._selector.register(sock, selectors.EVENT_READ if conn.answer is None else selectors.EVENT_WRITE, conn)

    def _evict(self) -> None:
        """Close the oldest connection still sending its request (else the oldest): a scraper always gets in."""
        waiting = [c for c in self._connections.values() if c.answer is None] or list(self._connections.values())
        self._drop(min(waiting, key=lambda c: c.deadline))

    def _read(self, conn: _Connection, *, registered: bool = True) -> bool:
        """Read what ``conn`` sent; answer when its request is complete. Returns whether the connection is done
        with (closed)."""
        try:
            data = conn.sock.recv(4096)
        except (BlockingIOError, InterruptedError):
            return False
        except OSError:
            data = b""
        if not data:
            self._drop(conn, registered=registered)
            return True
        conn.request += data
        end = conn.request.find(b"\r\n\r\n")
        if end < 0:
            end = conn.request.find(b"\n\n")
        if end < 0:
            if len(conn.request) > MAX_REQUEST_BYTES:
                return self._answer(conn, _reply("431 Request Header Fields Too Large", b"", False), registered)
            return False
        return self._answer(conn, self._respond(bytes(conn.request[:end])), registered)

    def _respond(self, head: bytes) -> bytes:
        parts = head.split(b"\n", 1)[0].split()
        method = parts[0] if parts else b""
        if method not in (b"GET", b"HEAD"):
            return _reply("405 Method Not Allowed", b"only GET and HEAD\n", False)
        if len(parts) > 1 and parts[1].split(b"?", 1)[0] == b"/favicon.ico":
            return _reply("404 Not Found", b"", method == b"HEAD")
        try:
            content_type, body = self._page()
        except Exception:  # noqa: BLE001 - a scrape never breaks the server (nor the run)
            return _reply("500 Internal Server Error", b"", method == b"HEAD")
        if method == b"HEAD":
            return _reply("200 OK", body, True, content_type)
        if self._last_page is None or self._last_page[0] is not body:  # the whole answer built once per page
            self._last_page = (body, _reply("200 OK", body, False, content_type))
        return self._last_page[1]

    def _answer(self, conn: _Connection, data: bytes, registered: bool) -> bool:
        conn.answer = memoryview(data)
        if self._write(conn, registered=registered):
            return True
        if registered:
            self._selector.modify(conn.sock, selectors.EVENT_WRITE, conn)
        return False

    def _write(self, conn: _Connection, *, registered: bool = True) -> bool:
        """Send what is left of the answer; returns whether the connection is done with (closed)."""
        if conn.answer is None:
            return False
        try:
            sent = conn.sock.send(conn.answer)
        except (BlockingIOError, InterruptedError):
            return False
        except OSError:
            self._drop(conn, registered=registered)
            return True
        conn.answer = conn.answer[sent:]
        if not conn.answer:
            self._drop(conn, registered=registered)
            return True
        return False

    def _expire(self, now: float) -> None:
        for conn in [c for c in self._connections.values() if c.deadline <= now]:
            self._drop(conn)

    def _drop(self, conn: _Connection, *, registered: bool = True) -> None:
        if registered:
            self._connections.pop(conn.sock.fileno(), None)
            try:
                self._selector.unregister(conn.sock)
            except (KeyError, ValueError):
                pass
        conn.sock.close()

    def _shut(self) -> None:
        for conn in list(self._connections.values()):
            self._drop(conn)
        for sock in (self._listener, self._wake_r, self._wake_w):
            try:
                self._selector.unregister(sock)
            except (KeyError, ValueError):
                pass
            sock.close()
        self._selector.close()

    # -- life cycle ----------------------------------------------------------------------------------------
    @property
    def connections(self) -> int:
        """Connections held now."""
        return len(self._connections)

    def close(self) -> None:
        """Stop serving: the thread ends and every socket is closed before this returns (idempotent)."""
        if self._closing:
            return
        self._closing = True
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass
        self._thread.join(5.0)
