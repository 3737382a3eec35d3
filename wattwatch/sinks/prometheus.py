"""A pull ``/metrics`` endpoint (Prometheus text format) for a running :class:`~wattwatch.run.tracker.Tracker`.

``start_exporter(tracker, port=9101)`` serves, from a private ``CollectorRegistry`` (never the process-wide
default one, so two trackers or the user's own metrics never clash), metrics read from the tracker at scrape
time -- nothing is pushed and nothing runs between scrapes:

- ``wattwatch_power_watts`` (gauge): each device's power over the latest sampling interval, W (no PUE);
- ``wattwatch_energy_joules_total`` (counter): each device's energy since the run began, J (no PUE);
- ``wattwatch_facility_energy_kwh_total`` (counter, ``device="all"``): the run's energy with PUE applied, kWh
  (CodeCarbon's ``energy_consumed``);
- ``wattwatch_emissions_kg_total`` (counter, ``device="all"``): the run's emissions, kg CO2eq;
- ``wattwatch_projected_emissions_kg`` / ``wattwatch_projected_energy_kwh`` (gauges) when a projection exists.

Every sample carries the labels ``run``, ``project``, ``node`` and ``device``. The server binds to 127.0.0.1
unless told otherwise; in a distributed run each node serves its own endpoint. It is wattwatch's own
(:mod:`wattwatch.sinks.metrics_server`: one thread, at most 64 connections, 5 s per connection), not
prometheus_client's thread-per-connection server, and renders the page once per sample, not per scrape: a
training process stays unharmed by scrapers, slow or many (``docs/security.md``).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Protocol

from wattwatch.errors import ConfigurationError

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from wattwatch.distributed.topology import Topology
    from wattwatch.measure.ledger import LedgerSnapshot
    from wattwatch.result import EmissionsData

__all__ = ["MIN_RENDER_S", "Exporter", "MetricsSource", "TrackerCollector", "start_exporter"]

_LABELS = ["run", "project", "node", "device"]
MIN_RENDER_S = 0.25
"""Shortest time between two renders of the page (s): Prometheus scrapes every 15 s by default, so a page at
most a quarter of a second old costs nothing, where a render per 20 ms sample took about 1 % of a core."""
_RENDER_EVERY_S = 1.0
"""Longest a page is served from the cache when the source has no listeners to say a sample came."""


class MetricsSource(Protocol):
    """What a scrape reads (a :class:`~wattwatch.run.tracker.Tracker` is one)."""

    @property
    def topology(self) -> Topology | None: ...

    def current(self) -> EmissionsData: ...

    def snapshot(self) -> LedgerSnapshot | None: ...


def _node(tracker: MetricsSource) -> str:
    topology = tracker.topology
    node = topology.node_id if topology is not None else ""
    if node:
        return str(node)
    import socket

    return socket.gethostname()


class TrackerCollector:
    """A ``prometheus_client`` collector that reads ``tracker.current()`` and ``tracker.snapshot()`` when
    scraped. Errors while reading give an empty scrape, never an exception in the server thread."""

    def __init__(self, tracker: MetricsSource) -> None:
        self.tracker = tracker

    def describe(self) -> list[Any]:
        return []  # metrics appear and go with the run; no fixed description

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        tracker = self.tracker
        try:
            data = tracker.current()
            snap = tracker.snapshot()
        except Exception:  # a scrape never breaks the run
            return
        base = [str(data.run_id), str(data.project_name), _node(tracker)]
        power = GaugeMetricFamily(
            "wattwatch_power_watts",
            "Power of one device over the latest sampling interval (W, no PUE)",
            labels=_LABELS,
        )
        energy = CounterMetricFamily(
            "wattwatch_energy_joules", "Energy of one device since the run began (J, no PUE)", labels=_LABELS
        )
        if snap is not None:
            for name, ch in sorted(snap.channels.items()):
                if ch.power_w is not None and not ch.in_gap:
                    power.add_metric([*base, name], float(ch.power_w))
                energy.add_metric([*base, name], float(ch.energy_j))
        yield power
        yield energy
        total = CounterMetricFamily(
            "wattwatch_facility_energy_kwh",
            "Energy of the run with PUE applied (kWh, CodeCarbon's energy_consumed)",
            labels=_LABELS,
        )
        total.add_metric([*base, "all"], float(data.energy_consumed))
        yield total
        co2 = CounterMetricFamily("wattwatch_emissions_kg", "Emissions of the run (kg CO2eq)", labels=_LABELS)
        co2.add_metric([*base, "all"], float(data.emissions))
        yield co2
        if data.projected_emissions_kg is not None and data.projected_energy_kwh is not None:
            pe = GaugeMetricFamily(
                "wattwatch_projected_energy_kwh",
                "Projected energy at the end of the run (kWh)",
                labels=_LABELS,
            )
            pe.add_metric([*base, "all"], float(data.projected_energy_kwh))
            yield pe
            pk = GaugeMetricFamily(
                "wattwatch_projected_emissions_kg",
                "Projected emissions at the end of the run (kg)",
                labels=_LABELS,
            )
            pk.add_metric([*base, "all"], float(data.projected_emissions_kg))
            yield pk


class Exporter:
    """A running ``/metrics`` endpoint (:class:`~wattwatch.sinks.metrics_server.MetricsServer`: one thread,
    bounded connections, per-connection timeouts); :meth:`close` shuts it down (idempotent), its thread and
    sockets gone when it returns.

    The page is rendered once per sample, not per scrape: the tracker's sampler bumps a counter after each
    reading (a listener), and a scrape re-renders only when it moved -- and at most every ``min_render_s``
    (default :data:`MIN_RENDER_S`: with 20 ms sampling, 4 renders a second instead of 50) -- so 100 scrapes a
    second cost a few renders plus the bytes sent. A source without listeners is re-rendered at most every
    :data:`_RENDER_EVERY_S` seconds."""

    def __init__(
        self,
        tracker: MetricsSource,
        registry: CollectorRegistry,
        host: str,
        port: int,
        *,
        min_render_s: float = MIN_RENDER_S,
    ) -> None:
        from prometheus_client import CONTENT_TYPE_LATEST

        from wattwatch.sinks.metrics_server import MetricsServer

        self.registry = registry
        self._tracker = tracker
        self._content_type = CONTENT_TYPE_LATEST
        self._version = 0
        self._min_render_s = min_render_s
        self._page_of: tuple[int, float, bytes] | None = None
        add = getattr(tracker, "add_listener", None)
        self._listening = callable(add)
        if self._listening:
            add(self._on_sample)  # type: ignore[misc]
        try:
            self._server: MetricsServer | None = MetricsServer(host, port, self._page)
        except BaseException:
            self._forget()
            raise
        self.host: str = str(self._server.address[0])
        self.port: int = int(self._server.address[1])
        """The port actually bound (useful with ``port=0``)."""

    def _on_sample(self, tracker: object, t: float) -> None:
        self._version += 1

    def _page(self) -> tuple[str, bytes]:
        """The rendered metrics (on the server's thread), from the cache while no new sample came."""
        cached, now = self._page_of, time.monotonic()
        fresh = cached is not None and (
            (cached[0] == self._version or now - cached[1] < self._min_render_s)
            if self._listening
            else now - cached[1] < _RENDER_EVERY_S
        )
        if not fresh:
            from prometheus_client import generate_latest

            version = self._version
            cached = self._page_of = (version, now, generate_latest(self.registry))
        assert cached is not None
        return self._content_type, cached[2]

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/metrics"

    def _forget(self) -> None:
        remove = getattr(self._tracker, "remove_listener", None)
        if self._listening and callable(remove):
            remove(self._on_sample)

    def close(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        self._forget()


def start_exporter(
    tracker: MetricsSource, port: int, host: str = "127.0.0.1", *, min_render_s: float = MIN_RENDER_S
) -> Exporter:
    """Serve ``tracker``'s metrics on ``http://host:port/metrics`` (``port=0``: any free port, see
    :attr:`Exporter.port`); the page is rendered at most once per sample and every ``min_render_s`` seconds.
    Raises :class:`~wattwatch.errors.ConfigurationError` when the address cannot be bound (port in use,
    unknown host) and ``ImportError`` when prometheus_client is missing."""
    from prometheus_client import CollectorRegistry

    registry = CollectorRegistry(auto_describe=False)
    registry.register(TrackerCollector(tracker))  # type: ignore[arg-type]
    try:
        return Exporter(tracker, registry, host, int(port), min_render_s=min_render_s)
    except OSError as exc:
        raise ConfigurationError(
            f"cannot serve Prometheus metrics on {host}:{port} ({exc.strerror or exc}); choose another "
            "prometheus_port (--prometheus-port), or 0 for any free port"
        ) from None
