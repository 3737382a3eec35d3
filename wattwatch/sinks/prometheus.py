"""A pull ``/metrics`` endpoint (Prometheus text format) for a running :class:`~wattwatch.run.tracker.Tracker`.

``start_exporter(tracker, port=9101)`` serves, from a private ``CollectorRegistry`` (never the process-wide
default one, so two trackers or the user's own metrics never clash), metrics read from the tracker at scrape
time -- nothing is pushed and nothing runs between scrapes:

- ``wattwatch_power_watts`` (gauge): each device's power over the latest sampling interval, W (no PUE);
- ``wattwatch_energy_joules_total`` (counter): each device's energy since the run began, J (no PUE);
- ``wattwatch_facility_energy_kwh_total`` (counter, ``device="all"``): the run's energy with PUE applied, kWh
  (CodeCarbon's ``energy_consumed``);
- ``wattwatch_emissions_kg_total`` (counter, ``device="all"``): the run's emissions, kg CO2eq;
- ``wattwatch_projected_emissions_kg`` / ``wattwatch_projected_energy_kwh`` (gauges) when a projection exists;
- with a carbon policy (docs/acting.md): ``wattwatch_projected_{emissions_low_kg,emissions_high_kg,
  energy_low_kwh,energy_high_kwh}`` (the projection's interval), ``wattwatch_budget_kg`` / ``_kwh``,
  ``wattwatch_over_budget`` and ``wattwatch_paused`` (0/1).

Every sample carries the labels ``run``, ``project``, ``node`` and ``device``. The server binds to 127.0.0.1
unless told otherwise; in a distributed run each node serves its own endpoint. It is wattwatch's own
(:mod:`wattwatch.sinks.metrics_server`: on Linux a child process, else one thread; at most 64 connections, 5 s
per connection), not prometheus_client's thread-per-connection server, and the page is rendered once per sample
(at most 4 times a second) and pushed to it, never per scrape: a training process stays unharmed by scrapers,
slow or many (``docs/security.md``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Protocol

from wattwatch.errors import ConfigurationError

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from wattwatch.distributed.topology import Topology
    from wattwatch.measure.ledger import LedgerSnapshot
    from wattwatch.result import EmissionsData
    from wattwatch.sinks.metrics_server import MetricsServer, ServerProcess

__all__ = ["MIN_RENDER_S", "Exporter", "MetricsSource", "TrackerCollector", "start_exporter"]

_LABELS = ["run", "project", "node", "device"]
MIN_RENDER_S = 0.25
"""Shortest time between two renders of the page (s): Prometheus scrapes every 15 s by default, so a page at
most a quarter of a second old costs nothing, where a render per 20 ms sample took about 1 % of a core."""


class MetricsSource(Protocol):
    """What the page is rendered from, and what says when a sample came (a
    :class:`~wattwatch.run.tracker.Tracker` is one)."""

    @property
    def topology(self) -> Topology | None: ...

    def current(self) -> EmissionsData: ...

    def snapshot(self) -> LedgerSnapshot | None: ...

    def add_listener(self, listener: Callable[[Any, float], None]) -> None: ...

    def remove_listener(self, listener: Callable[[Any, float], None]) -> None: ...


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
        policy = getattr(tracker, "policy", None)
        if policy is not None:  # the projection's interval, the budget, a pause (wattwatch/policy/report.py)
            from wattwatch.policy.report import metric_families

            view = policy.carbon_outlook()
            over = policy.guard is not None and policy.guard.hit is not None
            yield from metric_families(
                view, policy.budget, over=over, paused=policy.paused, labels=_LABELS, base=base
            )


class Exporter:
    """A running ``/metrics`` endpoint; :meth:`close` shuts it down (idempotent): when it returns, the server's
    thread or process has ended and every socket it opened is closed.

    The page is pushed, not pulled: after each sample the tracker's sampler calls :meth:`_on_sample` (a
    listener), which renders the page -- at most once per sample and every ``min_render_s`` (default
    :data:`MIN_RENDER_S`: with 20 ms sampling, 4 renders a second instead of 50) -- and hands it to the server
    (:mod:`wattwatch.sinks.metrics_server`: on Linux a child process, elsewhere a thread). A scrape costs the
    training process nothing: the server answers it with the last page, and never calls back. The first page
    is rendered here, so the endpoint answers from the start. ``process`` forces where the server runs."""

    def __init__(
        self,
        tracker: MetricsSource,
        registry: CollectorRegistry,
        host: str,
        port: int,
        *,
        min_render_s: float = MIN_RENDER_S,
        process: bool | None = None,
    ) -> None:
        from prometheus_client import CONTENT_TYPE_LATEST

        from wattwatch.sinks.metrics_server import start_server

        self.registry = registry
        self._tracker = tracker
        self._content_type = CONTENT_TYPE_LATEST
        self._min_render_s = min_render_s
        self._rendered_at = -math.inf
        self.renders = 0
        """Pages rendered so far."""
        self._server: MetricsServer | ServerProcess | None = start_server(host, port, process=process)
        self.host: str = str(self._server.address[0])
        self.port: int = int(self._server.address[1])
        """The port actually bound (useful with ``port=0``)."""
        self._render(time.monotonic())
        tracker.add_listener(self._on_sample)

    def _on_sample(self, tracker: object, t: float) -> None:
        """After a sample (on the sampler thread): a new page, unless one was made less than ``min_render_s``
        ago."""
        now = time.monotonic()
        if now - self._rendered_at >= self._min_render_s:
            self._render(now)

    def _render(self, now: float) -> None:
        from prometheus_client import generate_latest

        server = self._server
        if server is None:
            return
        self._rendered_at = now
        self.renders += 1
        server.publish(self._content_type, generate_latest(self.registry))

    @property
    def server_pid(self) -> int | None:
        """The process serving the endpoint when it is a child process (``None`` when it is a thread here)."""
        return getattr(self._server, "pid", None)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/metrics"

    def close(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        self._tracker.remove_listener(self._on_sample)
        server.close()


def start_exporter(
    tracker: MetricsSource,
    port: int,
    host: str = "127.0.0.1",
    *,
    min_render_s: float = MIN_RENDER_S,
    process: bool | None = None,
) -> Exporter:
    """Serve ``tracker``'s metrics on ``http://host:port/metrics`` (``port=0``: any free port, see
    :attr:`Exporter.port`); the page is rendered at most once per sample and every ``min_render_s`` seconds.
    Raises :class:`~wattwatch.errors.ConfigurationError` when the address cannot be bound (port in use,
    unknown host) and ``ImportError`` when prometheus_client is missing."""
    from prometheus_client import CollectorRegistry

    registry = CollectorRegistry(auto_describe=False)
    registry.register(TrackerCollector(tracker))  # type: ignore[arg-type]
    try:
        return Exporter(tracker, registry, host, int(port), min_render_s=min_render_s, process=process)
    except OSError as exc:
        raise ConfigurationError(
            f"cannot serve Prometheus metrics on {host}:{port} ({exc.strerror or exc}); choose another "
            "prometheus_port (--prometheus-port), or 0 for any free port"
        ) from None
