"""One bounded JSON request over plain HTTP(S) (``urllib``): the providers' only network access.

No provider's own client is used: Electricity Maps has no official Python client, and WattTime's (``watttime``
on PyPI) imports pandas at module level and sends its data requests without a timeout -- neither is sound on a
training run's path. Here every request has a timeout, a size bound and one error type
(:class:`~wattwatch.carbon.providers.base.ProviderError`); credentials go in headers and never into messages.
A loopback URL (tests, a local relay) is fetched without the environment's proxy.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping

from wattwatch.carbon.providers.base import ProviderError

__all__ = ["MAX_BYTES", "get_json"]

MAX_BYTES = 2_000_000
"""Largest answer read (a week of 5-minute forecast points is ~200 KB)."""


def get_json(
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    basic_auth: tuple[str, str] | None = None,
    timeout_s: float = 10.0,
) -> object:
    """``GET url`` and parse its JSON body. ``ProviderError`` (without secrets) for a network fault, an HTTP
    error status, an answer over :data:`MAX_BYTES` or a body that is not JSON."""
    import urllib.error
    import urllib.parse
    import urllib.request

    from wattwatch import __version__

    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise ProviderError(f"not an http(s) URL: {parts.scheme or '?'}://")
    where = parts.netloc or "?"
    sent = {"Accept": "application/json", "User-Agent": f"wattwatch/{__version__}", **(headers or {})}
    if basic_auth is not None:
        token = base64.b64encode(f"{basic_auth[0]}:{basic_auth[1]}".encode()).decode("ascii")
        sent["Authorization"] = f"Basic {token}"
    request = urllib.request.Request(url, headers=sent, method="GET")
    loopback = parts.hostname in ("127.0.0.1", "localhost", "::1")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({})) if loopback else urllib.request.build_opener()
    try:
        with opener.open(request, timeout=timeout_s) as response:
            body = response.read(MAX_BYTES + 1)
    except urllib.error.HTTPError as exc:
        raise ProviderError(f"{where} answered HTTP {exc.code} ({exc.reason})") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ProviderError(f"{where} unreachable ({reason})") from None
    if len(body) > MAX_BYTES:
        raise ProviderError(f"{where} answered more than {MAX_BYTES:,} bytes")
    try:
        return json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise ProviderError(f"{where} answered something that is not JSON ({body[:40]!r})") from None
