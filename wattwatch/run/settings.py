"""A tracker's user-settable settings: :class:`TrackerSettings`, the base of :class:`~wattwatch.run.tracker.Tracker`
holding :attr:`~TrackerSettings.config` (the validated, frozen options) and the plain attributes that start as
copies of them (``project_name``, ``output_dir``, ``save_to_file``...; code may change them before ``start()``).

Import-light like the facade: nothing but this class loads with ``from wattwatch import Tracker``.
"""

from __future__ import annotations

TYPE_CHECKING = False  # see wattwatch/run/tracker.py: typing and pathlib load when a tracker is made
if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path
    from typing import Literal

    from wattwatch.carbon.intensity import CarbonIntensity
    from wattwatch.run.config import TrackerConfig

__all__ = ["TrackerSettings"]


class TrackerSettings:
    """``config`` and the attributes copied from it (units: seconds, W, g/kWh as in :class:`TrackerConfig`)."""

    def __init__(self, config: TrackerConfig) -> None:
        self.config = config
        """The validated options (frozen); the attributes below start as copies of them."""
        if config.log_level is not None:
            import logging

            logging.getLogger("wattwatch").setLevel(config.log_level)
        self.intensity: CarbonIntensity = config.resolve_intensity()
        self.project_name = config.project_name
        self.experiment_id = config.experiment_id
        self.output_dir: Path = config.output_dir
        self.output_file = config.output_file
        self.pue = config.pue
        self.wue = config.wue
        self.gpu_ids = None if config.gpu_ids is None else list(config.gpu_ids)
        self.tracking_mode: Literal["machine", "process"] = config.tracking_mode
        self.save_to_file = config.save_to_file
        self.save_timeseries = config.save_timeseries
        self.timeseries_every_s = config.timeseries_every_s
        """Seconds between rows of the per-sample time series (each row: mean power since the previous one)."""
        self.flush_every_s = config.flush_every_s
        self.total_steps = config.total_steps
        self.handle_signals = config.handle_signals
        self.include_dram = config.include_dram
        self.prometheus_port = config.prometheus_port
        self.prometheus_host = config.prometheus_host
        self.pid = config.pid
        """Process whose tree ``tracking_mode="process"`` measures (default: this process)."""
        self.cpu_power_curve = "wattwatch"
        """How a forced CPU power (``force_cpu_power``) is charged: ``"wattwatch"`` (the load model of
        :mod:`wattwatch.sensors.cpu`) or ``"codecarbon"`` (CodeCarbon 3.3.2's, :mod:`wattwatch.sensors.codecarbon_cpu`;
        the compatibility classes set it)."""
        self._clock: Callable[[], float] = config.clock
        self._wall: Callable[[], float] = config.wall_clock

    @property
    def output_path(self) -> Path:
        """The emissions.csv this run writes to."""
        return self.output_dir / self.output_file
