"""One started run's resources: its hardware, ledger, sampler and outputs, opened together by
``Tracker.start()`` and closed together by ``Tracker.stop()``.

:meth:`RunSession.open` is the order of start-up: hardware (topology, ownership, run id, sensors), the ledger
(with the totals of a resumed run), the sampler (not yet started), then the outputs -- a busy Prometheus port
fails there, before any thread is started, and everything opened so far is closed again.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from wattwatch.measure.ledger import Ledger
from wattwatch.measure.sampler import SLOW_INTERVAL_S, Sampler, slow_sensors
from wattwatch.run.hardware import ForcedPower, Hardware, HardwareRoots, SliceOptions
from wattwatch.run.outputs import FreshMetrics, Outputs
from wattwatch.sensors.usage import UsageMeter
from wattwatch.util.once import WarnOnce
from wattwatch.util.records import record
from wattwatch.util.times import utc_iso_ms

if TYPE_CHECKING:
    from wattwatch.run.config import TrackerConfig
    from wattwatch.run.tracker import Tracker
    from wattwatch.sensors.base import Sensor

__all__ = ["RunSession"]


@record
class RunSession:
    """The hardware, ledger, sampler and outputs of one run (units: see their modules)."""

    hardware: Hardware
    ledger: Ledger
    sampler: Sampler
    outputs: Outputs
    usage: UsageMeter
    """CPU, RAM and GPU utilisation (CodeCarbon's usage columns), sampled with the slow sensors: every
    :data:`~wattwatch.measure.sampler.SLOW_INTERVAL_S` seconds, at every periodic row and at every synchronous read
    (``current(refresh=True)``, phases, start and stop), at most once a second."""
    start_time: str
    """ISO-8601 UTC start of this process segment of the run (its row's ``start_time``)."""

    @classmethod
    def open(
        cls,
        tracker: Tracker,
        *,
        fixed_run_id: bool,
        resume: Mapping[str, Any] | None,
        warn: WarnOnce,
        on_tick: Callable[[float], None],
        on_phase_edge: Callable[[float], None] | None = None,
    ) -> RunSession:
        """Open everything ``tracker``'s options ask for. ``resume``: the saved ``ledger`` and ``start_time`` of a
        run continued with ``load_state_dict``. Raises ``ConfigurationError`` when the Prometheus port is taken."""
        config = tracker.config
        hardware = Hardware.open(
            roots=_roots(config),
            run_id=tracker.run_id,
            fixed_run_id=fixed_run_id,
            gpu_ids=tracker.gpu_ids,
            sensors=config.sensors,
            tracking_mode=tracker.tracking_mode,
            pid=tracker.pid,
            include_dram=tracker.include_dram,
            slices=SliceOptions(config.tdp_w, config.vcpu_w, config.gpu_share),
            warn=warn,
            forced=ForcedPower(
                config.force_cpu_power, config.force_ram_power, config.force_mode_cpu_load, tracker.cpu_power_curve
            ),
        )
        ledger = Ledger(hardware.infos, intensity=tracker.intensity.at, pue=tracker.pue, phase=tracker.first_phase)
        if resume is not None:
            ledger.load_dict(resume["ledger"])
        usage = UsageMeter(config.proc_root, gpu_utilization=_gpu_utilization(hardware.sensors))
        sampler = Sampler(
            hardware.sensors,
            ledger,
            config.measure_power_secs,
            clock=config.clock,
            wall_clock=config.wall_clock,
            on_tick=on_tick,
            slow=(slow := slow_sensors(hardware.sensors)),
            slow_every_s=_slow_every_s(slow),
            on_slow_read=usage.sample,
            on_phase_edge=on_phase_edge,
        )
        t0 = config.clock()
        start_time = utc_iso_ms(config.wall_clock())  # this process segment's: a resumed run's rows are per segment,
        # told apart by it (two retries from one checkpoint share resumed_segments): to the millisecond
        outputs = Outputs(
            tracker.output_path,
            warn=warn,
            clock=config.clock,
            wall_clock=config.wall_clock,
            timeseries_every_s=tracker.timeseries_every_s,
            proc_root=config.proc_root,
        )
        try:
            outputs.open(
                run_id=hardware.run_id,
                channels=[i.channel for i in hardware.infos],
                t0=t0,
                timeseries=tracker.save_to_file and tracker.save_timeseries,
                prometheus_port=tracker.prometheus_port,
                prometheus_host=tracker.prometheus_host,
                metrics=FreshMetrics(tracker, lambda: sampler.sample_slow_now(lock_timeout_s=0.2)),
                journal=tracker.save_to_file and hardware.aggregator is None,
            )
        except BaseException:
            outputs.close()
            usage.close()
            hardware.close()
            raise
        return cls(hardware, ledger, sampler, outputs, usage, start_time)

    def segment_kwh(self) -> float:
        """This process segment's energy so far (kWh, PUE applied)."""
        return self.ledger.snapshot(carried=False).energy_kwh

    def close(self) -> None:
        """Close the outputs and the sensors (the ledger's totals and the usage means stay readable)."""
        self.outputs.close()
        self.usage.close()
        self.hardware.close()

    def after_fork_in_child(self) -> None:
        """In a forked child: fresh locks (the parent's sampler may have held them) and no outputs to touch."""
        self.ledger.after_fork_in_child()
        self.sampler.after_fork_in_child()
        self.outputs.detach()


def _slow_every_s(sensors: Sequence[Sensor]) -> float:
    """Seconds between the slow sensors' periodic reads: :data:`~wattwatch.measure.sampler.SLOW_INTERVAL_S`, or
    less where a sensor asks (``details["read_every_s"]``: CodeCarbon's CPU curve, evaluated every second)."""
    asked = [
        float(v) for s in sensors for i in s.describe() if isinstance(v := i.details.get("read_every_s"), int | float)
    ]
    return min([SLOW_INTERVAL_S, *(a for a in asked if a > 0)])


def _gpu_utilization(sensors: Sequence[Any]) -> Callable[[], list[float]] | None:
    """Each GPU's utilisation now (percent), from the sensors that can say (``NvmlSensor.utilization``)."""
    readers = [fn for fn in (getattr(s, "utilization", None) for s in sensors) if callable(fn)]
    if not readers:
        return None
    return lambda: [u for read in readers for u in read()]


def _roots(config: TrackerConfig) -> HardwareRoots:
    """Where the hardware is read from (each root a parameter: tests build them in temp dirs)."""
    return HardwareRoots(
        nvml_library=config.nvml_library,
        powercap_root=config.powercap_root,
        proc_root=config.proc_root,
        environ=config.environ,
        amd_library=config.amd_library,
        hwmon_root=config.hwmon_root,
        dmi_root=config.dmi_root,
        cgroup_root=config.cgroup_root,
    )
