"""The run's row: :class:`~wattwatch.result.EmissionsData` built from a ledger snapshot and the run's facts.

:func:`build_emissions_data` is the one place a row's figures are computed from measured joules;
:func:`energy_fields` (powers, rate, water, intensity from component energies) and :func:`gpu_model_label`
(``"2 x NVIDIA H100"``) are shared with :func:`wattwatch.distributed.combine.combine`, which recomputes them for
the combined totals of several ranks rather than re-deriving them its own way.

Units: CodeCarbon's -- kWh (PUE applied), kg CO2eq, W, seconds, litres.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import field
from typing import TYPE_CHECKING, Any, TypedDict

from wattwatch import __version__
from wattwatch.carbon.codecarbon_data import DATA_VERSION
from wattwatch.measure.ledger import J_PER_KWH, LedgerSnapshot
from wattwatch.result import EmissionsData
from wattwatch.sensors.base import ChannelInfo
from wattwatch.sensors.usage import UsageMeans
from wattwatch.util.records import record

if TYPE_CHECKING:
    from wattwatch.carbon.intensity import CarbonIntensity
    from wattwatch.run.counters import Counters

__all__ = ["EnergyFields", "RunFacts", "build_emissions_data", "energy_fields", "gpu_model_label", "host_facts"]


@record
class RunFacts:
    """What the row says about the run besides its measured energy."""

    project_name: str
    experiment_id: str
    run_id: str
    tracking_mode: str
    wue: float
    """Litres of water per kWh."""
    intensity: CarbonIntensity
    start_time: str
    """ISO-8601 UTC start of the run (of its first segment when resumed)."""
    timestamp: str
    """Time of this row, UTC, in CodeCarbon's format (``2026-11-29T12:00:00``)."""
    infos: Sequence[ChannelInfo]
    rank_count: int = 1
    ownership: str = ""
    """The rule that chose what this rank measures (``""`` outside distributed runs)."""
    job: dict[str, Any] = field(default_factory=dict)
    """The job-metadata columns (:func:`wattwatch.run.job.job_fields`: user, git commit, Slurm, Kubernetes)."""


def gpu_model_label(models: Iterable[str]) -> str:
    """``["H100", "H100", "A100"]`` -> ``"2 x H100, 1 x A100"`` (first-seen order; an empty model is
    ``unknown GPU``)."""
    counts: dict[str, int] = {}
    for model in models:
        label = model or "unknown GPU"
        counts[label] = counts.get(label, 0) + 1
    return ", ".join(f"{n} x {m}" for m, n in counts.items())


class EnergyFields(TypedDict):
    """The row's figures derived from component energies (names are :class:`EmissionsData` fields)."""

    duration: float
    emissions: float
    emissions_rate: float
    cpu_power: float
    gpu_power: float
    ram_power: float
    cpu_energy: float
    gpu_energy: float
    ram_energy: float
    energy_consumed: float
    water_consumed: float


def energy_fields(
    *,
    cpu_kwh: float,
    gpu_kwh: float,
    ram_kwh: float,
    emissions_kg: float,
    duration_s: float,
    wue: float,
) -> EnergyFields:
    """The row's energy figures from component energies: energies (kWh), mean powers (W), emission rate
    (kg/s) and water (litres)."""
    energy = cpu_kwh + gpu_kwh + ram_kwh
    per_w = (J_PER_KWH / duration_s) if duration_s > 0 else 0.0
    return EnergyFields(
        duration=duration_s,
        emissions=emissions_kg,
        emissions_rate=emissions_kg / duration_s if duration_s > 0 else 0.0,
        cpu_power=cpu_kwh * per_w,
        gpu_power=gpu_kwh * per_w,
        ram_power=ram_kwh * per_w,
        cpu_energy=cpu_kwh,
        gpu_energy=gpu_kwh,
        ram_energy=ram_kwh,
        energy_consumed=energy,
        water_consumed=energy * wue,
    )


_HOST_FACTS: dict[str, Any] = {}


def host_facts() -> dict[str, Any]:
    """This host's OS, Python, CPU count, RAM (GiB) and name; read once per process (from the ``os`` module on
    Linux: :mod:`wattwatch.sensors.sysinfo`)."""
    if not _HOST_FACTS:
        from wattwatch.sensors.sysinfo import host_facts as read_host_facts

        facts = read_host_facts()
        _HOST_FACTS.update(
            os=facts.os,
            python_version=facts.python_version,
            cpu_count=int(facts.cpu_count),
            ram_total_size=facts.ram_total_gib,
            hostname=facts.hostname,
        )
    return _HOST_FACTS


def _component_method(infos: Sequence[ChannelInfo], snap: LedgerSnapshot, component: str) -> str:
    methods = sorted(
        {snap.channels[i.channel].method for i in infos if i.component == component and i.channel in snap.channels}
    )
    return "+".join(methods)


def _component_slice(infos: Sequence[ChannelInfo], component: str) -> str:
    """The distinct ``slice`` rules of ``component``'s channels, ``+``-joined (``""`` when none says)."""
    rules = sorted(
        {str(i.details["slice"]) for i in infos if i.component == component and i.details.get("slice")}
    )
    return "+".join(rules)


def _band_fields(snap: LedgerSnapshot, infos: Sequence[ChannelInfo]) -> dict[str, Any]:
    """``energy_low_kwh``, ``energy_high_kwh`` and ``energy_band`` from the channels' methods and intervals."""
    from wattwatch.measure.uncertainty import channel_bands

    share_of = {i.channel: str(i.details["share_of"]) for i in infos if "share_of" in i.details}
    parts = channel_bands(snap.channels.values(), pue=snap.pue, share_of=share_of)
    if not parts:
        return {}
    return {
        "energy_low_kwh": sum(b.low_kwh for b in parts.values()),
        "energy_high_kwh": sum(b.high_kwh for b in parts.values()),
        "energy_band": " ".join(f"{c}={'+'.join(b.rules)}" for c, b in sorted(parts.items())),
    }


