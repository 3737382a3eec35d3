"""The attributes of CodeCarbon's trackers that its users and its tests read, on the compatibility classes.

CodeCarbon keeps each option as ``self._<option>`` and all of them in ``self._conf`` (after the config files,
``CODECARBON_*`` variables and its checks), plus the public ``force_carbon_intensity_g_co2e_kwh``. Scripts read
them (``tracker._project_name`` in logs, ``tracker._conf`` to record the set-up), so the compatibility classes
have them, read-only, with CodeCarbon's values: the value given, found or defaulted; ``None`` for an option
ignored because its value was bad. ``_hardware`` lists the run's sensors (empty before ``start()``), where
CodeCarbon lists its hardware objects.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from wattwatch.compat.settings import CompatPlan
    from wattwatch.run.session import RunSession
    from wattwatch.sensors.base import Sensor

__all__ = ["CodeCarbonAttributes"]


class CodeCarbonAttributes:
    """Read-only views of a compatibility tracker's :class:`~wattwatch.compat.settings.CompatPlan` under
    CodeCarbon's attribute names."""

    _plan: CompatPlan
    _session: RunSession | None

    @property
    def force_carbon_intensity_g_co2e_kwh(self) -> float | None:
        """The forced grid intensity (g/kWh) after CodeCarbon's checks; ``None`` when not given or ignored."""
        return self._plan.force_carbon_intensity

    @property
    def _conf(self) -> dict[str, Any]:
        """Every option's final value, by name (CodeCarbon's ``_conf``)."""
        return self._plan.conf

    @property
    def _gpu_ids(self) -> list[int | str] | None:
        """The GPUs asked for: ``gpu_ids``, else ``CUDA_VISIBLE_DEVICES``, else ``ROCR_VISIBLE_DEVICES``
        (CodeCarbon's normalised list: ``"2, 3"`` -> ``["2", "3"]``); ``None`` when none says."""
        return self._plan.gpu_ids

    @property
    def _measure_power_secs(self) -> float:
        return self._plan.measure_power_secs

    @property
    def _api_call_interval(self) -> int:
        return self._plan.api_call_interval

    @property
    def _on_csv_write(self) -> str:
        return self._plan.on_csv_write

    @property
    def _force_cpu_power(self) -> float | None:
        return self._conf.get("force_cpu_power")

    @property
    def _force_ram_power(self) -> float | None:
        return self._conf.get("force_ram_power")

    @property
    def _force_mode_cpu_load(self) -> bool:
        return bool(self._conf.get("force_mode_cpu_load"))

    @property
    def _output_dir(self) -> Any:
        """As given (CodeCarbon joins ``output_file`` to it)."""
        return self._conf.get("output_dir")

    @property
    def _output_file(self) -> Any:
        return self._conf.get("output_file")

    @property
    def _project_name(self) -> str:
        return str(self._conf.get("project_name"))

    @property
    def _experiment_id(self) -> str:
        return str(self._conf.get("experiment_id"))

    @property
    def _emissions_endpoint(self) -> str | None:
        return self._conf.get("emissions_endpoint")

    @property
    def _electricitymaps_api_token(self) -> str | None:
        return self._conf.get("electricitymaps_api_token") or self._conf.get("co2_signal_api_token")

    @property
    def _tracking_mode(self) -> str:
        return str(self._conf.get("tracking_mode"))

    @property
    def _pue(self) -> float:
        return float(self._conf.get("pue", 1.0))

    @property
    def _wue(self) -> float:
        return float(self._conf.get("wue", 0.0))

    @property
    def _hardware(self) -> list[Sensor]:
        """The run's sensors (empty before ``start()``)."""
        session = self._session
        return list(session.hardware.sensors) if session is not None else []
