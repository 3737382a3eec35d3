"""Drop-in names for CodeCarbon users: change the import line, keep the code.

``EmissionsTracker`` and ``OfflineEmissionsTracker`` accept CodeCarbon's keyword arguments; ``stop()`` returns
the run's emissions in kg CO2eq as a float, like CodeCarbon's, and the full result is at
``tracker.final_emissions_data``. CodeCarbon options that concern its online API or its own machinery are
accepted and ignored (logged at DEBUG); wattwatch never calls the network.
"""

from __future__ import annotations

import logging
from typing import Any

from wattwatch.run.tracker import Tracker

__all__ = ["EmissionsTracker", "OfflineEmissionsTracker"]

log = logging.getLogger("wattwatch")

_IGNORED_CODECARBON_OPTIONS = frozenset(
    {
        "api_call_interval",
        "api_endpoint",
        "api_key",
        "save_to_api",
        "save_to_logger",
        "logging_logger",
        "save_to_prometheus",
        "prometheus_url",
        "save_to_logfire",
        "emissions_endpoint",
        "experiment_name",
        "co2_signal_api_token",
        "electricitymaps_api_token",
        "on_csv_write",
        "logger_preamble",
        "default_cpu_power",
        "force_cpu_power",
        "force_ram_power",
        "force_mode_cpu_load",
        "allow_multiple_runs",
        "rapl_include_dram",
        "rapl_prefer_psys",
        "output_handlers",
        "gpu_visible_devices",
    }
)


def _split(kwargs: dict[str, Any]) -> dict[str, Any]:
    ours = {}
    for key, value in kwargs.items():
        if key in _IGNORED_CODECARBON_OPTIONS:
            log.debug("wattwatch: ignoring CodeCarbon option %s=%r", key, value)
        elif key == "carbon_intensity":  # not a CodeCarbon name, but an easy mistake
            ours["carbon_intensity_g_per_kwh"] = value
        else:
            ours[key] = value
    return ours


class EmissionsTracker(Tracker):
    """CodeCarbon-compatible tracker: ``stop()`` returns kg CO2eq (float)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **_split(kwargs))

    def stop(self, status: str = "completed") -> float | None:  # type: ignore[override]
        data = super().stop(status)
        return None if data is None else data.emissions

    def __call__(self, func: Any) -> Any:
        return super().__call__(func)


class OfflineEmissionsTracker(EmissionsTracker):
    """CodeCarbon's offline tracker. wattwatch is always offline; ``country_iso_code`` picks the grid."""