def _intensity_source(run: RunFacts) -> str:
    src = run.intensity.source
    return src.description if src.description.startswith(f"{src.kind}:") else f"{src.kind}: {src.description}"


def static_fields(run: RunFacts) -> dict[str, Any]:
    """The row's columns that do not move during a process segment (place, host, slices): what
    :func:`build_emissions_data` takes as ``static`` (a flush then recomputes none of them). Not the intensity
    source: a live provider's, an hourly file's, say which answers and fallbacks the energy so far used."""
    infos = run.infos
    return {
        "gpu_slice": _component_slice(infos, "gpu"),
        "cpu_slice": _component_slice(infos, "cpu"),
        "ram_slice": _component_slice(infos, "ram"),
        **_place_and_host(run, infos),
    }


def build_emissions_data(
    snap: LedgerSnapshot,
    run: RunFacts,
    status: str,
    *,
    counters: Counters,
    usage: UsageMeans | None = None,
    static: dict[str, Any] | None = None,
) -> EmissionsData:
    """Turn a ledger snapshot into the run's :class:`EmissionsData` (CodeCarbon's units). ``counters`` gives the
    steps, samples and tokens, and is fed these totals for its projection; ``usage`` the mean utilisation
    (CodeCarbon's usage columns; zeros when nothing was sampled, as CodeCarbon writes); ``static`` the columns
    :func:`static_fields` computed for this run (default: computed here)."""
    use = usage or UsageMeans()
    fixed = static if static is not None else static_fields(run)
    infos = run.infos
    pue = snap.pue
    emissions_kg = snap.emissions_g / 1000.0
    energy = energy_fields(
        cpu_kwh=snap.component_kwh("cpu"),
        gpu_kwh=snap.component_kwh("gpu"),
        ram_kwh=snap.component_kwh("ram"),
        emissions_kg=emissions_kg,
        duration_s=snap.duration_s,
        wue=run.wue,
    )
    energy_kwh = energy["energy_consumed"]
    projection = counters.project(snap.duration_s, energy_kwh, emissions_kg)
    work = counters.done()
    return EmissionsData(
        timestamp=run.timestamp,
        project_name=run.project_name,
        run_id=run.run_id,
        experiment_id=run.experiment_id,
        codecarbon_version=DATA_VERSION,
        tracking_mode=run.tracking_mode,
        cpu_utilization_percent=use.cpu_utilization_percent,
        gpu_utilization_percent=use.gpu_utilization_percent,
        ram_utilization_percent=use.ram_utilization_percent,
        ram_used_gb=use.ram_used_gb,
        pue=pue,
        wue=run.wue,
        status=status,
        wattwatch_version=__version__,
        start_time=run.start_time,
        gpu_method=_component_method(infos, snap, "gpu"),
        cpu_method=_component_method(infos, snap, "cpu"),
        ram_method=_component_method(infos, snap, "ram"),
        intensity_g_per_kwh=(snap.emissions_g / energy_kwh) if energy_kwh > 0 else run.intensity.mean_g_per_kwh(),
        phase_energy_kwh={p: e * pue / J_PER_KWH for p, e in snap.phase_energy_j.items()},
        phase_emissions_kg={p: g / 1000.0 for p, g in snap.phase_emissions_g.items()},
        gpu_energy_by_device_kwh={
            n: c.energy_j * pue / J_PER_KWH for n, c in snap.channels.items() if c.component == "gpu"
        },
        gpu_method_by_device={n: c.method for n, c in snap.channels.items() if c.component == "gpu"},
        readings=snap.samples,
        gaps=snap.gap_count,
        gap_seconds=sum(c.gap_s for c in snap.channels.values()),
        steps=work.steps,
        samples=work.samples,
        tokens=work.tokens,
        requests=work.requests,
        generated_tokens=work.generated_tokens,
        request_phases=work.request_phases,
        node_count=1,
        rank_count=run.rank_count,
        ownership=run.ownership,
        resumed_segments=snap.resumed_segments,
        projected_energy_kwh=projection.energy_kwh if projection is not None else None,
        projected_emissions_kg=projection.emissions_kg if projection is not None else None,
        **_band_fields(snap, infos),
        **fixed,
        intensity_source=_intensity_source(run),
        **energy,
    )


def _place_and_host(run: RunFacts, infos: Sequence[ChannelInfo]) -> dict[str, Any]:
    """The row's location (from the intensity's source) and host columns (OS, Python, CPUs, GPUs, RAM GB)."""
    src = run.intensity.source
    facts = host_facts()
    return {
        "country_name": src.country_name,
        "country_iso_code": src.country_iso_code,
        "region": src.region,
        "cloud_provider": src.cloud_provider,
        "cloud_region": src.cloud_region,
        "on_cloud": "Y" if src.cloud_provider else "N",
        "os": facts["os"],
        "python_version": facts["python_version"],
        "cpu_count": facts["cpu_count"],
        "cpu_model": next((i.model for i in infos if i.component == "cpu" and i.model), ""),
        "gpu_count": sum(1 for i in infos if i.component == "gpu"),
        "gpu_model": gpu_model_label(i.model for i in infos if i.component == "gpu"),
        "ram_total_size": facts["ram_total_size"],
        "hostname": facts["hostname"],
        **run.job,
    }
