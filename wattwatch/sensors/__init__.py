"""Hardware readers behind the :class:`~.base.Sensor` contract (see :mod:`.base`).

- GPUs: :mod:`.nvml` (NVIDIA; :mod:`.nvml_devices` finds and selects them, :mod:`.nvml_share` cuts a shared
  board to the run's share by :mod:`.gpu_share`'s rules), :mod:`.amd` (AMD through amdsmi; :mod:`.amd_library`,
  :mod:`.amd_devices`, :mod:`.amd_packages`), :mod:`.hwmon` (through the kernel), :mod:`.gpu_common`;
- CPU and RAM: :mod:`.rapl`, :mod:`.cpu` (utilisation model), :mod:`.ram`, :mod:`.host` (which of them a host
  gets), :mod:`.cpuinfo` + :mod:`.tdp_index` (TDP table), :mod:`.vm` and :mod:`.cgroup` (slices of a host),
  :mod:`.sysinfo`, :mod:`.usage` (utilisation means).
"""

from wattwatch.sensors.base import ENERGY, POWER, ChannelInfo, Reading, Sensor

__all__ = ["ENERGY", "POWER", "ChannelInfo", "Reading", "Sensor"]
