"""CPU package (and optionally DRAM) energy from Linux RAPL through the powercap sysfs tree.

``/sys/class/powercap`` lists every zone flat: ``intel-rapl:N`` (named ``package-N`` for a CPU package, or
``psys`` for the platform domain on client parts), ``intel-rapl:N:M`` (subzones ``core``, ``uncore``, ``dram``),
``intel-rapl-mmio:N`` (the same package exposed again through MMIO) and, on some kernels, ``amd-rapl:N``.

What is counted, and why:

- every distinct ``package-N`` once (channel ``cpu:package-N``): the ``intel-rapl`` zone is preferred over the
  ``intel-rapl-mmio`` one, which measures the same package;
- die zones (``package-N-die-M``, which the kernel creates when a package has several dies): on AMD the
  package energy MSR is per socket, so every die zone of a package reads the *same* counter and is counted once
  (channel ``cpu:package-N``); the same when all die counters of a package read the same value at discovery.
  Otherwise (Intel multi-die parts, with a counter per die) each die is its own channel
  ``cpu:package-N-die-M``;
- never ``psys`` nor anything below it: psys covers the packages (and more), so adding it would double count;
- ``dram`` subzones only when ``include_dram`` (channel ``ram:dram-N``, component ``ram``);
- ``core`` / ``uncore`` never: they are inside the package.

Each channel returns cumulative energy in **joules** (kind ``energy_j``, method ``counter``). The raw counter
(microjoules) wraps at ``max_energy_range_uj``; the sensor undoes it (one wrap per interval is exact with the
convention ``delta = new + max_energy_range_uj - old``), so the returned value never decreases. Two wraps between
reads cannot be seen, so :meth:`RaplSensor.describe` states ``max_read_interval_s``: half the time the counter
takes to wrap at the zone's highest rated power (``constraint_*_max_power_uw`` / ``constraint_*_power_limit_uw``
x 1.5, else :data:`ASSUMED_PEAK_W`); the sampler reads at least that often.

Since 2020 (CVE-2020-8694) ``energy_uj`` is readable by root only. When it cannot be read at construction the
sensor logs ONE warning that says how to grant read access and reports no channels; the caller falls back to a
utilisation model (see :mod:`wattwatch.sensors.host`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from wattwatch.sensors.base import ENERGY, ChannelInfo, Reading

__all__ = [
    "ASSUMED_PEAK_W",
    "DEFAULT_POWERCAP_ROOT",
    "PERMISSION_HINT",
    "RaplSensor",
    "RaplZone",
    "discover_zones",
]

ASSUMED_PEAK_W = 1000.0
"""Peak power (W) assumed for a zone that states no power constraint, to bound the read interval."""

DEFAULT_POWERCAP_ROOT = Path("/sys/class/powercap")

PERMISSION_HINT = (
    "grant read access with `sudo chmod -R a+r /sys/class/powercap/intel-rapl*` (until reboot), or permanently "
    'with a udev rule such as `SUBSYSTEM=="powercap", ACTION=="add", RUN+="/bin/chmod -R a+r /sys%p"` in '
    "/etc/udev/rules.d/99-powercap.rules"
)

_ZONE_RE = re.compile(r"^(intel-rapl|intel-rapl-mmio|amd-rapl):(\d+)(?::(\d+))?$")
_DIE_RE = re.compile(r"^package-(\d+)-die-(\d+)$")
# Preference when the same package appears under several control types: MSR-backed intel-rapl first.
_PREFERENCE = {"intel-rapl": 0, "amd-rapl": 1, "intel-rapl-mmio": 2}


def _read_text(path: Path) -> str:
    return path.read_text()


@dataclass(frozen=True)
class RaplZone:
    """One RAPL zone this sensor reads: ``channel`` (``cpu:package-0``), its sysfs ``path`` and counter range."""

    channel: str
    component: str  # "cpu" or "ram"
    zone: str  # directory name, e.g. "intel-rapl:0" or "intel-rapl:0:2"
    name: str  # the zone's `name` file, e.g. "package-0" or "dram"
    path: Path
    max_energy_range_uj: int
    peak_w: float = ASSUMED_PEAK_W
    """Highest power the zone is rated for (W), from its constraint files (else :data:`ASSUMED_PEAK_W`)."""

    @property
    def max_read_interval_s(self) -> float:
        """Half the seconds the counter takes to wrap at ``peak_w``: reading this often sees every wrap."""
        return self.max_energy_range_uj / 1e6 / self.peak_w / 2.0


def _zone_sort_key(match: re.Match[str]) -> tuple[int, int, int]:
    sub = match.group(3)
    return (_PREFERENCE[match.group(1)], int(match.group(2)), -1 if sub is None else int(sub))


def discover_zones(
    root: Path = DEFAULT_POWERCAP_ROOT,
    include_dram: bool = False,
    reader: Callable[[Path], str] = _read_text,
    *,
    dies_mirror: bool | None = None,
) -> list[RaplZone]:
    """The zones to read under ``root``: distinct packages (and their dram subzones when ``include_dram``).

    Unreadable ``name`` / ``max_energy_range_uj`` files (a zone the kernel half-exposes) drop that zone.
    ``dies_mirror``: ``True`` (AMD) counts the die zones of a package once, ``False`` each on its own, ``None``
    decides per package: once when all its die counters read the same value now.
    """
    if not root.is_dir():
        return []
    matches = [m for m in (_ZONE_RE.match(p.name) for p in root.iterdir()) if m is not None]
    matches.sort(key=_zone_sort_key)
    names: dict[str, str] = {}
    for m in matches:
        try:
            names[m.group(0)] = reader(root / m.group(0) / "name").strip()
        except OSError:
            continue

    zones: list[RaplZone] = []
    seen: set[str] = set()
    for m in matches:
        zone_dir, control, top, sub = m.group(0), m.group(1), m.group(2), m.group(3)
        name = names.get(zone_dir)
        if name is None:
            continue
        parent_name = names.get(f"{control}:{top}")
        if sub is None:
            if not name.startswith("package-"):
                continue  # psys (covers the packages) or anything unknown at the top level
            channel, component = f"cpu:{name}", "cpu"
        else:
            if (
                not include_dram
                or name != "dram"
                or parent_name is None
                or not parent_name.startswith("package-")
            ):
                continue  # core / uncore (inside the package), psys children, dram not asked for
            channel, component = f"ram:dram-{parent_name.removeprefix('package-')}", "ram"
        if channel in seen:
            continue  # the same package through intel-rapl-mmio (or a second control type)
        try:
            max_uj = int(reader(root / zone_dir / "max_energy_range_uj").strip())
        except (OSError, ValueError):
            continue
        seen.add(channel)
        zones.append(
            RaplZone(
                channel, component, zone_dir, name, root / zone_dir, max_uj, _peak_w(root / zone_dir, reader)
            )
        )
    return _merge_mirrored_dies(zones, reader, dies_mirror)


def _merge_mirrored_dies(
    zones: list[RaplZone], reader: Callable[[Path], str], dies_mirror: bool | None
) -> list[RaplZone]:
    """Keep one zone (the lowest die, as channel ``cpu:package-N``) per package whose die zones mirror one
    counter; see :func:`discover_zones`."""
    dies: dict[str, list[RaplZone]] = {}
    for z in zones:
        m = _DIE_RE.match(z.name)
        if z.component == "cpu" and m:
            dies.setdefault(m.group(1), []).append(z)
    drop: set[str] = set()
    rename: dict[str, str] = {}
    for package, group in dies.items():
        mirror = dies_mirror
        if mirror is None:
            values = set()
            for z in group:
                try:
                    values.add(reader(z.path / "energy_uj").strip())
                except OSError:
                    values.add(f"unreadable:{z.zone}")
            mirror = len(group) > 1 and len(values) == 1
        if mirror or len(group) == 1:
            group.sort(key=lambda z: int(_DIE_RE.match(z.name).group(2)))  # type: ignore[union-attr]
            rename[group[0].channel] = f"cpu:package-{package}"
            drop.update(z.channel for z in group[1:])
    out = []
    for z in zones:
        if z.channel in drop:
            continue
        if z.channel in rename:
            z = RaplZone(
                rename[z.channel], z.component, z.zone, z.name, z.path, z.max_energy_range_uj, z.peak_w
            )
        out.append(z)
    return out


def _peak_w(zone_dir: Path, reader: Callable[[Path], str]) -> float:
    """The zone's highest rated power (W): max_power, else 1.5 x the largest power limit, else the assumption."""
    rated: list[float] = []
    limits: list[float] = []
    try:
        files = sorted(zone_dir.glob("constraint_*_max_power_uw")) + sorted(
            zone_dir.glob("constraint_*_limit_uw")
        )
    except OSError:
        files = []
    for path in files:
        try:
            value = int(reader(path).strip()) / 1e6
        except (OSError, ValueError):
            continue
        if value > 0:
            (rated if path.name.endswith("max_power_uw") else limits).append(value)
    if rated:
        return max(rated)
    if limits:
        return 1.5 * max(limits)
    return ASSUMED_PEAK_W


