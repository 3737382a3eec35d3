"""Estimates made before a run, one module per calculator; every function is pure arithmetic over its arguments
and returns a frozen dataclass of numbers (never a formatted string) that a ``wattwatch`` command formats.

- :mod:`.architectures` -- dense vs Mixture-of-Experts training / serving (``wattwatch compare``);
- :mod:`.region_choice` -- regions ranked by a job's CO2 and cost (``wattwatch regions``);
- :mod:`.energy` -- GPUs x watts x hours, and a larger run scaled from a measured one (``wattwatch estimate``);
- :mod:`.greenest_start` -- the start time before a deadline with the least CO2 (``wattwatch schedule``);
- :mod:`.gpu_specs` -- board power and peak FLOP/s of known GPUs; :mod:`.common` -- defaults and checks.

Units are in the names: ``_w`` watts, ``_kwh`` kilowatt-hours, ``_kg`` kg CO2eq, ``g_per_kwh`` gCO2eq/kWh, ``_s``
seconds, ``_usd`` US dollars. Bad arguments raise ``ValueError`` saying what to pass instead.
"""

from wattwatch.planning.architectures import (
    ArchitectureComparison,
    ArchitectureEstimate,
    compare_architectures,
    estimate_training,
)
from wattwatch.planning.common import (
    DEFAULT_FLOPS_PER_PARAM_TOKEN,
    DEFAULT_G_PER_KWH,
    DEFAULT_GPU_WATTS,
    DEFAULT_MFU,
    DEFAULT_PEAK_FLOPS,
    DEFAULT_PUE,
    INFERENCE_FLOPS_PER_PARAM_TOKEN,
)
from wattwatch.planning.energy import (
    EnergyEstimate,
    MeasuredRun,
    ScaledRun,
    estimate_energy,
    project_from_run,
    read_measured_run,
)
from wattwatch.planning.greenest_start import ScheduleResult, best_start, window_emissions
from wattwatch.planning.region_choice import RegionOption, RegionPlan, recommend_region

__all__ = [
    "DEFAULT_FLOPS_PER_PARAM_TOKEN",
    "DEFAULT_G_PER_KWH",
    "DEFAULT_GPU_WATTS",
    "DEFAULT_MFU",
    "DEFAULT_PEAK_FLOPS",
    "DEFAULT_PUE",
    "INFERENCE_FLOPS_PER_PARAM_TOKEN",
    "ArchitectureComparison",
    "ArchitectureEstimate",
    "EnergyEstimate",
    "MeasuredRun",
    "RegionOption",
    "RegionPlan",
    "ScaledRun",
    "ScheduleResult",
    "best_start",
    "compare_architectures",
    "estimate_energy",
    "estimate_training",
    "project_from_run",
    "read_measured_run",
    "recommend_region",
    "window_emissions",
]
