"""CodeCarbon's ``get_detected_hardware()``: what the tracker measures (or would measure), without starting it."""

from __future__ import annotations

from typing import Any

from wattwatch.sensors.base import ChannelInfo

__all__ = ["detected_hardware", "gpu_model_summary"]


def gpu_model_summary(infos: list[ChannelInfo]) -> str:
    """``"2 x NVIDIA H100 80GB HBM3"``-style summary of the GPU channels (CodeCarbon's ``gpu_model``)."""
    counts: dict[str, int] = {}
    for info in infos:
        if info.component == "gpu":
            name = info.model or "unknown GPU"
            counts[name] = counts.get(name, 0) + 1
    return ", ".join(f"{n} x {m}" for m, n in counts.items())


def _probe(tracker: Any) -> list[ChannelInfo]:
    """Channels of the sensors the tracker would open: its given sensors, else the GPUs NVML shows (opened
    and closed again); CPU and RAM are always there."""
    config = tracker.config
    if config.sensors is not None:
        return [info for sensor in config.sensors for info in sensor.describe()]
    from wattwatch.sensors.nvml import NvmlSensor

    probe = NvmlSensor(tracker.gpu_ids, library_path=config.nvml_library, environ=config.environ)
    try:
        return list(probe.describe())
    finally:
        probe.close()


def detected_hardware(tracker: Any) -> dict[str, Any]:
    """``ram_total_size`` (GB), ``cpu_count`` (logical), ``cpu_physical_count``, ``cpu_model``, ``gpu_count``,
    ``gpu_model``, ``gpu_ids``, as CodeCarbon's ``get_detected_hardware()`` returns them."""
    from pathlib import Path

    import psutil

    from wattwatch.sensors.cpuinfo import read_cpuinfo

    try:
        infos = list(tracker.channel_infos) if tracker.running else _probe(tracker)
    except Exception:  # noqa: BLE001 - a summary never raises: NVML absent or broken means no GPU listed
        infos = []
    gpus = [i for i in infos if i.component == "gpu"]
    cpu_model = next((i.model for i in infos if i.component == "cpu" and i.model), "")
    if not cpu_model:
        cpu_model = read_cpuinfo(Path(tracker.config.proc_root)).model_name
    return {
        "ram_total_size": psutil.virtual_memory().total / 1024**3,
        "cpu_count": psutil.cpu_count() or 0,
        "cpu_physical_count": psutil.cpu_count(logical=False) or 0,
        "cpu_model": cpu_model,
        "gpu_count": len(gpus),
        "gpu_model": gpu_model_summary(gpus),
        "gpu_ids": tracker.gpu_ids,
    }