def _is_amd(cpu_model: str) -> bool:
    return cpu_model.strip().lower().startswith("amd")


class RaplSensor:
    """Cumulative CPU package (and optionally DRAM) energy in joules from RAPL counters.

    ``root`` is the powercap class directory; ``reader`` reads one sysfs file (tests pass one that raises
    ``PermissionError`` to play a non-root user, since root reads even ``chmod 000`` files). ``cpu_model`` is
    only copied into :meth:`describe`. After construction, ``unavailable_reason`` says why there are no channels
    (``None`` when there are some).
    """

    def __init__(
        self,
        root: Path = DEFAULT_POWERCAP_ROOT,
        include_dram: bool = False,
        logger: logging.Logger | None = None,
        *,
        reader: Callable[[Path], str] = _read_text,
        cpu_model: str = "",
    ) -> None:
        self._root = Path(root)
        self._log = logger or logging.getLogger(__name__)
        self._reader = reader
        self._cpu_model = cpu_model
        self._zones: list[RaplZone] = []
        self._last_raw: dict[str, int] = {}
        self._total_uj: dict[str, int] = {}
        self._failed: set[str] = set()
        self._warned: set[str] = set()
        self.unavailable_reason: str | None = None

        zones = discover_zones(
            self._root, include_dram, reader, dies_mirror=True if _is_amd(cpu_model) else None
        )
        if not zones:
            self.unavailable_reason = f"no RAPL package zone under {self._root}"
            return
        denied: list[str] = []
        for zone in zones:
            try:
                raw = self._read_raw(zone)
            except PermissionError:
                denied.append(zone.zone)
                continue
            except (OSError, ValueError) as exc:
                self._log.warning("RAPL zone %s unreadable (%s); skipping it", zone.path, exc)
                continue
            self._zones.append(zone)
            self._last_raw[zone.channel] = raw
            self._total_uj[zone.channel] = raw
        if denied:
            # Partial access would silently undercount: all or nothing.
            self._zones, self._last_raw, self._total_uj = [], {}, {}
            self.unavailable_reason = (
                f"permission denied reading RAPL energy_uj under {self._root} "
                f"(zones {', '.join(denied)}; root-only since CVE-2020-8694)"
            )
            self._log.warning(
                "wattwatch cannot read CPU energy counters: %s. To measure CPU energy instead of modelling it, %s.",
                self.unavailable_reason,
                PERMISSION_HINT,
            )
        elif not self._zones:
            self.unavailable_reason = f"no readable RAPL zone under {self._root}"

    def _read_raw(self, zone: RaplZone) -> int:
        return int(self._reader(zone.path / "energy_uj").strip())

    @property
    def zones(self) -> list[RaplZone]:
        """The zones read, in channel order."""
        return list(self._zones)

    def channels(self) -> list[str]:
        return [z.channel for z in self._zones]

    def describe(self) -> list[ChannelInfo]:
        return [
            ChannelInfo(
                channel=z.channel,
                component="cpu" if z.component == "cpu" else "ram",
                method="counter",
                model=self._cpu_model,
                details={
                    "zone": z.zone,
                    "name": z.name,
                    "max_energy_range_uj": z.max_energy_range_uj,
                    "peak_w": z.peak_w,
                    "max_read_interval_s": z.max_read_interval_s,
                    "slice": "machine",  # a package counter counts every process on the package
                },
            )
            for z in self._zones
        ]

    def read(self, t: float) -> dict[str, Reading]:
        """Cumulative joules per readable channel; an unreadable counter leaves its channel out (a gap)."""
        out: dict[str, Reading] = {}
        for zone in self._zones:
            ch = zone.channel
            try:
                raw = self._read_raw(zone)
            except (OSError, ValueError) as exc:
                if ch not in self._failed:
                    self._failed.add(ch)
                    level = logging.DEBUG if ch in self._warned else logging.WARNING
                    self._warned.add(ch)
                    self._log.log(level, "RAPL counter %s unreadable (%s); recording a gap", zone.path, exc)
                continue
            if ch in self._failed:
                self._failed.discard(ch)
                self._log.debug("RAPL counter %s readable again", zone.path)
            last = self._last_raw[ch]
            delta = raw - last
            if delta < 0:  # wrapped (once; more wraps within one interval cannot be seen)
                delta += zone.max_energy_range_uj
            self._last_raw[ch] = raw
            self._total_uj[ch] += max(delta, 0)
            out[ch] = Reading(self._total_uj[ch] / 1e6, ENERGY)
        return out

    def close(self) -> None:
        """Nothing to release: sysfs files are opened per read."""
