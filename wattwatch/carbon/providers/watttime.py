"""WattTime (API v3): the grid's *marginal* emissions rate (MOER) now and ahead.

- ``GET {base}/login`` with HTTP Basic auth (``$WATTTIME_USER`` / ``$WATTTIME_USERNAME``, ``$WATTTIME_PASSWORD``)
  -> ``{"token": "..."}`` (valid 30 minutes; kept 25 in memory);
- ``GET {base}/v3/forecast?region=CAISO_NORTH&signal_type=co2_moer`` with ``Authorization: Bearer <token>`` ->
  ``{"meta": {"units": "lbs_co2_per_mwh", "data_point_period_seconds": 300, "generated_at": ...},
  "data": [{"point_time": "...", "value": 850.2}, ...]}``: the current 5-minute interval first, then the hours
  ahead (its first point is WattTime's figure for now);
- when the forecast is refused (HTTP 403: not in the plan), ``GET {base}/v3/signal-index?region=...
  &signal_type=co2_moer`` -> ``{"data": [{"point_time": ..., "value": 73}], "meta": {"units": "percentile"}}``:
  a percentile (0 cleanest, 100 dirtiest) with no g/kWh, recorded in the source only.

``base`` is ``https://api.watttime.org`` unless ``$WATTWATCH_WATTTIME_URL`` says otherwise. lbs/MWh x 0.45359237
= g/kWh. Units: gCO2eq/kWh, unix seconds.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from urllib.parse import quote

from wattwatch.carbon.providers.base import ProviderData, ProviderError, check_value, ordered, parse_time
from wattwatch.carbon.providers.http import get_json

__all__ = ["DEFAULT_URL", "PASSWORD_ENV", "URL_ENV", "USER_ENV", "WattTimeClient", "parse_forecast", "parse_index"]

DEFAULT_URL = "https://api.watttime.org"
USER_ENV = ("WATTTIME_USER", "WATTTIME_USERNAME")
PASSWORD_ENV = ("WATTTIME_PASSWORD",)
URL_ENV = "WATTWATCH_WATTTIME_URL"
TOKEN_LIFE_S = 25 * 60.0
_TO_G_PER_KWH = {"lbs_co2_per_mwh": 0.45359237, "kg_co2_per_mwh": 1.0, "g_co2_per_kwh": 1.0}


def _data(obj: object, what: str) -> tuple[list[object], dict[str, object]]:
    if not isinstance(obj, dict) or not isinstance(obj.get("data"), list):
        raise ProviderError(f"{what} did not answer an object with a data list")
    meta = obj.get("meta")
    return obj["data"], meta if isinstance(meta, dict) else {}


def parse_forecast(obj: object) -> tuple[list[tuple[float, float]], float]:
    """``([(start, g/kWh)], step seconds)`` from a ``/v3/forecast`` answer."""
    data, meta = _data(obj, "/v3/forecast")
    units = meta.get("units")
    scale = _TO_G_PER_KWH.get(units) if isinstance(units, str) else None
    if scale is None:
        raise ProviderError(f"/v3/forecast gave values in {str(units)[:30]!r}, not lbs_co2_per_mwh")
    period = meta.get("data_point_period_seconds", 300)
    step = float(period) if isinstance(period, int | float) and not isinstance(period, bool) and 0 < period <= 86400 else 300.0
    out = []
    for item in data:
        if not isinstance(item, dict):
            raise ProviderError("a forecast point is not an object")
        value = item.get("value")
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = value * scale
        out.append((parse_time(item.get("point_time"), "point_time"), check_value(value, "MOER")))
    if not out:
        raise ProviderError("/v3/forecast answered no points")
    return out, step


def parse_index(obj: object) -> float:
    """The percentile (0-100) of a ``/v3/signal-index`` answer."""
    data, _meta = _data(obj, "/v3/signal-index")
    if not data or not isinstance(data[0], dict):
        raise ProviderError("/v3/signal-index answered no point")
    value = data[0].get("value")
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 100:
        raise ProviderError(f"/v3/signal-index value {str(value)[:20]!r} is not a percentile")
    return float(value)


class WattTimeClient:
    """Logs in (token kept :data:`TOKEN_LIFE_S`) and fetches ``region``'s MOER forecast."""

    def __init__(self, region: str, user: str, password: str, base: str, *, timeout_s: float = 10.0) -> None:
        self.region = region
        self._auth = (user, password)
        self.base = base.rstrip("/")
        self.timeout_s = timeout_s
        self._token: tuple[str, float] | None = None
        self._lock = threading.Lock()

    def _bearer(self) -> dict[str, str]:
        with self._lock:
            if self._token is None or time.monotonic() > self._token[1]:
                answer = get_json(f"{self.base}/login", basic_auth=self._auth, timeout_s=self.timeout_s)
                token = answer.get("token") if isinstance(answer, dict) else None
                if not isinstance(token, str) or not token or len(token) > 4096:
                    raise ProviderError("login answered no token (check WATTTIME_USER / WATTTIME_PASSWORD)")
                self._token = (token, time.monotonic() + TOKEN_LIFE_S)
            return {"Authorization": f"Bearer {self._token[0]}"}

    def fetch(self, *, wall_clock: Callable[[], float], forecast: bool = True) -> ProviderData:
        """The MOER series (the forecast answers both now and ahead, so ``forecast`` changes nothing here)."""
        q = f"region={quote(self.region, safe='-_')}&signal_type=co2_moer"
        headers = self._bearer()
        try:
            points, step = parse_forecast(get_json(f"{self.base}/v3/forecast?{q}", headers=headers, timeout_s=self.timeout_s))
        except ProviderError as exc:
            if "HTTP 403" not in str(exc):
                raise
            pct = parse_index(get_json(f"{self.base}/v3/signal-index?{q}", headers=headers, timeout_s=self.timeout_s))
            return ProviderData((), 300.0, wall_clock(), False, f"signal-index percentile {pct:.0f} (no forecast access: no g/kWh)")
        return ProviderData(ordered(points), step, wall_clock(), True, "co2_moer forecast, lbs/MWh x 0.4536")
