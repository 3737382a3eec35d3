"""Open a page in a real headless Chromium and see what a person would: the DevTools protocol over a pipe.

``--remote-debugging-pipe`` makes Chromium read protocol commands on its fd 3 and write replies and events on
its fd 4 (JSON, NUL-terminated): no websocket library, no port, nothing but the standard library. The page is
opened in a fresh profile with the flags that keep Chromium's own background traffic off, every request
*the page* makes is recorded (``Network.requestWillBeSent``), console errors, exceptions and CSP reports are
collected, and a full-page screenshot is taken once the page says it is ready (``document.body.dataset.ready``).

Debian's package is ``chromium`` (``/usr/bin/chromium``); :func:`find_chromium` returns ``None`` without it.
"""

from __future__ import annotations

import base64
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["CHROMIUM_FLAGS", "PageVisit", "find_chromium", "save", "visit"]

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--remote-debugging-pipe",
)


def find_chromium() -> str | None:
    """The Chromium binary (``$WATTWATCH_CHROMIUM``, then ``chromium``, ``chromium-browser`` on ``PATH``)."""
    env = os.environ.get("WATTWATCH_CHROMIUM")
    if env:
        return env if os.access(env, os.X_OK) else None
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


@dataclass
class PageVisit:
    """What happened when the page was opened."""

    requests: list[str] = field(default_factory=list)
    """URL of every request the page started (its own ``file://`` load included)."""
    blocked: dict[str, str] = field(default_factory=dict)
    """URL -> reason (``csp``, ...) for the requests the browser refused to send."""
    errors: list[str] = field(default_factory=list)
    """Console errors, uncaught exceptions and CSP violations."""
    ready_ms: float | None = None
    """``performance.now()`` when the page's script finished (ms since navigation start)."""
    wall_s: float = 0.0
    """Seconds from the navigate command to the page reporting ready."""
    probe: Any = None
    """The value of the ``probe`` expression, evaluated once the page was ready."""
    screenshot_png: bytes = b""


