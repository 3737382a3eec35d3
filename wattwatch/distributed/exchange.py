"""Exchanging the ranks' parts through the process group's key-value store (the c10d ``Store``): a few KB of
JSON per rank, no tensor, nothing on the training's CUDA streams, any backend. torch is never imported here
unless the program already did.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Mapping
from datetime import timedelta
from typing import Any, Protocol

__all__ = ["Store", "default_store", "exchange_parts"]

log = logging.getLogger("wattwatch")


class Store(Protocol):
    """The part of ``torch.distributed.Store`` the exchange uses."""

    def set(self, key: str, value: str) -> None: ...

    def get(self, key: str) -> bytes: ...

    def wait(self, keys: list[str], timeout: timedelta) -> None: ...

    def check(self, keys: list[str]) -> bool: ...

    def add(self, key: str, amount: int) -> int: ...

    def delete_key(self, key: str) -> bool: ...


def default_store() -> Store | None:
    """The initialised default process group's key-value store, or ``None`` (torch never imported here)."""
    if "torch" not in sys.modules:
        return None
    try:
        import torch.distributed as dist

        if not (dist.is_available() and dist.is_initialized()):
            return None
        from torch.distributed import distributed_c10d

        store: Store = distributed_c10d._get_default_store()
        return store
    except Exception:  # noqa: BLE001
        return None


def exchange_parts(
    store: Store,
    key: str,
    rank: int,
    world_size: int,
    payload: Mapping[str, Any],
    timeout_s: float,
) -> tuple[dict[int, dict[str, Any]], list[int]] | None:
    """All ranks' payloads through ``store`` (a c10d ``Store``), every rank getting the same answer.

    Rank 0 waits at most ``timeout_s`` for the others, then publishes what it has and which ranks did not
    answer; the other ranks wait at most ``2 * timeout_s + 5`` for that. Returns ``(payloads by rank, missing
    ranks)``, or ``None`` when this rank could not take part (store error, rank 0 silent).
    """
    try:
        store.set(f"{key}/{rank}", json.dumps(payload, separators=(",", ":")))
        if rank == 0:
            keys = [f"{key}/{r}" for r in range(world_size)]
            try:
                store.wait(keys, timedelta(seconds=timeout_s))
            except Exception:  # noqa: BLE001 - timeout: some rank is late or dead
                pass
            got: dict[int, dict[str, Any]] = {}
            missing: list[int] = []
            for r in range(world_size):
                if store.check([f"{key}/{r}"]):
                    got[r] = json.loads(store.get(f"{key}/{r}"))
                    _delete(store, f"{key}/{r}")
                else:
                    missing.append(r)
            result = {"parts": {str(r): v for r, v in got.items()}, "missing": missing}
            store.set(f"{key}/result", json.dumps(result, separators=(",", ":")))
            if len(got) > 1:
                # Rank 0 often hosts the store: stay until every reader has the result, then clean up.
                try:
                    store.wait([f"{key}/done"], timedelta(seconds=min(timeout_s, 30.0)))
                except Exception:  # noqa: BLE001
                    pass
            for suffix in ("result", "read", "done"):
                _delete(store, f"{key}/{suffix}")
            return got, missing
        store.wait([f"{key}/result"], timedelta(seconds=2 * timeout_s + 5))
        result = json.loads(store.get(f"{key}/result"))
        readers = len(result["parts"]) - 1
        if int(store.add(f"{key}/read", 1)) >= readers:
            store.set(f"{key}/done", "1")
        return {int(r): v for r, v in result["parts"].items()}, [int(r) for r in result["missing"]]
    except Exception as exc:  # noqa: BLE001 - never into user code
        log.warning(
            "wattwatch: exchanging totals with the other ranks failed (%s); using the part files", exc
        )
        return None


def _delete(store: Store, key: str) -> None:
    try:
        store.delete_key(key)
    except Exception:  # noqa: BLE001 - FileStore and old stores may not delete
        pass

