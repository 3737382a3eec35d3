"""CodeCarbon 3.3.2's constructor options: their order, defaults, and what wattwatch does with each.

Every option is one of three things (:data:`OPTIONS` says which, and ``docs/codecarbon.md`` is the same table):

- ``honoured``: it has CodeCarbon's meaning, carried out by the wattwatch tracker;
- ``online``: it only concerns CodeCarbon's online services (its API, Electricity Maps, an HTTP endpoint);
  wattwatch never calls the network, so it is accepted and named in one WARNING at construction;
- ``rejected``: a value wattwatch cannot honour raises :class:`~wattwatch.errors.ConfigurationError` at
  construction, saying what to use instead (the default value of the option is accepted).

No option is dropped silently.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

__all__ = [
    "BASE_PARAMETERS",
    "CODECARBON_DEFAULTS",
    "CODECARBON_VERSION",
    "DECORATOR_PARAMETERS",
    "OFFLINE_PARAMETERS",
    "OPTIONS",
    "UNSET",
    "CodeCarbonOption",
    "given_options",
]

CODECARBON_VERSION = "3.3.2"
"""The CodeCarbon release whose signatures and behaviour the compatibility classes follow."""


class _Unset:
    """The default of every compatibility argument: tells "not given" from any value, ``None`` included."""

    _instance: _Unset | None = None

    def __new__(cls) -> _Unset:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "<unset>"

    def __bool__(self) -> bool:
        return False


UNSET: Any = _Unset()

BASE_PARAMETERS: tuple[str, ...] = (
    "project_name",
    "measure_power_secs",
    "api_call_interval",
    "api_endpoint",
    "api_key",
    "output_dir",
    "output_file",
    "output_methods",
    "save_to_file",
    "save_to_api",
    "save_to_logger",
    "logging_logger",
    "save_to_prometheus",
    "save_to_logfire",
    "prometheus_url",
    "output_handlers",
    "gpu_ids",
    "emissions_endpoint",
    "experiment_id",
    "experiment_name",
    "electricitymaps_api_token",
    "co2_signal_api_token",
    "tracking_mode",
    "log_level",
    "on_csv_write",
    "logger_preamble",
    "force_cpu_power",
    "force_ram_power",
    "pue",
    "wue",
    "force_carbon_intensity_g_co2e_kwh",
    "force_mode_cpu_load",
    "allow_multiple_runs",
    "rapl_include_dram",
    "rapl_prefer_psys",
    "metadata",
)
"""``BaseEmissionsTracker.__init__``'s parameters, in CodeCarbon 3.3.2's positional order."""

OFFLINE_PARAMETERS: tuple[str, ...] = (
    "country_iso_code",
    "region",
    "cloud_provider",
    "cloud_region",
    "country_2letter_iso_code",
)
"""``OfflineEmissionsTracker.__init__``'s own keyword-only parameters (the rest go to the base class)."""

DECORATOR_PARAMETERS: tuple[str, ...] = (
    *BASE_PARAMETERS[:26],  # project_name .. logger_preamble
    "offline",
    *OFFLINE_PARAMETERS,
    "force_cpu_power",
    "force_ram_power",
    "pue",
    "wue",
    "force_carbon_intensity_g_co2e_kwh",
    "allow_multiple_runs",
    "rapl_include_dram",
    "rapl_prefer_psys",
)
"""``track_emissions``'s parameters after ``fn``, in order (no ``force_mode_cpu_load``, no ``metadata``)."""

CODECARBON_DEFAULTS: dict[str, Any] = {
    "project_name": "codecarbon",
    "measure_power_secs": 15.0,
    "api_call_interval": 8,
    "output_dir": ".",
    "output_file": "emissions.csv",
    "experiment_id": "5b0fa12a-3dd7-45bb-9766-cc326314d9f1",
    "experiment_name": "base",
    "tracking_mode": "machine",
    "log_level": "info",
    "on_csv_write": "append",
    "logger_preamble": "",
    "prometheus_url": "localhost:9091",
    "pue": 1.0,
    "wue": 0.0,
    "force_mode_cpu_load": False,
    "allow_multiple_runs": True,
    "rapl_include_dram": False,
    "rapl_prefer_psys": False,
}
"""CodeCarbon 3.3.2's defaults for options left unset (the compatibility classes use the same)."""

Handling = Literal["honoured", "online", "rejected"]