class _Pipe:
    def __init__(self, proc: subprocess.Popen[bytes], write_fd: int, read_fd: int) -> None:
        self.proc, self.write_fd, self.read_fd = proc, write_fd, read_fd
        self.buf = b""
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    def send(self, method: str, params: dict[str, Any] | None = None, session: str | None = None) -> int:
        self.next_id += 1
        msg: dict[str, Any] = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self.write_fd, json.dumps(msg).encode() + b"\0")
        return self.next_id

    def _read_one(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("Chromium did not answer in time")
            ready, _, _ = select.select([self.read_fd], [], [], left)
            if ready:
                chunk = os.read(self.read_fd, 1 << 20)
                if not chunk:
                    raise RuntimeError("Chromium closed its DevTools pipe")
                self.buf += chunk
        raw, self.buf = self.buf.split(b"\0", 1)
        msg: dict[str, Any] = json.loads(raw)
        return msg

    def call(
        self, method: str, params: dict[str, Any] | None = None, session: str | None = None, timeout: float = 30.0
    ) -> dict[str, Any]:
        want = self.send(method, params, session)
        deadline = time.monotonic() + timeout
        while True:
            msg = self._read_one(deadline)
            if msg.get("id") == want:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                result: dict[str, Any] = msg.get("result", {})
                return result
            if "method" in msg:
                self.events.append(msg)

    def drain(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        try:
            while True:
                msg = self._read_one(deadline)
                if "method" in msg:
                    self.events.append(msg)
        except TimeoutError:
            pass


def visit(
    url: str,
    *,
    chromium: str,
    probe: str = "null",
    width: int = 1400,
    height: int = 900,
    timeout_s: float = 60.0,
    screenshot: bool = True,
) -> PageVisit:
    """Open ``url``; wait until ``document.body.dataset.ready`` is set; evaluate ``probe`` (a JS expression whose
    value is JSON-serialisable); take a full-page screenshot. Raises ``TimeoutError`` if the page never gets ready.
    """
    to_chrome_r, to_chrome_w = os.pipe()
    from_chrome_r, from_chrome_w = os.pipe()

    def child_fds() -> None:  # runs in the child: its fd 3 reads our commands, its fd 4 carries its answers
        high_r, high_w = os.dup(to_chrome_r), os.dup(from_chrome_w)  # out of the way of 3 and 4 first
        os.dup2(high_r, 3)
        os.dup2(high_w, 4)

    with tempfile.TemporaryDirectory(prefix="wattwatch-chromium-") as profile:
        proc = subprocess.Popen(
            [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}", "about:blank"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=child_fds,
            pass_fds=(3, 4),  # kept open by subprocess after child_fds() put the pipes there
        )
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        pipe = _Pipe(proc, to_chrome_w, from_chrome_r)
        try:
            return _run(pipe, url, probe, width, height, timeout_s, screenshot)
        finally:
            try:
                pipe.send("Browser.close")
            except OSError:
                pass
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            os.close(to_chrome_w)
            os.close(from_chrome_r)


def _run(pipe: _Pipe, url: str, probe: str, width: int, height: int, timeout_s: float, shot: bool) -> PageVisit:
    out = PageVisit()
    targets = pipe.call("Target.getTargets", timeout=timeout_s)["targetInfos"]
    page = next(t for t in targets if t["type"] == "page")
    session = pipe.call("Target.attachToTarget", {"targetId": page["targetId"], "flatten": True})["sessionId"]
    for domain in ("Network.enable", "Page.enable", "Runtime.enable", "Log.enable"):
        pipe.call(domain, session=session)
    pipe.call(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
        session=session,
    )
    start = time.monotonic()
    pipe.call("Page.navigate", {"url": url}, session=session, timeout=timeout_s)
    deadline = start + timeout_s
    ready = None
    while time.monotonic() < deadline:
        res = pipe.call(
            "Runtime.evaluate",
            {"expression": "document.body ? (document.body.dataset.ready || '') : ''", "returnByValue": True},
            session=session,
        )
        ready = res.get("result", {}).get("value")
        if ready == "1":
            break
        pipe.drain(0.05)
    out.wall_s = time.monotonic() - start
    if ready != "1":
        _collect(pipe, out)
        raise TimeoutError(f"page never became ready in {timeout_s:.0f} s; errors: {out.errors[:5]}")
    res = pipe.call(
        "Runtime.evaluate",
        {"expression": f"JSON.stringify({{ready: Number(document.body.dataset.readyMs), probe: ({probe})}})", "returnByValue": True},
        session=session,
    )
    value = json.loads(res["result"]["value"])
    out.ready_ms, out.probe = value["ready"], value["probe"]
    if shot:
        metrics = pipe.call("Page.getLayoutMetrics", session=session)
        full_h = int(metrics["cssContentSize"]["height"])
        pipe.call(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": min(full_h, 8000), "deviceScaleFactor": 1, "mobile": False},
            session=session,
        )
        pipe.drain(0.3)  # let charts redraw at the new size
        png = pipe.call("Page.captureScreenshot", {"format": "png"}, session=session, timeout=timeout_s)["data"]
        out.screenshot_png = base64.b64decode(png)
    pipe.drain(0.2)
    _collect(pipe, out)
    return out


def _collect(pipe: _Pipe, out: PageVisit) -> None:
    urls: dict[str, str] = {}
    for ev in pipe.events:
        method, params = ev["method"], ev.get("params", {})
        if method == "Network.requestWillBeSent":
            out.requests.append(params["request"]["url"])
            urls[params["requestId"]] = params["request"]["url"]
        elif method == "Network.loadingFailed" and params.get("blockedReason"):
            out.blocked[urls.get(params["requestId"], params["requestId"])] = params["blockedReason"]
        elif method == "Runtime.exceptionThrown":
            out.errors.append(json.dumps(params.get("exceptionDetails", {}))[:500])
        elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "warning", "assert"):
            out.errors.append(str([a.get("value", a.get("description")) for a in params.get("args", [])])[:500])
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") in ("error", "warning"):
            out.errors.append(str(params["entry"].get("text"))[:500])
    pipe.events.clear()


def save(visit_result: PageVisit, path: str | os.PathLike[str]) -> Path:
    """Write the screenshot to ``path``."""
    p = Path(path)
    p.write_bytes(visit_result.screenshot_png)
    return p
