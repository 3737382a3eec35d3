"""Hardware readers: NVML GPUs, RAPL and utilisation-model CPUs, modelled RAM (see :mod:`.base`)."""

from wattwatch.sensors.base import ENERGY, POWER, ChannelInfo, Reading, Sensor

__all__ = ["ENERGY", "POWER", "ChannelInfo", "Reading", "Sensor"]
