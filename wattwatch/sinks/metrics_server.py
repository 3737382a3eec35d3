"""A minimal HTTP server for ``/metrics`` that cannot harm the training process it serves.

``prometheus_client.start_http_server`` started a thread per connection, in the training process, with no
timeout: each half-sent request held a thread (400 of them: 403 threads, and a normal scrape was refused), and
~90 scrapes a second slowed the training loop by 18-29 % (a thread started and the page rendered per scrape,
every step of it competing with training for the interpreter's lock). Here:

- **Out of the training process** (Linux, :class:`ServerProcess`): the listening socket is bound by the training
  process (so a port in use is a ``ConfigurationError`` at ``start()``), then handed to a small child process
  (``python -I -S`` this file, stdlib only), to which the exporter pushes each rendered page over a
  ``SOCK_SEQPACKET`` socket pair -- never blocking: a page the child cannot take yet is skipped. However many
  connections and scrapes come, the training process holds no thread and no socket for them, and spends nothing
  per scrape. The child ignores SIGINT (Ctrl-C is the run's) and exits on an empty message
  (:meth:`ServerProcess.close`) or when the pair's other end is gone (the training process died).
- **Elsewhere** (and should the child not start): the same server on one daemon thread of the training process
  (:class:`MetricsServer`).

Either way the server is one selector loop, whatever the number of connections; it holds at most
:data:`MAX_CONNECTIONS` (a new one evicts the oldest that has not finished sending its request, so half-open
connections can never lock a scraper out), gives each :data:`REQUEST_TIMEOUT_S` seconds to send its request and
take the answer and a request head at most :data:`MAX_REQUEST_BYTES`; on Linux ``TCP_DEFER_ACCEPT`` keeps a
client that sends nothing in the kernel, and a scrape whose request is there on accept is answered and closed
at once. It answers ``GET``/``HEAD`` with the last page published (the whole answer built once per page),
``Connection: close``. Closing it stops the loop and closes every socket it opened before returning.

Times in seconds.
"""

from __future__ import annotations

import os
import selectors
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = [
    "MAX_CONNECTIONS",
    "MAX_REQUEST_BYTES",
    "REQUEST_TIMEOUT_S",
    "MetricsServer",
    "ServerProcess",
    "bind_listener",
    "start_server",
]

MAX_CONNECTIONS = 64
"""Connections held at once (beyond it the oldest unfinished one is closed)."""
REQUEST_TIMEOUT_S = 5.0
"""Seconds a connection has to send its request and read the answer."""
MAX_REQUEST_BYTES = 8192
"""Largest request head read (a scrape's is a few hundred bytes)."""
_BACKLOG = 128
_MAX_PAGE_BYTES = 4 << 20
"""Largest page handed to the child (a page is a few KB per GPU)."""


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


def bind_listener(host: str, port: int, *, timeout_s: float = REQUEST_TIMEOUT_S) -> socket.socket:
    """A listening, non-blocking TCP socket on ``host:port`` (``port=0``: any free port); ``OSError`` when the
    address cannot be bound (port in use, unknown host)."""
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    listener = socket.socket(family, kind, proto)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        defer = getattr(socket, "TCP_DEFER_ACCEPT", None)
        if defer is not None:  # Linux: a connection is handed over once its request arrived, so a scrape is
            # read, answered and closed at once, and a client that sends nothing never reaches the server
            listener.setsockopt(socket.IPPROTO_TCP, defer, max(1, int(timeout_s)))
        listener.bind(address)
        listener.listen(_BACKLOG)
        listener.setblocking(False)
    except BaseException:
        listener.close()
        raise
    return listener


