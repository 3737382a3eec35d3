"""Electricity Maps (API v3): the grid's average carbon intensity now and, when a pause rule needs it, its
forecast.

- ``GET {base}/carbon-intensity/latest?zone=FR`` with header ``auth-token: $ELECTRICITYMAPS_API_KEY`` ->
  ``{"zone": "FR", "carbonIntensity": 45, "datetime": "2026-05-04T14:00:00.000Z", "updatedAt": ...,
  "emissionFactorType": "lifecycle", "isEstimated": false, ...}``: the hour starting at ``datetime``;
- ``GET {base}/carbon-intensity/forecast?zone=FR`` -> ``{"zone": "FR", "forecast": [{"carbonIntensity": 40,
  "datetime": "2026-05-04T15:00:00.000Z"}, ...], "updatedAt": ...}``: the hours ahead.

``base`` is ``https://api.electricitymap.org/v3`` unless ``$WATTWATCH_ELECTRICITYMAPS_URL`` says otherwise.
Units: gCO2eq/kWh, unix seconds.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import quote

from wattwatch.carbon.providers.base import ProviderData, ProviderError, check_value, ordered, parse_time
from wattwatch.carbon.providers.http import get_json

__all__ = ["DEFAULT_URL", "KEY_ENV", "URL_ENV", "fetch", "parse_forecast", "parse_latest"]

DEFAULT_URL = "https://api.electricitymap.org/v3"
KEY_ENV = ("ELECTRICITYMAPS_API_KEY", "ELECTRICITYMAPS_TOKEN")
"""Environment variables read, in order, for the API key."""
URL_ENV = "WATTWATCH_ELECTRICITYMAPS_URL"
STEP_S = 3600.0


def _zone_checked(obj: dict[str, object], zone: str, what: str) -> None:
    got = obj.get("zone")
    if got is not None and (not isinstance(got, str) or got.upper() != zone.upper()):
        raise ProviderError(f"{what} is for zone {str(got)[:20]!r}, not {zone!r}")


def parse_latest(obj: object, zone: str) -> tuple[float, float, str]:
    """``(hour start, g/kWh, emission factor type)`` from a ``carbon-intensity/latest`` answer."""
    if not isinstance(obj, dict):
        raise ProviderError("carbon-intensity/latest did not answer a JSON object")
    _zone_checked(obj, zone, "carbon-intensity/latest")
    g = check_value(obj.get("carbonIntensity"), "carbonIntensity")
    t = parse_time(obj.get("datetime"), "datetime")
    kind = obj.get("emissionFactorType")
    return t, g, kind if isinstance(kind, str) and kind.isalnum() and len(kind) < 20 else ""


def parse_forecast(obj: object, zone: str) -> list[tuple[float, float]]:
    """``[(hour start, g/kWh)]`` from a ``carbon-intensity/forecast`` answer."""
    if not isinstance(obj, dict) or not isinstance(obj.get("forecast"), list):
        raise ProviderError("carbon-intensity/forecast did not answer an object with a forecast list")
    _zone_checked(obj, zone, "carbon-intensity/forecast")
    out = []
    for item in obj["forecast"]:
        if not isinstance(item, dict):
            raise ProviderError("a forecast point is not an object")
        out.append((parse_time(item.get("datetime"), "forecast datetime"), check_value(item.get("carbonIntensity"), "forecast carbonIntensity")))
    return out


def fetch(
    zone: str, api_key: str, base: str, *, forecast: bool, wall_clock: Callable[[], float], timeout_s: float = 10.0
) -> ProviderData:
    """Ask for the latest value (and the forecast when ``forecast``): one request each."""
    headers = {"auth-token": api_key}
    q = quote(zone, safe="-_")
    t, g, kind = parse_latest(get_json(f"{base}/carbon-intensity/latest?zone={q}", headers=headers, timeout_s=timeout_s), zone)
    points = [(t, g)]
    if forecast:
        ahead = parse_forecast(get_json(f"{base}/carbon-intensity/forecast?zone={q}", headers=headers, timeout_s=timeout_s), zone)
        points += [(ft, fg) for ft, fg in ahead if ft >= t + STEP_S]
    note = ", ".join(x for x in (kind, "with forecast" if forecast else "") if x)
    return ProviderData(ordered(points), STEP_S, wall_clock(), forecast, note)