@dataclass(frozen=True)
class CodeCarbonOption:
    """One CodeCarbon option: what CodeCarbon does with it and what wattwatch does."""

    name: str
    handling: Handling
    codecarbon: str
    wattwatch: str


def _o(name: str, handling: Handling, codecarbon: str, wattwatch: str) -> tuple[str, CodeCarbonOption]:
    return name, CodeCarbonOption(name, handling, codecarbon, wattwatch)


OPTIONS: dict[str, CodeCarbonOption] = dict(
    [
        _o("project_name", "honoured", "names the run (default `codecarbon`)", "same, same default"),
        _o(
            "measure_power_secs",
            "honoured",
            "seconds between measurements (default 15); handlers' `live_out` every `api_call_interval` of them",
            "same cadence for `live_out`; the energy itself is integrated by wattwatch's sampler at its own "
            "rate (1 s counters, 20 ms power), finer than CodeCarbon's; `<= 0` means the default",
        ),
        _o(
            "api_call_interval",
            "honoured",
            "measurements between `live_out` calls to the output handlers (and API calls)",
            "same for the output handlers; there are no API calls",
        ),
        _o("api_endpoint", "online", "CodeCarbon API URL", "not used (no network); one WARNING"),
        _o("api_key", "online", "CodeCarbon API key", "not used (no network); one WARNING"),
        _o("output_dir", "honoured", "folder of the CSV (must exist)", "same; created when missing"),
        _o(
            "output_file",
            "honoured",
            "CSV file name, joined to `output_dir` (a path works)",
            "same (a path's folder is joined to `output_dir`)",
        ),
        _o(
            "output_methods",
            "honoured",
            "list of `OutputMethod` (or `\"csv,logger\"`): CSV, API, LOGGER, PROMETHEUS, LOGFIRE, BOAMPS; "
            "overrides the `save_to_*` flags",
            "same; API warns (online); PROMETHEUS serves wattwatch's exporter; LOGFIRE and BOAMPS use "
            "CodeCarbon's own classes (need `pip install codecarbon`, else rejected)",
        ),
        _o("save_to_file", "honoured", "deprecated flag for CSV (default True)", "same, DeprecationWarning too"),
        _o("save_to_api", "online", "deprecated flag for API", "not used (no network); one WARNING"),
        _o(
            "save_to_logger",
            "honoured",
            "deprecated flag: send each result to `logging_logger`",
            "same, DeprecationWarning too; without a `logging_logger`, the `codecarbon` logger",
        ),
        _o(
            "logging_logger",
            "honoured",
            "a `LoggerOutput` (a `logging.Logger` + level): JSON of the result at flush/stop",
            "same; CodeCarbon's `LoggerOutput` or `wattwatch.compat.LoggerOutput`",
        ),
        _o(
            "save_to_prometheus",
            "honoured",
            "deprecated flag: push to a Prometheus Pushgateway at `prometheus_url`",
            "serves the run's metrics at `prometheus_url`'s host:port for Prometheus to scrape (no push: "
            "no network); one WARNING saying so",
        ),
        _o(
            "save_to_logfire",
            "honoured",
            "deprecated flag: send to Logfire",
            "CodeCarbon's `LogfireOutput` when codecarbon is installed, else rejected",
        ),
        _o("prometheus_url", "honoured", "Pushgateway address (default `localhost:9091`)", "the exporter's address"),
        _o(
            "output_handlers",
            "honoured",
            "objects with `out`, `live_out`, `task_out`, `exit` (`BaseOutput`)",
            "same calls at the same moments; an error in a handler is logged once, never raised",
        ),
        _o(
            "gpu_ids",
            "honoured",
            "GPUs to track (indices or ids); unset: `CUDA_VISIBLE_DEVICES`, else `ROCR_VISIBLE_DEVICES`",
            "same, in `_gpu_ids` and `get_detected_hardware()[\"gpu_ids\"]` (the GPUs measured follow those "
            "variables too)",
        ),
        _o("emissions_endpoint", "online", "HTTP endpoint that receives each result", "not used; one WARNING"),
        _o("experiment_id", "honoured", "written in the `experiment_id` column", "same, same default id"),
        _o("experiment_name", "honoured", "names the task CSV (`emissions_<name>_<run_id>.csv`)", "same"),
        _o("electricitymaps_api_token", "online", "live intensity from Electricity Maps", "not used; one WARNING "
           "(use `intensity_csv=` with an exported hourly CSV)"),
        _o("co2_signal_api_token", "online", "deprecated name of the above", "not used; one WARNING"),
        _o("tracking_mode", "honoured", "`machine` or `process`", "same"),
        _o(
            "log_level",
            "honoured",
            "level of the `codecarbon` logger (default info); an unknown one is logged (`Doing nothing`)",
            "level of the `codecarbon` and `wattwatch` loggers; an unknown one is logged as CodeCarbon does; empty "
            "(`CODECARBON_LOG_LEVEL=`) is the default",
        ),
        _o(
            "on_csv_write",
            "honoured",
            "`append`: each flush()/stop() adds a row; `update`: one row per run",
            "same",
        ),
        _o("logger_preamble", "honoured", "text put before each log message", "same, for messages the bridge "
           "forwards to the `codecarbon` logger's handlers"),
        _o(
            "force_cpu_power",
            "honoured",
            "CPU power (W) at full load; skips RAPL: its load curve `P x (0.1 + 0.9 L^3)` (machine load L, sampled "
            "every second), `P x` the process tree's CPU share in process mode, `P x 0.5` when psutil cannot read "
            "the CPU times",
            "same numbers (`wattwatch/sensors/codecarbon_cpu.py`, load from `/proc/stat` every second and at each "
            "reading); wattwatch's own `Tracker` keeps its linear load model",
        ),
        _o("force_ram_power", "honoured", "constant RAM power (W)", "same"),
        _o("pue", "honoured", "multiplies power and energy", "same"),
        _o("wue", "honoured", "litres of water per kWh", "same"),
        _o(
            "force_carbon_intensity_g_co2e_kwh",
            "honoured",
            "grid intensity (g/kWh) instead of the location's; negative or not a number is ignored with a warning; "
            "also `tracker.force_carbon_intensity_g_co2e_kwh`",
            "same, same warnings and attribute; above 5000 g/kWh (no grid's figure: a unit mistake) ignored too",
        ),
        _o("force_mode_cpu_load", "honoured", "CPU load model even where RAPL works", "same"),
        _o(
            "allow_multiple_runs",
            "honoured",
            "False: a second tracker on the machine does nothing (lock file); default True",
            "same (its own lock file)",
        ),
        _o("rapl_include_dram", "honoured", "count RAPL DRAM domains", "same (`include_dram`)"),
        _o(
            "rapl_prefer_psys",
            "rejected",
            "measure the RAPL psys (platform) domain instead of packages",
            "True is rejected: wattwatch reads package domains (psys double-counts); use the default",
        ),
        _o(
            "metadata",
            "honoured",
            "extra fields for the BoAmps output (a dict or a JSON file); a file that cannot be read is logged and "
            "left out",
            "passed to CodeCarbon's BoAmps output, the same way",
        ),
        _o(
            "country_iso_code",
            "honoured",
            "3-letter country for the grid intensity; an unknown code: the world average, with a warning",
            "same, bundled data, same fallback and warning (wattwatch's own `Tracker` refuses an unknown code)",
        ),
        _o(
            "region",
            "honoured",
            "state/province (USA, Canada, China, Nordic zones); an unknown one: the country's figure, with a warning",
            "same",
        ),
        _o(
            "cloud_provider",
            "honoured",
            "`gcp` (Google's published figure per region); `aws`, `azure`: no figure, so the country given, else "
            "the world average, with a warning",
            "`gcp` the same; `aws` and `azure`: the grid where the provider says the region is (US state, Canadian "
            "province, Nordic zone, Chinese province or country, "
            "`wattwatch/carbon/data/cloud_locations/regions.csv`), named in `intensity_source`; an unknown region: "
            "CodeCarbon's fallback and warning",
        ),
        _o("cloud_region", "honoured", "the provider's region", "same"),
        _o("country_2letter_iso_code", "online", "Electricity Maps zone", "not used; one WARNING"),
        _o(
            "offline",
            "honoured",
            "decorator: OfflineEmissionsTracker (needs a country or cloud) instead of EmissionsTracker",
            "same, the same exception when neither is given",
        ),
    ]
)
"""Every CodeCarbon 3.3.2 option of the trackers and the decorator, by name."""


def given_options(values: dict[str, Any]) -> dict[str, Any]:
    """The options actually passed (those not :data:`UNSET`), in the order given."""
    return {k: v for k, v in values.items() if v is not UNSET}
