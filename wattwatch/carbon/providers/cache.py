"""The on-disk cache every process on the host shares: at most one request per provider and zone per
:data:`MAX_AGE_S`, whoever asks.

One JSON file per provider, zone and API address in the cache folder (``$WATTWATCH_CACHE_DIR``, else
``$XDG_CACHE_HOME/wattwatch/intensity``, else ``~/.cache/wattwatch/intensity``; created 0700), guarded by an
exclusive ``flock`` on ``<file>.lock``. :meth:`SharedCache.get` takes the lock, and asks the provider only when
the last *attempt* -- by any process -- is older than ``max_age_s``; the others wait on the lock and read what it
wrote. A failed attempt keeps the last good answer in the file (it is then served as ``stale``) and still
counts: an unreachable provider is not asked again within ``max_age_s``.

The file is outside data (another user may share the folder): opened without following links, at most
:data:`MAX_FILE_BYTES` read, every value checked (:class:`~wattwatch.carbon.providers.base.ProviderData`); a file
that does not pass is ignored and replaced. Written to a temporary file and renamed. Units: unix seconds.
"""

from __future__ import annotations

import json
import os
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from wattwatch.carbon.providers.base import ProviderData, ProviderError
from wattwatch.util.flock import FileLock, LockTimeout

__all__ = ["MAX_AGE_S", "CacheRead", "SharedCache", "cache_folder"]

MAX_AGE_S = 300.0
"""Seconds an answer (or a failed attempt) is shared before anyone asks again."""
MAX_FILE_BYTES = 1_000_000


def cache_folder(environ: Mapping[str, str]) -> Path:
    """Where the cache lives (see the module doc)."""
    if environ.get("WATTWATCH_CACHE_DIR"):
        return Path(environ["WATTWATCH_CACHE_DIR"])
    base = environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "wattwatch" / "intensity"


@dataclass(frozen=True)
class CacheRead:
    """What :meth:`SharedCache.get` found: the ``data`` (``None``: nothing usable), its ``state`` -- ``fetched``
    (asked now), ``shared`` (asked by someone within ``max_age_s``), ``stale`` (the last attempt failed; older
    data), ``none`` -- the last attempt's ``error`` and when it was (``attempted_at``, unix s)."""

    data: ProviderData | None
    state: str
    error: str | None
    attempted_at: float


class SharedCache:
    """The cache file of one provider (``name``), zone and API address (``base``)."""

    def __init__(
        self,
        folder: Path,
        name: str,
        zone: str,
        base: str,
        *,
        wall_clock: Callable[[], float],
        max_age_s: float = MAX_AGE_S,
        lock_timeout_s: float = 60.0,
    ) -> None:
        self.path = folder / f"{name}-{zone}-{zlib.crc32(base.encode()):08x}.json"
        self._lock = FileLock(str(self.path) + ".lock", timeout=lock_timeout_s)
        self._wall = wall_clock
        self.max_age_s = max_age_s

    def get(self, fetch: Callable[[], ProviderData], *, need_forecast: bool = False) -> CacheRead:
        """The answer shared by every process (see the module doc); ``fetch()`` runs at most once per
        ``max_age_s`` across them. Never raises for the provider's faults (they are in ``error``); a folder that
        cannot be written is a ``ProviderError``."""
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            with self._lock:
                return self._get_locked(fetch, need_forecast)
        except (OSError, LockTimeout) as exc:
            raise ProviderError(f"cache folder {self.path.parent} unusable ({exc})") from None

    def _get_locked(self, fetch: Callable[[], ProviderData], need_forecast: bool) -> CacheRead:
        entry = self._read()
        now = self._wall()
        old = entry.get("data") if entry else None
        attempted = entry.get("attempted_at") if entry else None
        fresh = isinstance(attempted, float) and 0 <= now - attempted < self.max_age_s
        if fresh and (not need_forecast or (isinstance(old, ProviderData) and old.forecast)):
            error = entry.get("error") if entry else None
            state = "shared" if error is None and old is not None else ("stale" if old is not None else "none")
            return CacheRead(old if isinstance(old, ProviderData) else None, state, error if isinstance(error, str) else None, float(attempted))  # type: ignore[arg-type]
        try:
            data = fetch()
        except ProviderError as exc:
            kept = old if isinstance(old, ProviderData) else None
            self._write(kept, now, str(exc))
            return CacheRead(kept, "stale" if kept is not None else "none", str(exc), now)
        self._write(data, now, None)
        return CacheRead(data, "fetched", None, now)

    def _read(self) -> dict[str, object] | None:
        try:
            fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0))
        except OSError:
            return None
        try:
            raw = os.read(fd, MAX_FILE_BYTES + 1)
        except OSError:
            return None
        finally:
            os.close(fd)
        try:
            obj = json.loads(raw.decode("utf-8")) if len(raw) <= MAX_FILE_BYTES else None
        except (UnicodeDecodeError, ValueError):
            return None
        if not isinstance(obj, dict) or not isinstance(obj.get("attempted_at"), int | float):
            return None
        out: dict[str, object] = {"attempted_at": float(obj["attempted_at"])}
        error = obj.get("error")
        out["error"] = error[:300] if isinstance(error, str) else None
        try:
            out["data"] = ProviderData.from_json(obj["data"]) if obj.get("data") is not None else None
        except ProviderError:
            return None
        return out

    def _write(self, data: ProviderData | None, attempted_at: float, error: str | None) -> None:
        text = json.dumps(
            {"attempted_at": attempted_at, "error": error, "data": data.to_json() if data is not None else None},
            separators=(",", ":"),
        )
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
        try:
            fd = os.open(tmp, flags, 0o600)
            try:
                os.write(fd, text.encode("utf-8"))
            finally:
                os.close(fd)
            os.replace(tmp, self.path)
        except OSError:
            try:
                os.unlink(tmp)
            except OSError:
                pass