class MetricsServer:
    """Serves the last page :meth:`publish` gave on ``listener`` (which it owns and closes), from one loop: a
    daemon thread (``thread=True``) until :meth:`close`, or the caller's own (:meth:`serve_forever`, the child
    process). ``feed``: a socket whose messages (``content type`` ``\\n`` body) are published as they come, and
    whose end stops the loop."""

    def __init__(
        self,
        listener: socket.socket,
        *,
        max_connections: int = MAX_CONNECTIONS,
        timeout_s: float = REQUEST_TIMEOUT_S,
        clock: Callable[[], float] = time.monotonic,
        feed: socket.socket | None = None,
        thread: bool = True,
    ) -> None:
        self._listener = listener
        self._max = max_connections
        self._timeout = timeout_s
        self._clock = clock
        self._feed = feed
        self._page: tuple[str, bytes] = ("text/plain; charset=utf-8", b"")
        self._published = False
        self._wake_r, self._wake_w = socket.socketpair()
        self.address: tuple[str, int] = self._listener.getsockname()[:2]
        self._selector = selectors.DefaultSelector()
        for sock in (self._listener, self._wake_r, *([feed] if feed is not None else [])):
            self._selector.register(sock, selectors.EVENT_READ, None)
        self._connections: dict[int, _Connection] = {}
        self._last_page: tuple[bytes, bytes] | None = None
        """The last page's body and the whole answer built from it (headers and all)."""
        self._closing = False
        self._thread: threading.Thread | None = None
        if thread:
            self._thread = threading.Thread(target=self._serve, name="wattwatch-metrics", daemon=True)
            self._thread.start()

    def publish(self, content_type: str, body: bytes) -> bool:
        """Serve ``body`` from now on (one assignment: safe from any thread). Always ``True`` (taken)."""
        self._page = (content_type, body)
        self._published = True
        return True

    def serve_forever(self) -> None:
        """Run the loop in this thread until :meth:`close` or the feed's end. With a feed, its first page is
        awaited first (the exporter sends it as it starts the child), so no scrape gets an empty answer."""
        if self._feed is not None:
            self._feed.setblocking(True)
            first = self._take_page()
            self._feed.setblocking(False)
            if not first:
                self._shut()
                return
        self._serve()

    # -- the loop ------------------------------------------------------------------------------------------
    def _serve(self) -> None:
        try:
            while not self._closing:
                wait = 1.0
                if self._connections:
                    now = self._clock()
                    wait = min(min(c.deadline for c in self._connections.values()) - now, 1.0)
                ready = self._selector.select(max(0.0, wait))
                if len(ready) > 1:  # a new page first, then the connections
                    ready.sort(key=lambda item: item[0].fileobj is not self._feed)
                for key, events in ready:
                    if key.fileobj is self._wake_r:
                        return
                    if key.fileobj is self._feed:
                        if not self._take_page():
                            return
                        continue
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

    def _take_page(self) -> bool:
        """Publish the page waiting on the feed; ``False`` when the feed has ended (the exporter is gone)."""
        assert self._feed is not None
        try:
            message = self._feed.recv(_MAX_PAGE_BYTES)
        except (BlockingIOError, InterruptedError):
            return True
        except OSError:
            return False
        if not message:
            return False
        content_type, _, body = message.partition(b"\n")
        self.publish(content_type.decode("ascii", "replace"), body)
        return True

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
        content_type, body = self._page
        if not self._published:
            return _reply("503 Service Unavailable", b"no page yet\n", method == b"HEAD")
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
        for sock in (self._listener, self._wake_r, self._wake_w, *([self._feed] if self._feed is not None else [])):
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
        """Stop serving: the loop ends and every socket is closed before this returns (idempotent)."""
        if self._closing:
            return
        self._closing = True
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass
        if self._thread is not None:
            self._thread.join(5.0)


class ServerProcess:
    """The server in a child process (see the module's docstring): ``listener`` is handed to it and closed
    here, so processes this one forks later (data-loader workers) do not hold the port. ``OSError`` when the
    child cannot be started."""

    def __init__(
        self, listener: socket.socket, *, max_connections: int = MAX_CONNECTIONS, timeout_s: float = REQUEST_TIMEOUT_S
    ) -> None:
        import subprocess

        self.address: tuple[str, int] = listener.getsockname()[:2]
        self._feed, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            for sock, option in ((self._feed, socket.SO_SNDBUF), (theirs, socket.SO_RCVBUF)):
                sock.setsockopt(socket.SOL_SOCKET, option, _MAX_PAGE_BYTES)
            args = [str(listener.fileno()), str(theirs.fileno()), repr(timeout_s), str(max_connections)]
            self._process = subprocess.Popen(
                [sys.executable, "-I", "-S", os.path.abspath(__file__), *args],
                pass_fds=(listener.fileno(), theirs.fileno()),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        except BaseException:
            self._feed.close()
            raise
        finally:
            theirs.close()
        listener.close()
        self._feed.setblocking(False)
        self._closed = False

    @property
    def pid(self) -> int:
        """The child's process id."""
        return int(self._process.pid)

    def publish(self, content_type: str, body: bytes) -> bool:
        """Hand a page to the child, never waiting: ``False`` when it could not take it now (it will get the next
        one) or is gone."""
        try:
            self._feed.send(content_type.encode("ascii") + b"\n" + body)
        except OSError:  # full (the child is busy or stopped), or gone
            return False
        return True

    def close(self) -> None:
        """End the child and reap it (idempotent): an empty message asks it to close its sockets and exit (the
        feed's end alone would not reach it while a process forked from this one holds a copy); a child that
        cannot take it is terminated, and killed after 5 s."""
        if self._closed:
            return
        self._closed = True
        try:
            self._feed.send(b"")
        except OSError:
            self._process.terminate()
        self._feed.close()
        try:
            self._process.wait(5.0)
        except Exception:  # noqa: BLE001 - subprocess.TimeoutExpired: a stopped child
            self._process.kill()
            self._process.wait()


def start_server(
    host: str, port: int, *, process: bool | None = None, timeout_s: float = REQUEST_TIMEOUT_S
) -> MetricsServer | ServerProcess:
    """Bind ``host:port`` and serve it: in a child process where that is supported (Linux; ``process``
    forces the choice), else -- or when the child cannot start -- on a thread of this process. ``OSError`` when
    the address cannot be bound."""
    listener = bind_listener(host, port, timeout_s=timeout_s)
    if process is None:
        process = sys.platform.startswith("linux") and hasattr(socket, "SOCK_SEQPACKET")
    if process:
        try:
            return ServerProcess(listener, timeout_s=timeout_s)
        except OSError:
            pass  # no fork (out of memory, a process limit): serve from a thread instead
    return MetricsServer(listener, timeout_s=timeout_s)


def _child(argv: list[str]) -> None:
    """The child process: serve the inherited listener, pages from the inherited feed, until the feed ends."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the run; the feed's end stops us
    listener, feed = socket.socket(fileno=int(argv[1])), socket.socket(fileno=int(argv[2]))
    listener.setblocking(False)
    server = MetricsServer(listener, timeout_s=float(argv[3]), max_connections=int(argv[4]), feed=feed, thread=False)
    server.serve_forever()


if __name__ == "__main__":
    _child(sys.argv)
