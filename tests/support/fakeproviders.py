"""A local HTTP server on 127.0.0.1 that answers as Electricity Maps (API v3) and WattTime (API v3) document,
for the live-intensity tests: no mock of the HTTP client, real sockets, real ``urllib``.

Routes (the response shapes the providers document; values set by the test):

- ``GET /em/v3/carbon-intensity/latest?zone=Z`` (header ``auth-token``) -> ``{"zone", "carbonIntensity",
  "datetime", "updatedAt", "createdAt", "emissionFactorType", "isEstimated", "estimationMethod"}``;
- ``GET /em/v3/carbon-intensity/forecast?zone=Z`` -> ``{"zone", "forecast": [{"carbonIntensity", "datetime"}],
  "updatedAt"}``;
- ``GET /wt/login`` (HTTP Basic) -> ``{"token"}``;
- ``GET /wt/v3/forecast?region=R&signal_type=co2_moer`` (Bearer) -> ``{"data": [{"point_time", "value"}],
  "meta": {"region", "signal_type", "units": "lbs_co2_per_mwh", "data_point_period_seconds": 300, ...}}``;
- ``GET /wt/v3/signal-index?region=R&signal_type=co2_moer`` -> ``{"data": [{"point_time", "value"}],
  "meta": {"units": "percentile", ...}}``.

``ProviderServer.requests`` lists the paths asked (thread-safe); ``mode`` switches an answer to a fault
(``"malformed"``, ``"error"``, ``"forbidden"``); ``delay_s`` slows every answer (to overlap two processes).
Usage::

    with ProviderServer() as server:
        env = server.env(tmp_path)      # URLs, credentials and a private cache folder for a tracker's environ=
"""

from __future__ import annotations

import base64
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

__all__ = ["ProviderServer", "iso"]

KEY = "test-key"
USER, PASSWORD, TOKEN = "wt-user", "wt-pass", "wt-token-123"


def iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(t))


class ProviderServer:
    """The fake providers (see the module doc). ``em_g`` is the latest average g/kWh, ``em_forecast`` the
    forecast's ``[(unix s, g/kWh)]``; ``moer_lbs`` WattTime's ``[(unix s, lbs/MWh)]``."""

    def __init__(self) -> None:
        now = time.time()
        hour = now - now % 3600
        self.em_g = 123.0
        self.em_hour = hour
        self.em_forecast: list[tuple[float, float]] = [(hour + 3600 * i, 100.0 + 10 * i) for i in range(1, 25)]
        start = now - now % 300
        self.moer_lbs: list[tuple[float, float]] = [(start + 300 * i, 900.0 - i) for i in range(0, 288)]
        self.mode: dict[str, str] = {}
        self.delay_s = 0.0
        self.requests: list[str] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def env(self, tmp: Path) -> dict[str, str]:
        """An ``environ`` for a tracker: both providers' URLs and credentials, and a cache folder in ``tmp``."""
        return {
            "WATTWATCH_ELECTRICITYMAPS_URL": f"{self.url}/em/v3",
            "ELECTRICITYMAPS_API_KEY": KEY,
            "WATTWATCH_WATTTIME_URL": f"{self.url}/wt",
            "WATTTIME_USER": USER,
            "WATTTIME_PASSWORD": PASSWORD,
            "WATTWATCH_CACHE_DIR": str(tmp / "cache"),
        }

    def count(self, fragment: str) -> int:
        with self._lock:
            return sum(1 for r in self.requests if fragment in r)

    def __enter__(self) -> ProviderServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    # -- answers ---------------------------------------------------------------------------------------------
    def answer(self, path: str, query: dict[str, list[str]], headers: Any) -> tuple[int, object]:
        route = path.rstrip("/")
        mode = self.mode.get(route.rsplit("/", 1)[-1], "")
        if mode == "error":
            return 500, {"message": "internal error"}
        if mode == "forbidden":
            return 403, {"error": "not in your plan"}
        if route.startswith("/em/"):
            if headers.get("auth-token") != KEY:
                return 401, {"message": "bad key"}
            body = self._em(route, query.get("zone", [""])[0])
        elif route == "/wt/login":
            expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
            if headers.get("Authorization") != expected:
                return 403, {"error": "bad credentials"}
            body = {"token": TOKEN}
        elif route.startswith("/wt/"):
            if headers.get("Authorization") != f"Bearer {TOKEN}":
                return 401, {"error": "bad token"}
            body = self._wt(route, query.get("region", [""])[0])
        else:
            return 404, {"error": "no such route"}
        if mode == "malformed":
            return 200, _malformed(body)
        return 200, body

    def _em(self, route: str, zone: str) -> object:
        if route.endswith("/latest"):
            return {
                "zone": zone,
                "carbonIntensity": self.em_g,
                "datetime": iso(self.em_hour),
                "updatedAt": iso(time.time()),
                "createdAt": iso(self.em_hour),
                "emissionFactorType": "lifecycle",
                "isEstimated": True,
                "estimationMethod": "TIME_SLICER_AVERAGE",
            }
        return {
            "zone": zone,
            "forecast": [{"carbonIntensity": g, "datetime": iso(t)} for t, g in self.em_forecast],
            "updatedAt": iso(time.time()),
        }

    def _wt(self, route: str, region: str) -> object:
        meta = {"region": region, "signal_type": "co2_moer", "model": {"date": "2023-03-01"}, "warnings": []}
        if route.endswith("/signal-index"):
            return {"data": [{"point_time": iso(time.time()), "value": 73.0}], "meta": {**meta, "units": "percentile"}}
        return {
            "data": [{"point_time": iso(t), "value": v} for t, v in self.moer_lbs],
            "meta": {
                **meta,
                "units": "lbs_co2_per_mwh",
                "data_point_period_seconds": 300,
                "generated_at_period_seconds": 300,
                "generated_at": iso(self.moer_lbs[0][0]),
            },
        }

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                parts = urlsplit(self.path)
                with server._lock:
                    server.requests.append(parts.path)
                if server.delay_s:
                    time.sleep(server.delay_s)
                status, body = server.answer(parts.path, parse_qs(parts.query), self.headers)
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

        return Handler


def _malformed(body: object) -> object:
    """The answer with its numbers replaced by text, or not JSON at all."""
    if isinstance(body, dict) and "carbonIntensity" in body:
        return {**body, "carbonIntensity": "n/a"}
    if isinstance(body, dict) and "forecast" in body:
        return {**body, "forecast": [{"carbonIntensity": -5, "datetime": "soon"}]}
    if isinstance(body, dict) and "data" in body:
        return {**body, "meta": {"units": "furlongs"}}
    return b"<html>502 Bad Gateway</html>"
